"""`make bench` (second part): what the lanes and the fair scheduler buy, measured on this machine.

1. 1-row bench-logreg jobs submitted every 50 ms while a 1,000,000-row bench-forest CSV job keeps both workers
   busy: their latency (submit to long-polled terminal answer), beside the same jobs on an idle service.
2. Two API keys: key A submits 10 bench-forest jobs of 200,000 rows, then key B one such job. B's job time
   (its submission to its end) beside the time the same job takes alone.

A benchmark, not a test: it prints figures and one JSON line, and asserts nothing.

    python -m scripts.bench_sched [--bulk-rows 1000000] [--key-rows 200000] [--key-jobs 10]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from predq_client import Client

from scripts.bench import csv_bytes, make_rows
from scripts.stack import LocalStack

KEYS = ("bench-key-a", "bench-key-b")
SMALL_INTERVAL_SECONDS = 0.05
WARM_JOBS = 6
ONE_ROW = csv_bytes(make_rows(1, seed=5))


def one_row_latency(predq: Client) -> float:
    started = time.perf_counter()
    job = predq.wait(predq.submit(ONE_ROW, format="csv", model="bench-logreg", idempotent=False).job_id,
                     poll_seconds=10)
    if job.status != "succeeded":
        raise RuntimeError(f"1-row job {job.job_id} ended {job.status}")
    return time.perf_counter() - started


def percentiles(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    return {"p50_ms": round(1000 * statistics.median(ordered), 1),
            "p99_ms": round(1000 * ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))], 1), "jobs": len(times)}


def small_under_bulk(predq: Client, bulk_rows: int) -> dict[str, dict[str, float]]:
    """1-row jobs every 50 ms while a bulk job runs; the same jobs on an idle service."""
    for _ in range(WARM_JOBS):  # each worker loads bench-logreg on its first job: not what is measured
        one_row_latency(predq)
    idle = [one_row_latency(predq) for _ in range(40)]
    bulk_body = csv_bytes(make_rows(bulk_rows, seed=11))
    predq.wait(predq.submit(csv_bytes(make_rows(50_000, seed=12)), format="csv", model="bench-forest",
                            idempotent=False).job_id)  # bench-forest's cost is measured: its chunks are sized
    done = threading.Event()
    bulk_ids: list[str] = []

    def run_bulk() -> None:  # from the upload's first byte: the bulk job is scored while it is read
        bulk_ids.append(predq.submit(bulk_body, format="csv", model="bench-forest", idempotent=False).job_id)
        predq.wait(bulk_ids[0])
        done.set()

    threading.Thread(target=run_bulk, daemon=True).start()
    futures = []
    with ThreadPoolExecutor(max_workers=32) as pool:
        while not done.is_set():
            futures.append(pool.submit(one_row_latency, predq))
            time.sleep(SMALL_INTERVAL_SECONDS)
    busy = [f.result() for f in futures]
    chunk_rows = predq.job(bulk_ids[0]).raw.get("chunk_rows")
    return {"idle": percentiles(idle), "under_bulk": percentiles(busy),
            "bulk": {"rows": bulk_rows, "chunk_rows": float(chunk_rows or 0)}}


def two_keys(url: str, rows: int, jobs: int) -> dict[str, float]:
    """Key B's one job alone, then behind key A's `jobs` jobs."""
    body = csv_bytes(make_rows(rows, seed=13))
    with Client(url, KEYS[0]) as team_a, Client(url, KEYS[1]) as team_b:
        def b_job() -> float:
            started = time.perf_counter()
            team_b.wait(team_b.submit(body, format="csv", model="bench-forest", idempotent=False).job_id)
            return time.perf_counter() - started

        alone = min(b_job() for _ in range(2))
        a_jobs = [team_a.submit(body, format="csv", model="bench-forest", idempotent=False).job_id
                  for _ in range(jobs)]
        shared = b_job()
        for job_id in a_jobs:
            team_a.wait(job_id)
    return {"b_alone_s": round(alone, 2), "b_behind_a_s": round(shared, 2), "ratio": round(shared / alone, 2),
            "a_jobs": jobs, "rows_per_job": rows}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bulk-rows", type=int, default=1_000_000)
    parser.add_argument("--key-rows", type=int, default=200_000)
    parser.add_argument("--key-jobs", type=int, default=10)
    args = parser.parse_args(argv)
    with LocalStack(workers=2, env={"API_KEYS": ",".join(KEYS)}) as stack, Client(stack.base_url, KEYS[0]) as predq:
        small = small_under_bulk(predq, args.bulk_rows)
        idle, busy = small["idle"], small["under_bulk"]
        print(f"1-row jobs, idle: p50 {idle['p50_ms']} ms, p99 {idle['p99_ms']} ms")
        print(f"1-row jobs every 50 ms under a {args.bulk_rows:,}-row bench-forest job (chunks of "
              f"{small['bulk']['chunk_rows']:.0f} rows): p50 {busy['p50_ms']} ms, p99 {busy['p99_ms']} ms over "
              f"{busy['jobs']:.0f} jobs")
        fair = two_keys(stack.base_url, args.key_rows, args.key_jobs)
        print(f"key B's {args.key_rows:,}-row job: alone {fair['b_alone_s']} s, behind key A's {args.key_jobs} "
              f"jobs {fair['b_behind_a_s']} s: {fair['ratio']} x")
    print(json.dumps({"small_under_bulk": small, "two_keys": fair}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
