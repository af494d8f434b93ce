"""`make demo`: start the stack, score a demo batch end to end over HTTP, print a summary, stop.

The HTTP side is predq_client's (client/): the same submit, wait and download every user gets.

    python -m scripts.demo [--rows N] [--workers N]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from typing import Any

import numpy as np
from predq_client import Client, Job
from sklearn.datasets import make_classification

from scripts.stack import LocalStack

DEMO_MODEL = "bench-forest"


def demo_rows(n_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows near those bench-forest was trained on (resampled, with a little noise), and their true labels."""
    X, y = make_classification(n_samples=20000, n_features=20, random_state=0)
    rng = np.random.default_rng(1)
    picked = rng.integers(0, len(X), n_rows)
    return np.round(X[picked] + rng.normal(0, 0.1, (n_rows, X.shape[1])), 4), y[picked]


def show_progress(job: Job) -> None:
    p = job.progress
    width = 30
    filled = int(width * p.rows_done / max(p.rows_total, 1))
    rate = f"{p.rows_per_second:,.0f} rows/s" if p.rows_per_second else "waiting for the first chunk"
    line = (f"\r  [{'#' * filled}{'.' * (width - filled)}] {p.rows_done:>9,}/{p.rows_total:,} rows "
            f"{p.chunks_done}/{p.chunks_total} chunks  {job.status:<9} {rate}")
    print(line, end="", flush=True)


def run_demo(base: str, n_rows: int) -> int:
    X, truth = demo_rows(n_rows)
    print(f"submitting {n_rows:,} rows × {X.shape[1]} features to {DEMO_MODEL} (streamed as NDJSON)")
    started = time.perf_counter()
    with Client(base) as predq:
        job = predq.submit(X.tolist(), model=DEMO_MODEL, metadata={"source": "make demo"})
        print(f"  202 Accepted: job {job.job_id} ({job.progress.chunks_total} chunks)")
        job = predq.wait(job.job_id, on_progress=show_progress, poll_seconds=0.5)
        print()
        if job.status != "succeeded":
            print(f"the job ended {job.status}: {job.error}")
            return 1
        results = list(predq.results(job.job_id))
    elapsed = time.perf_counter() - started
    summarize(job, results, truth, elapsed)
    return 0 if len(results) == n_rows else 1


def summarize(job: Job, results: list[Any], truth: np.ndarray, elapsed: float) -> None:
    counts = Counter(results)
    accuracy = float(np.mean(np.asarray(results) == truth))
    print(f"job {job.job_id} succeeded: {len(results):,} results for {job.rows:,} rows "
          f"(model {job.model['name']} v{job.model['version']}, sha256 {job.model['sha256'][:12]}…)")
    print(f"  predicted classes: {dict(sorted(counts.items()))}")
    print(f"  agreement with the true labels: {accuracy:.1%}")
    print(f"  end to end (submit → last result downloaded): {elapsed:.2f}s, {len(results) / elapsed:,.0f} rows/s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Score a demo batch end to end.")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    stack = LocalStack(workers=args.workers)
    try:
        print("starting Redis, the API and "
              f"{args.workers} workers…", flush=True)
        stack.start()
        print(f"stack ready at {stack.base_url} (Redis: {stack.redis.kind if stack.redis else stack.redis_url}; "
              f"logs in {stack.log_dir})")
        return run_demo(stack.base_url, args.rows)
    finally:
        stack.stop()
        print("stack stopped")


if __name__ == "__main__":
    sys.exit(main())
