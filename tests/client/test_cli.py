"""The `predq` command against a real local stack: progress on a terminal and in a pipe, exit codes."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import pytest

from scripts.embedded_redis import free_port
from scripts.stack import LocalStack
from tests.client.conftest import paused_workers
from tests.client.data import assert_results, expected, iris_rows, read_back, write_csv
from tests.client.terminal import PREDQ, Terminal, predq_env, run_piped

pytestmark = pytest.mark.integration


def test_submit_on_a_terminal_shows_bars_with_rows_per_second_and_eta(client_stack: LocalStack, stack_models: Path,
                                                                        tmp_path: Path) -> None:
    X = iris_rows(1000)
    write_csv(tmp_path / "data.csv", X)
    term = Terminal(["submit", "data.csv", "--model", "iris", "--wait", "--out", "predictions.parquet"],
                    client_stack.base_url, cwd=tmp_path)
    code = term.finish()
    assert code == 0, term.text
    assert "\x1b[" in term.raw.decode()  # a terminal gets rich's redrawn bars
    assert "uploading data.csv" in term.text and "kB" in term.text  # the upload bar counts bytes
    job_lines = [line for line in term.text.splitlines() if "rows succeeded" in line]
    assert job_lines, term.text
    assert "1000/1000" in job_lines[-1] and "rows/s" in job_lines[-1] and "ETA 0:00:00" in job_lines[-1]
    assert "wrote 1,000 results to predictions.parquet" in term.text
    version = json.loads(run_piped(["status", _job_id(term.text), "--json"], client_stack.base_url).stdout)
    want = expected(stack_models, version["model"]["version"], "predict", X)
    assert_results(read_back(tmp_path / "predictions.parquet", "parquet"), want)


def test_submit_piped_prints_plain_lines(client_stack: LocalStack, stack_models: Path, tmp_path: Path) -> None:
    X = iris_rows(400)
    write_csv(tmp_path / "data.csv", X)
    ran = run_piped(["submit", "data.csv", "--model", "iris", "--wait", "--out", "out.ndjson"],
                    client_stack.base_url, cwd=tmp_path)
    assert ran.code == 0, ran.stderr
    assert "\x1b" not in ran.stdout + ran.stderr and "\r" not in ran.stderr
    lines = ran.stderr.splitlines()
    assert any(line.startswith("uploading data.csv: ") and "(100%)" in line for line in lines), ran.stderr
    final = [line for line in lines if line.startswith("job ") and ": succeeded, 400/400 rows" in line]
    assert final and "rows/s" in final[-1] and "ETA 0:00:00" in final[-1], ran.stderr
    assert ran.stdout.startswith("job ") and " succeeded: 400/400 rows" in ran.stdout
    job = json.loads(run_piped(["status", _job_id(ran.stdout), "--json"], client_stack.base_url).stdout)
    assert_results(read_back(tmp_path / "out.ndjson", "ndjson"),
                   expected(stack_models, job["model"]["version"], "predict", X))


def test_results_to_stdout_status_jobs_and_models(client_stack: LocalStack, stack_models: Path, tmp_path: Path) -> None:
    X = iris_rows(250)
    submitted = run_piped(["submit", str(write_csv(tmp_path / "d.csv", X)), "--model", "iris", "--json"],
                          client_stack.base_url)
    assert submitted.code == 0, submitted.stderr
    job_id = json.loads(submitted.stdout)["job_id"]
    waited = run_piped(["wait", job_id, "--json"], client_stack.base_url)
    assert waited.code == 0 and json.loads(waited.stdout)["status"] == "succeeded"
    csv_out = run_piped(["results", job_id], client_stack.base_url)
    assert csv_out.code == 0 and csv_out.stdout.splitlines()[0] == "prediction"
    want = expected(stack_models, json.loads(waited.stdout)["model"]["version"], "predict", X)
    assert csv_out.stdout.splitlines()[1:] == want
    listed = run_piped(["jobs", "--json", "--limit", "500"], client_stack.base_url)
    assert job_id in {job["job_id"] for job in json.loads(listed.stdout)}
    models = run_piped(["models"], client_stack.base_url)
    assert models.code == 0 and "iris (default)" in models.stdout


def test_ctrl_c_while_waiting_asks_and_cancels(client_stack: LocalStack, tmp_path: Path) -> None:
    write_csv(tmp_path / "data.csv", iris_rows(500))
    with paused_workers(client_stack):  # the job cannot move: Ctrl-C surely comes while it waits
        term = Terminal(["submit", "data.csv", "--model", "iris", "--wait", "--out", "out.csv"],
                        client_stack.base_url, cwd=tmp_path)
        term.read_until("rows queued")
        term.interrupt()
        term.read_until("Cancel job")
        term.type("y\n")
        code = term.finish()
    assert code == 3, term.text
    assert "cancelled" in term.text and "Traceback" not in term.text
    assert not (tmp_path / "out.csv").exists() and list(tmp_path.glob("*.partial")) == []


def test_ctrl_c_answered_no_leaves_the_job_running(client_stack: LocalStack, predq_job_url: str) -> None:
    job_id, url = predq_job_url.rsplit(" ", 1)
    with paused_workers(client_stack):
        term = Terminal(["wait", job_id], url)
        term.read_until("rows queued")
        term.interrupt()
        term.read_until("Cancel job")
        term.type("n\n")
        code = term.finish()
        status = json.loads(run_piped(["status", job_id, "--json"], url).stdout)["status"]
        run_piped(["cancel", job_id], url)
    assert code == 130 and "goes on" in term.text and status == "queued"


@pytest.fixture
def predq_job_url(client_stack: LocalStack) -> str:
    with paused_workers(client_stack):
        ran = run_piped(["submit", "-", "--format", "csv", "--model", "iris", "--json"], client_stack.base_url,
                        stdin=b"sepal_length,sepal_width,petal_length,petal_width\n5.1,3.5,1.4,0.2\n")
    assert ran.code == 0, ran.stderr
    return f"{json.loads(ran.stdout)['job_id']} {client_stack.base_url}"


def test_exit_codes(client_stack: LocalStack, tmp_path: Path) -> None:
    url = client_stack.base_url
    missing = run_piped(["submit", str(tmp_path / "nope.csv"), "--model", "iris"], url)
    assert missing.code == 2 and "does not exist" in missing.stderr
    write_csv(tmp_path / "ok.csv", iris_rows(3))
    unknown = run_piped(["submit", str(tmp_path / "ok.csv"), "--model", "no-such-model"], url)
    assert unknown.code == 4 and "404" in unknown.stderr and "no-such-model" in unknown.stderr
    unreachable = run_piped(["--retry-seconds", "0", "models"], f"http://127.0.0.1:{free_port()}")
    assert unreachable.code == 5 and "cannot connect" in unreachable.stderr
    usage = run_piped(["submit", "--model", "iris"], url)
    assert usage.code == 2
    for ran in (missing, unknown, unreachable, usage):
        assert "Traceback" not in ran.stderr


def test_a_refused_body_prints_its_errors_as_a_table(client_stack: LocalStack, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("sepal_length,sepal_width,petal_length,petal_width\n5.1,3.5,1.4,0.2\n6.7,abc,5.2,2.3\n")
    ran = run_piped(["submit", str(bad), "--model", "iris", "--wait", "--out", str(tmp_path / "out.csv")],
                    client_stack.base_url)
    assert ran.code == 4, ran.stderr
    lines = ran.stderr.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split() == ["row", "column", "message"])
    assert lines[header + 1].split()[:2] == ["1", "sepal_width"], ran.stderr
    assert not (tmp_path / "out.csv").exists() and "Traceback" not in ran.stderr


def _job_id(text: str) -> str:
    return next(word for line in text.splitlines() if line.startswith("job ") for word in line.split()[1:2]
                if len(word) == 32)


def test_ctrl_c_during_the_upload_names_the_key_to_retry_with(client_stack: LocalStack) -> None:
    rows = b"sepal_length,sepal_width,petal_length,petal_width\n" + b"5.1,3.5,1.4,0.2\n" * 80_000  # > 1 MB
    proc = subprocess.Popen([PREDQ, "submit", "-", "--format", "csv", "--model", "iris"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=predq_env(client_stack.base_url))
    assert proc.stdin is not None and proc.stderr is not None
    proc.stdin.write(rows)  # the first block goes out; the command then waits for more of stdin
    proc.stdin.flush()
    first = proc.stderr.readline().decode()
    assert first.startswith("uploading stdin: "), first
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "--idempotency-key " in err.decode() and "Traceback" not in err.decode()


def test_jobs_by_reference_are_refused_with_the_services_problem(client_stack: LocalStack) -> None:
    ran = run_piped(["submit", "--uri", "s3://predq-client-tests/rows.parquet", "--model", "iris", "--json"],
                    client_stack.base_url)
    assert ran.code == 4 and json.loads(ran.stdout)["status"] in (400, 422) and "Traceback" not in ran.stderr
