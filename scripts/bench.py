"""`make bench`: end-to-end throughput, the one-process and two-core limits, 1-row latency, the API's peak memory.

Starts the local stack (two workers) on this machine and prints figures and ratios (the two-core limit:
two processes, each parsing half of the rows and predicting, scripts/bench_limit.py), with the load average
at the start and with each figure, then one JSON line holding every figure. A benchmark, not a test: it
asserts nothing about speed. Its HTTP side is predq_client's (client/): submit, long-poll and paged download
as every user gets them; uploads go without an Idempotency-Key, so that the API's ingest is measured without
hashing the body.

    python -m scripts.bench [--rows 200000] [--big-rows 1000000] [--latency-jobs 200]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
from predq_client import Client
from sklearn.datasets import make_classification

from scripts import bench_chart
from scripts.bench_churn import churn_bodies, churn_latency, churn_limit, load_model
from scripts.bench_limit import FEATURES, best_of, one_process_limit, two_core_limit
from scripts.stack import LocalStack

MODELS = ("bench-logreg", "bench-forest")
RESULT_PAGE_ROWS = 100_000
"""The largest results page the API serves: the fewest round trips."""

HTTP_TIMEOUT = 600.0
STACK_ENV = {"MAX_JSON_BODY_BYTES": str(128 << 20)}
"""The 200,000-row JSON bodies are 38 MB here and 81 MB at 17 digits (bench_mlflow), over the default 32 MiB."""


def make_rows(n_rows: int, seed: int) -> np.ndarray:
    X, _ = make_classification(n_samples=n_rows, n_features=20, random_state=seed)
    return np.asarray(X, dtype=np.float64).round(6)


def csv_bytes(X: np.ndarray) -> bytes:
    out = io.BytesIO()
    out.write((",".join(FEATURES) + "\n").encode())
    np.savetxt(out, X, fmt="%.6f", delimiter=",")
    return out.getvalue()


def parquet_bytes(X: np.ndarray) -> bytes:
    out = io.BytesIO()
    pq.write_table(pa.table({name: X[:, j] for j, name in enumerate(FEATURES)}), out)
    return out.getvalue()


def bodies(X: np.ndarray, model: str) -> dict[str, bytes]:
    return {"json": orjson.dumps({"model": model, "instances": X}, option=orjson.OPT_SERIALIZE_NUMPY),
            "csv": csv_bytes(X), "parquet": parquet_bytes(X)}


def halves(X: np.ndarray, model: str, fmt: str) -> tuple[bytes, bytes]:
    """The bodies of the two halves of the rows, in `fmt` (the two-core limit's inputs)."""
    middle = len(X) // 2
    return bodies(X[:middle], model)[fmt], bodies(X[middle:], model)[fmt]


def end_to_end(predq: Client, model: str, fmt: str, body: bytes) -> tuple[float, int]:
    """Seconds from the POST's first byte to the results' last byte (paged JSON), and the rows back."""
    started = time.perf_counter()
    job = predq.wait(predq.submit(body, format=fmt, model=model, idempotent=False).job_id)
    if job.status != "succeeded":
        raise RuntimeError(f"job {job.job_id} ended {job.status}")
    rows_back = sum(1 for _ in predq.results(job.job_id, page_rows=RESULT_PAGE_ROWS))
    return time.perf_counter() - started, rows_back


def latency(predq: Client, jobs: int) -> list[float]:
    """Seconds from submitting a 1-row job to its long-polled terminal answer."""
    body = orjson.dumps({"model": "bench-logreg", "instances": [[0.5] * 20]})
    times = []
    for _ in range(jobs):
        started = time.perf_counter()
        job = predq.wait(predq.submit(body, format="json", idempotent=False).job_id, poll_seconds=10)
        if job.status != "succeeded":
            raise RuntimeError(f"1-row job {job.job_id} ended {job.status}")
        times.append(time.perf_counter() - started)
    return times


def api_pids(stack: LocalStack) -> list[int]:
    master = stack.api.pid if stack.api else 0
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return [master, *map(int, children)]


def reset_peak_rss(pids: list[int]) -> None:
    for pid in pids:
        Path(f"/proc/{pid}/clear_refs").write_text("5")  # resets VmHWM (peak RSS)


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def big_csv_job(predq: Client, stack: LocalStack, n_rows: int) -> dict[str, float]:
    """A CSV job of `n_rows` × 20 streamed from a file; the API processes' peak RSS meanwhile (and before)."""
    with tempfile.NamedTemporaryFile(suffix=".csv") as file:
        step = 100_000
        file.write((",".join(FEATURES) + "\n").encode())
        for start in range(0, n_rows, step):
            np.savetxt(file, make_rows(min(step, n_rows - start), seed=start), fmt="%.17g", delimiter=",")
        file.flush()
        size_mb = os.path.getsize(file.name) / 1e6
        pids = api_pids(stack)
        reset_peak_rss(pids)
        before = max(peak_rss_mb(pid) for pid in pids)
        started = time.perf_counter()
        job = predq.submit(file.name, format="csv", model="bench-logreg", idempotent=False)
        accepted = time.perf_counter() - started
        job = predq.wait(job.job_id)
        rows_back = sum(1 for _ in predq.results(job.job_id, page_rows=RESULT_PAGE_ROWS))
        elapsed = time.perf_counter() - started
    peaks = {pid: peak_rss_mb(pid) for pid in pids}
    return {"rows": n_rows, "body_mb": round(size_mb, 1), "status_ok": float(job.status == "succeeded"),
            "rows_back": rows_back, "upload_and_accept_s": round(accepted, 2), "total_s": round(elapsed, 2),
            "api_peak_rss_mb": round(max(peaks.values()), 1), "api_rss_before_mb": round(before, 1),
            "api_master_peak_rss_mb": round(peaks[pids[0]], 1)}


def bench_churn(predq: Client, stack: LocalStack, fmt: str, body: bytes, args: argparse.Namespace,
                figures: dict[str, Any]) -> None:
    """bench-churn end to end against its one-process limit (parse + validate + DataFrame + predict)."""
    runs = [end_to_end(predq, "bench-churn", fmt, body) for _ in range(args.repeats)]
    if any(back != args.rows for _, back in runs):
        raise RuntimeError(f"bench-churn {fmt}: results missing for {args.rows} rows: {runs}")
    rate = args.rows / min(elapsed for elapsed, _ in runs)
    model = load_model(stack.model_dir, "bench-churn")
    limit = args.rows / best_of(args.repeats, lambda: churn_limit(model, fmt, body))
    figures[f"bench-churn.{fmt}"] = {"e2e_rows_per_s": round(rate), "limit_rows_per_s": round(limit),
                                     "ratio": round(rate / limit, 3), "body_mb": round(len(body) / 1e6, 1)}
    print(f"{'bench-churn.' + fmt:<22} e2e {rate:>10,.0f} rows/s   limit (1 process) {limit:>10,.0f} rows/s   "
          f"e2e/limit {rate / limit:5.2f}   body {len(body) / 1e6:6.1f} MB")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--big-rows", type=int, default=1_000_000)
    parser.add_argument("--latency-jobs", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3, help="end-to-end runs per figure (the best counts)")
    parser.add_argument("--no-big", action="store_true", help="skip the big CSV memory figure (and the chart)")
    args = parser.parse_args(argv)
    figures: dict[str, Any] = {"rows": args.rows, "cores": os.cpu_count(), "date": time.strftime("%Y-%m-%d"),
                               "load_at_start": [round(v, 2) for v in os.getloadavg()]}
    print(f"load average at start {figures['load_at_start']} on {os.cpu_count()} cores", flush=True)
    X = make_rows(args.rows, seed=1)
    with LocalStack(workers=2, env=STACK_ENV) as stack, Client(stack.base_url, timeout=HTTP_TIMEOUT) as predq:
        print(f"stack: 2 workers, Redis {stack.redis.kind if stack.redis else stack.redis_url}; {args.rows:,} rows")
        for name in MODELS:
            model = load_model(stack.model_dir, name)
            for fmt, body in bodies(X, name).items():
                runs = [end_to_end(predq, name, fmt, body) for _ in range(args.repeats)]
                if any(back != args.rows for _, back in runs):
                    raise RuntimeError(f"{name} {fmt}: results missing for {args.rows} rows: {runs}")
                seconds = min(elapsed for elapsed, _ in runs)  # the machine is shared: the least disturbed run
                rate = args.rows / seconds
                limit = one_process_limit(model, fmt, body, args.rows, args.repeats)
                two = two_core_limit(model, fmt, halves(X, name, fmt), args.rows, args.repeats)
                key = f"{name}.{fmt}"
                figures[key] = {"e2e_rows_per_s": round(rate), "limit_rows_per_s": round(limit),
                                "two_core_limit_rows_per_s": round(two), "ratio": round(rate / limit, 3),
                                "ratio_to_two_cores": round(rate / two, 3), "body_mb": round(len(body) / 1e6, 1),
                                "load": [round(v, 2) for v in os.getloadavg()]}
                print(f"{key:<22} e2e {rate:>10,.0f} rows/s   limit (1 process) {limit:>10,.0f} rows/s   "
                      f"two-core limit {two:>10,.0f} rows/s   e2e/limit {rate / limit:5.2f}   "
                      f"e2e/two-core {rate / two:5.2f}   body {len(body) / 1e6:6.1f} MB", flush=True)
        for fmt, body in churn_bodies(args.rows).items():
            bench_churn(predq, stack, fmt, body, args, figures)
        times = latency(predq, args.latency_jobs)
        p50, p99 = np.percentile(times, 50) * 1000, np.percentile(times, 99) * 1000
        figures["latency_1_row_ms"] = {"p50": round(p50, 2), "p99": round(p99, 2), "jobs": len(times),
                                       "mean": round(statistics.mean(times) * 1000, 2)}
        print(f"1-row jobs (submit + ?wait): p50 {p50:.1f} ms, p99 {p99:.1f} ms over {len(times)} jobs")
        times = churn_latency(predq, args.latency_jobs)
        p50, p99 = np.percentile(times, 50) * 1000, np.percentile(times, 99) * 1000
        figures["latency_1_row_churn_ms"] = {"p50": round(p50, 2), "p99": round(p99, 2), "jobs": len(times)}
        print(f"1-row churn jobs (submit + ?wait): p50 {p50:.1f} ms, p99 {p99:.1f} ms over {len(times)} jobs")
        if args.no_big:
            print(json.dumps(figures))
            return 0
        stack.restart_api()  # the JSON jobs above leave the API's heap large; measure the CSV job on its own
        with Client(stack.base_url, timeout=HTTP_TIMEOUT) as fresh:  # the old API's connections are gone
            big = big_csv_job(fresh, stack, args.big_rows)
        figures["big_csv"] = big
        print(f"{args.big_rows:,}-row CSV ({big['body_mb']} MB): accepted after {big['upload_and_accept_s']} s, "
              f"done and downloaded after {big['total_s']} s; API peak RSS {big['api_peak_rss_mb']} MB "
              f"(largest gunicorn process; {big['api_rss_before_mb']} MB before the job, "
              f"master {big['api_master_peak_rss_mb']} MB)")
    print(json.dumps(figures))
    print(f"chart: {bench_chart.write_chart(figures)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
