"""Structured logs from real processes: every line JSON, a job's lines carry its id, the request id goes
from the client's header into the worker's chunk lines, and a malformed LOG_LEVEL stops each process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scripts.stack import LocalStack
from shared.settings import REPO_ROOT
from tests.integration.support import Api, start_stack, wait_for

pytestmark = pytest.mark.integration

API_KEY = "log-test-key-do-not-print"
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def log_stack(stack_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """Redis, the API and one worker logging JSON at DEBUG, with 2-row chunks and an API key."""
    env = {"LOG_LEVEL": "DEBUG", "LOG_FORMAT": "json", "CHUNK_ROWS": "2", "API_KEYS": API_KEY}
    with start_stack(LocalStack(workers=1, env=env, model_dir=str(stack_model_dir), api_workers=1,
                                log_dir=str(tmp_path_factory.mktemp("log-stack")))) as running:
        yield running


@pytest.fixture(scope="module")
def log_api(log_stack: LocalStack) -> Iterator[Api]:
    with Api(log_stack.base_url, API_KEY) as client:
        yield client


def records(stack: LocalStack) -> list[tuple[str, dict[str, Any]]]:
    """(file, record) for every line the stack's processes wrote; a line that is not a JSON object fails."""
    out = []
    for path in sorted(stack.log_dir.glob("*.log")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:
                raise AssertionError(f"{path.name}:{number} is not JSON: {line[:200]}") from None
            assert isinstance(record, dict), f"{path.name}:{number} is not a JSON object"
            out.append((path.name, record))
    return out


def test_request_id_is_taken_returned_and_carried_into_chunk_logs(log_stack: LocalStack, log_api: Api) -> None:
    answer = log_api.post("/jobs", json={"instances": [[5.1, 3.5, 1.4, 0.2]] * 5},
                          headers={"X-Request-ID": "client-req-42"})
    assert answer.status_code == 202
    assert answer.headers["X-Request-ID"] == "client-req-42"
    job = log_api.wait(answer.json()["job_id"])
    assert job["status"] == "succeeded"
    job_id = job["job_id"]

    def ended() -> list[dict[str, Any]]:
        return [r for _, r in records(log_stack) if r.get("job_id") == job_id and r["message"] == "job succeeded"]

    wait_for(ended, 30, "the worker's 'job succeeded' line")
    lines = [(name, r) for name, r in records(log_stack) if job_id in json.dumps(r)]
    for name, record in lines:
        assert record.get("job_id") == job_id, f"{name}: a line about the job without its job_id: {record}"
    by_message = {r["message"]: r for _, r in lines}
    accepted = by_message["job accepted"]
    assert (accepted["request_id"], accepted["model"], accepted["rows"]) == ("client-req-42", "iris", 5)
    assert len(accepted["api_key_id"]) == 12
    started = by_message["job started"]
    chunks = [r for _, r in lines if r["message"].startswith("chunk ") and r["level"] == "DEBUG"]
    assert sorted(r["chunk"] for r in chunks) == [0, 1, 2]
    for record in [started, *chunks, ended()[0]]:
        assert record["request_id"] == "client-req-42", record
        assert record["api_key_id"] == accepted["api_key_id"] and record["model"] == "iris", record
    done = ended()[0]
    assert done["rows"] == 5 and done["duration_s"] >= 0 and done["rows_per_second"] > 0
    post = [r for _, r in lines if r.get("route") == "/jobs" and r.get("method") == "POST"]
    assert post and post[0]["status"] == 202 and post[0]["duration_ms"] >= 0
    polls = [r for _, r in lines if r.get("route") == "/jobs/<job_id>"]
    assert polls and all(r["status"] == 200 for r in polls)


def test_a_request_without_a_usable_id_gets_one(log_api: Api) -> None:
    made = log_api.get("/models").headers["X-Request-ID"]
    replaced = log_api.get("/models", headers={"X-Request-ID": "not a usable id\t!"}).headers["X-Request-ID"]
    assert len(made) == 32 and len(replaced) == 32 and made != replaced
    assert log_api.get("/healthz", headers={"X-Request-ID": "abc.def-1"}).headers["X-Request-ID"] == "abc.def-1"


def test_every_line_is_json_and_no_line_holds_the_key(log_stack: LocalStack, log_api: Api) -> None:
    assert log_api.get("/jobs/0000/results").status_code == 404
    lines = records(log_stack)
    assert {name for name, _ in lines} >= {"api.log", "worker-w1.log"}
    assert all(API_KEY not in json.dumps(r) for _, r in lines)
    assert all({"time", "level", "logger", "message"} <= set(r) for _, r in lines)


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=REPO_ROOT, env={**os.environ, "PYTHONPATH": str(REPO_ROOT), **env},
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("process", ["worker", "api"])
def test_a_malformed_log_level_stops_the_process_naming_it(process: str) -> None:
    if process == "worker":
        args = [str(BIN / "celery"), "--app", "worker", "worker", "--concurrency", "1"]
    else:
        args = [str(BIN / "gunicorn"), "api:create_app()", "--config", "gunicorn.conf.py", "--bind", "127.0.0.1:0"]
    done = run(args, {"LOG_LEVEL": "LOUD", "REDIS_URL": "redis://127.0.0.1:1/0"})
    assert done.returncode != 0
    assert "LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL; got 'LOUD'" in done.stderr + done.stdout
