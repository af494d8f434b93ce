"""`make bench` (third part): predq beside MLflow's scoring server, on the same bytes, side by side in one run.

The bodies are those of the peer benchmark: 200,000 rows × 20 features from `make_classification`, every
number written with 17 significant digits (full precision), as CSV, JSON and Parquet. Both servers get the
same CSV and Parquet bytes and the same number text in JSON, each in its own JSON shape: predq
`{"model": ..., "instances": [[...], ...]}`; MLflow both `{"instances": [[...], ...]}` and
`{"dataframe_split": {"columns": [...], "data": [[...], ...]}}`, its better one counting.

- MLflow runs from its own virtualenv (.venv-mlflow, made from scripts/requirements-mlflow.txt by
  `make mlflow-venv`): the same fitted estimators, saved with `mlflow.sklearn.save_model` into a temporary
  directory, served by `mlflow models serve --env-manager local -w 2` (uvicorn, two worker processes). One
  request carries the whole body; the time runs from its first byte to the parsed predictions.
- predq is the local stack with two workers: POST /jobs, long-poll, download every result (paged JSON),
  through predq_client, from the POST's first byte to the last result's.

Each figure is the best of `--repeats` rounds; a round takes every figure of a model and format once (predq,
MLflow, and for bench-forest CSV and JSON the two-core limit: two processes, each parsing half of the rows
and predicting, scripts/bench_limit.py), so that all of them meet the same moods of a shared machine. Before
them, one unmeasured run of a small body per server, model and format loads the model, and lets predq's
workers measure its cost per row, from which later jobs' chunks are sized. It prints figures and ratios, the
load average at the start, with each figure and at the end, and one JSON line; it asserts nothing.

    python -m scripts.bench_mlflow [--rows 200000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import httpx
import joblib
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from predq_client import Client
from predq_client.bodies import bytes_body
from sklearn.datasets import make_classification

from scripts.bench import STACK_ENV
from scripts.bench_churn import load_model
from scripts.bench_limit import FEATURES, two_core_limit
from scripts.cpu_seconds import self_seconds, tree_seconds
from scripts.embedded_redis import free_port
from scripts.stack import LocalStack, stop_process
from shared.settings import REPO_ROOT

MODELS = ("bench-logreg", "bench-forest")
FORMATS = ("csv", "json", "parquet")
CONTENT_TYPES = {"csv": "text/csv", "json": "application/json", "parquet": "application/vnd.apache.parquet"}
MLFLOW_VENV = REPO_ROOT / ".venv-mlflow"
MLFLOW_WORKERS = 2
RESULT_PAGE_ROWS = 100_000
HTTP_TIMEOUT = 600.0
T = TypeVar("T")
TWO_CORE_LIMITS = (("bench-forest", "csv"), ("bench-forest", "json"))
"""The two-core limit is measured where the issue asks for it: bench-forest, CSV and JSON bodies."""


def peer_rows(n_rows: int, seed: int = 1) -> np.ndarray:
    X, _ = make_classification(n_samples=n_rows, n_features=20, random_state=seed)
    return np.asarray(X, dtype=np.float64)


def number_lines(X: np.ndarray) -> list[bytes]:
    """Each row's numbers with 17 significant digits, comma-separated: the text every text body shares."""
    out = io.BytesIO()
    np.savetxt(out, X, fmt="%.17g", delimiter=",")
    return out.getvalue().splitlines()


def csv_body(lines: list[bytes]) -> bytes:
    return (",".join(FEATURES) + "\n").encode() + b"\n".join(lines) + b"\n"


def json_body(lines: list[bytes], model: str | None) -> bytes:
    """`{"instances": [[...], ...]}` with the lines' number text; predq's also names the model."""
    head = b'{"model":"' + model.encode() + b'","instances":[' if model else b'{"instances":['
    return head + b",".join(b"[" + line + b"]" for line in lines) + b"]}"


def dataframe_split_body(lines: list[bytes]) -> bytes:
    """MLflow's `{"dataframe_split": {"columns": [...], "data": [[...], ...]}}` with the lines' number text."""
    columns = ",".join(f'"{name}"' for name in FEATURES).encode()
    return (b'{"dataframe_split":{"columns":[' + columns + b'],"data":['
            + b",".join(b"[" + line + b"]" for line in lines) + b"]}}")


def parquet_body(X: np.ndarray) -> bytes:
    out = io.BytesIO()
    pq.write_table(pa.table({name: X[:, j] for j, name in enumerate(FEATURES)}), out)
    return out.getvalue()


class Rows:
    """The benchmark's rows and their 17-digit text, written once."""

    def __init__(self, X: np.ndarray, lines: list[bytes] | None = None) -> None:
        self.X = X
        self.lines = lines if lines is not None else number_lines(X)

    def __len__(self) -> int:
        return len(self.X)

    def __getitem__(self, rows: slice) -> Rows:
        return Rows(self.X[rows], self.lines[rows])


def bodies(rows: Rows, model: str) -> dict[str, tuple[bytes, dict[str, bytes]]]:
    """format -> (predq's body, MLflow's bodies by shape): the same bytes but for the JSON shapes."""
    X, lines = rows.X, rows.lines
    csv, parquet = csv_body(lines), parquet_body(X)
    return {"csv": (csv, {"csv": csv}),
            "json": (json_body(lines, model), {"instances": json_body(lines, None),
                                               "dataframe_split": dataframe_split_body(lines)}),
            "parquet": (parquet, {"parquet": parquet})}


class MLflowServer:
    """`mlflow models serve` of one scikit-learn estimator, from .venv-mlflow, in its own process group."""

    def __init__(self, estimator: Any, workdir: Path, name: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = workdir / f"mlflow-{name}.log"
        dumped, self.model_dir = workdir / f"{name}.joblib", workdir / f"mlflow-{name}"
        joblib.dump(estimator, dumped)
        subprocess.run([str(MLFLOW_VENV / "bin" / "python"), str(REPO_ROOT / "scripts" / "mlflow_model.py"),
                        str(dumped), str(self.model_dir)], check=True, capture_output=True)
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> MLflowServer:
        env = {**os.environ, "PATH": f"{MLFLOW_VENV / 'bin'}:{os.environ.get('PATH', '')}",
               "MLFLOW_TRACKING_URI": f"file://{self.model_dir.parent / 'mlruns'}"}
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [str(MLFLOW_VENV / "bin" / "mlflow"), "models", "serve", "-m", str(self.model_dir), "--env-manager",
                 "local", "-w", str(MLFLOW_WORKERS), "-h", "127.0.0.1", "-p", str(self.port)],
                env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mlflow models serve exited; see {self.log}")
            try:
                if httpx.get(self.url + "/ping", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"MLflow's server was not ready within 120 s; see {self.log}")

    @property
    def pid(self) -> int:
        """The `mlflow models serve` process: its uvicorn workers are its descendants."""
        if self.proc is None:
            raise RuntimeError("the MLflow server is not running")
        return self.proc.pid

    def __exit__(self, *_: object) -> None:
        if self.proc is not None:
            stop_process(self.proc)


def mlflow_run(http: httpx.Client, fmt: str, body: bytes) -> tuple[float, list[Any]]:
    """Seconds from the POST's first byte to the parsed predictions, and the predictions."""
    started = time.perf_counter()
    answer = http.post("/invocations", content=bytes_body(body, fmt).chunks(),  # uploaded as predq_client does
                       headers={"Content-Type": CONTENT_TYPES[fmt], "Content-Length": str(len(body))})
    if answer.status_code != 200:
        raise RuntimeError(f"MLflow answered {answer.status_code}: {answer.text[:300]}")
    predictions = answer.json()["predictions"]
    return time.perf_counter() - started, predictions


def predq_run(predq: Client, model: str, fmt: str, body: bytes) -> tuple[float, list[Any]]:
    """Seconds from the POST's first byte to the last result downloaded, and the results."""
    phases, results = predq_phases(predq, model, fmt, body)
    return sum(phases), results


def predq_phases(predq: Client, model: str, fmt: str, body: bytes) -> tuple[tuple[float, float, float], list[Any]]:
    """A job's seconds in three steps (the POST until its 202, the long-poll until the job is done, every result
    downloaded as paged JSON), and the results."""
    started = time.perf_counter()
    job_id = predq.submit(body, format=fmt, model=model, idempotent=False).job_id
    accepted = time.perf_counter()
    job = predq.wait(job_id)
    if job.status != "succeeded":
        raise RuntimeError(f"job {job.job_id} ended {job.status}")
    done = time.perf_counter()
    results = list(predq.results(job.job_id, page_rows=RESULT_PAGE_ROWS))
    return (accepted - started, done - accepted, time.perf_counter() - done), results


def stack_roles(stack: LocalStack) -> dict[str, list[int]]:
    """The stack's processes by role, for `tree_seconds` (Redis only when the stack started its own)."""
    redis = stack.redis.process if stack.redis else None
    return {"api": [stack.api.pid] if stack.api else [], "workers": [p.pid for p in stack.worker_procs],
            **({"redis": [redis.pid]} if redis else {})}


def with_cpu(roles: dict[str, list[int]], run: Callable[[], T]) -> tuple[T, dict[str, float]]:
    """`run()`'s answer, and the CPU seconds each role's processes (and this client) spent meanwhile."""
    before, own = tree_seconds(roles), self_seconds()
    answer = run()
    after, own_after = tree_seconds(roles), self_seconds()
    return answer, {**{role: round(after[role] - before[role], 3) for role in roles},
                    "client": round(own_after - own, 3)}


def least(runs: list[dict[str, float]]) -> dict[str, float]:
    """The run that spent the least CPU in all (the one least disturbed by the rest of the machine)."""
    return min(runs, key=lambda used: sum(used.values()))


def labels(results: list[Any]) -> list[Any]:
    return [r["prediction"] if isinstance(r, dict) else r for r in results]


def load() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


def halves(rows: Rows, model: str, fmt: str) -> tuple[bytes, bytes]:
    """predq bodies of the two halves of the rows, in the same number text."""
    middle = len(rows) // 2
    return bodies(rows[:middle], model)[fmt][0], bodies(rows[middle:], model)[fmt][0]


def warm(predq: Client, http: httpx.Client, name: str, X: Rows) -> None:
    """One unmeasured run per format on each server: models loaded, predq's chunk sizer told the model's cost."""
    for fmt, (ours, theirs) in bodies(X, name).items():
        predq_run(predq, name, fmt, ours)
        for body in theirs.values():
            mlflow_run(http, fmt, body)


def compare(stack: LocalStack, workdir: Path, X: Rows, repeats: int) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    with Client(stack.base_url, timeout=HTTP_TIMEOUT) as predq:
        for name in MODELS:
            estimator = load_model(stack.model_dir, name)
            with MLflowServer(estimator, workdir, name) as mlflow, \
                    httpx.Client(base_url=mlflow.url, timeout=HTTP_TIMEOUT) as http:
                warm(predq, http, name, X[:20_000])
                for fmt, (ours, theirs) in bodies(X, name).items():
                    predq_times: list[float] = []
                    mlflow_times: dict[str, list[float]] = {shape: [] for shape in theirs}
                    limits: list[float] = []
                    parts = halves(X, name, fmt) if (name, fmt) in TWO_CORE_LIMITS else None
                    cpu: dict[str, list[dict[str, float]]] = {"predq": [], **{shape: [] for shape in theirs}}
                    for _ in range(repeats):  # each round takes every figure once: they share the machine's moods
                        (seconds, ours_back), used = with_cpu(stack_roles(stack),
                                                              partial(predq_run, predq, name, fmt, ours))
                        predq_times.append(seconds)
                        cpu["predq"].append(used)
                        for shape, body in theirs.items():
                            (seconds, theirs_back), used = with_cpu(
                                {"server": [mlflow.pid]}, partial(mlflow_run, http, fmt, body))
                            mlflow_times[shape].append(seconds)
                            cpu[shape].append(used)
                            if len(theirs_back) != len(X):
                                raise RuntimeError(f"{name} {shape}: {len(theirs_back)} rows from MLflow for {len(X)}")
                        if parts is not None:
                            limits.append(two_core_limit(estimator, fmt, parts, len(X), 1))
                    if len(ours_back) != len(X):
                        raise RuntimeError(f"{name} {fmt}: {len(ours_back)} rows from predq for {len(X)}")
                    same = float(np.mean(np.asarray(labels(ours_back)) == np.asarray(theirs_back)))
                    shape = min(mlflow_times, key=lambda s: min(mlflow_times[s]))
                    ours_rate, theirs_rate = len(X) / min(predq_times), len(X) / min(mlflow_times[shape])
                    key = f"{name}.{fmt}"
                    figures[key] = {"predq_rows_per_s": round(ours_rate), "mlflow_rows_per_s": round(theirs_rate),
                                    "ratio": round(ours_rate / theirs_rate, 2), "mlflow_body": shape,
                                    "mlflow_rows_per_s_by_body": {s: round(len(X) / min(t))
                                                                  for s, t in mlflow_times.items()},
                                    "same_predictions": same, "body_mb": round(len(ours) / 1e6, 1), "load": load()}
                    print(f"{key:<22} predq {ours_rate:>10,.0f} rows/s   MLflow {theirs_rate:>10,.0f} rows/s "
                          f"({shape})   predq/MLflow {ours_rate / theirs_rate:5.2f}   body {len(ours) / 1e6:5.1f} MB"
                          f"   same predictions {same:.0%}   load {load()[0]}", flush=True)
                    used_by = {"predq": least(cpu["predq"]), "mlflow": least(cpu[shape])}  # MLflow's better body
                    figures[key]["cpu_seconds_per_job"] = used_by
                    print(f"{'':<22} CPU s per job (least of the runs): "
                          + "   ".join(f"{side} " + " + ".join(f"{role} {v:.2f}" for role, v in used.items())
                                     + f" = {sum(used.values()):.2f}" for side, used in used_by.items()),
                          flush=True)
                    if limits:
                        limit = max(limits)
                        figures[key].update(two_core_limit_rows_per_s=round(limit),
                                            ratio_to_two_core_limit=round(ours_rate / limit, 2))
                        print(f"{'':<22} two-core limit {limit:>10,.0f} rows/s   predq/limit "
                              f"{ours_rate / limit:5.2f}", flush=True)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=3, help="runs per figure and server (the best counts)")
    args = parser.parse_args(argv)
    if not (MLFLOW_VENV / "bin" / "mlflow").is_file():
        print(f"no MLflow in {MLFLOW_VENV}: run `make mlflow-venv` first", file=sys.stderr)
        return 2
    started_load = load()
    started = time.monotonic()
    figures: dict[str, Any] = {"rows": args.rows, "cores": os.cpu_count(), "date": time.strftime("%Y-%m-%d %H:%M"),
                               "load_at_start": started_load}
    print(f"predq vs MLflow, {args.rows:,} rows × 20, 17 significant digits; load average at start "
          f"{started_load} on {os.cpu_count()} cores", flush=True)
    X = Rows(peer_rows(args.rows))
    with tempfile.TemporaryDirectory(prefix="predq-mlflow-") as workdir, LocalStack(workers=2, env=STACK_ENV) as stack:
        figures.update(compare(stack, Path(workdir), X, args.repeats))
    figures["load_at_end"] = load()
    figures["seconds"] = round(time.monotonic() - started, 1)
    print(f"load average at end {figures['load_at_end']}; {figures['seconds']} s")
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
