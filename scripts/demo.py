"""`make demo`: start the stack, score a demo batch end to end over HTTP, print a summary, stop.

    python -m scripts.demo [--rows N] [--workers N]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.request
from collections import Counter
from typing import Any

import numpy as np
from sklearn.datasets import make_classification

from scripts.stack import LocalStack

DEMO_MODEL = "bench-forest"


def http(method: str, url: str, body: bytes | None = None, content_type: str = "application/json") -> Any:
    request = urllib.request.Request(url, data=body, method=method, headers={"Content-Type": content_type})
    with urllib.request.urlopen(request, timeout=60) as answer:
        return json.load(answer)


def demo_rows(n_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows near those bench-forest was trained on (resampled, with a little noise), and their true labels."""
    X, y = make_classification(n_samples=20000, n_features=20, random_state=0)
    rng = np.random.default_rng(1)
    picked = rng.integers(0, len(X), n_rows)
    return np.round(X[picked] + rng.normal(0, 0.1, (n_rows, X.shape[1])), 4), y[picked]


def show_progress(job: dict[str, Any]) -> None:
    p = job["progress"]
    width = 30
    filled = int(width * p["rows_done"] / max(p["rows_total"], 1))
    rate = f"{p['rows_per_second']:,.0f} rows/s" if p["rows_per_second"] else "waiting for the first chunk"
    line = (f"\r  [{'#' * filled}{'.' * (width - filled)}] {p['rows_done']:>9,}/{p['rows_total']:,} rows "
            f"{p['chunks_done']}/{p['chunks_total']} chunks  {job['status']:<9} {rate}")
    print(line, end="", flush=True)


def run_demo(base: str, n_rows: int) -> int:
    X, truth = demo_rows(n_rows)
    body = json.dumps({"model": DEMO_MODEL, "instances": X.tolist(), "metadata": {"source": "make demo"}}).encode()
    print(f"submitting {n_rows:,} rows × {X.shape[1]} features to {DEMO_MODEL} ({len(body) / 1e6:.1f} MB of JSON)")
    started = time.perf_counter()
    job = http("POST", f"{base}/jobs", body)
    print(f"  202 Accepted: job {job['job_id']} ({job['progress']['chunks_total']} chunks)")
    while job["status"] in ("queued", "running"):
        show_progress(job)
        time.sleep(0.2)
        job = http("GET", f"{base}/jobs/{job['job_id']}")
    show_progress(job)
    print()
    if job["status"] != "succeeded":
        print(f"the job ended {job['status']}: {job['error']}")
        return 1
    results = fetch_results(base, job["job_id"])
    elapsed = time.perf_counter() - started
    summarize(job, results, truth, elapsed)
    return 0 if len(results) == n_rows else 1


def fetch_results(base: str, job_id: str) -> list[Any]:
    results: list[Any] = []
    path: str | None = f"/jobs/{job_id}/results?limit=100000"
    while path:
        page = http("GET", base + path)
        results.extend(page["results"])
        path = page["next"]
    return results


def summarize(job: dict[str, Any], results: list[Any], truth: np.ndarray, elapsed: float) -> None:
    counts = Counter(results)
    accuracy = float(np.mean(np.asarray(results) == truth))
    print(f"job {job['job_id']} succeeded: {len(results):,} results for {job['rows']:,} rows "
          f"(model {job['model']['name']} v{job['model']['version']}, sha256 {job['model']['sha256'][:12]}…)")
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
