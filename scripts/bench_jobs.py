"""Whole jobs of the MLflow benchmark's bodies on the local stack: best and median seconds, for A/B runs.

Each job is what `bench_mlflow` times for predq (POST, long-poll, every result downloaded as paged JSON).
To compare two trees side by side, run it from each in turn on the same machine, e.g. for the tree before a
change: `git worktree add /tmp/before <commit> && ln -s "$PWD/.venv" /tmp/before/.venv && cd /tmp/before &&
PYTHONPATH=client/src:. .venv/bin/python -m scripts.bench_jobs`.

    python -m scripts.bench_jobs [--rows 200000] [--runs 6] [model:format ...]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from predq_client import Client

from scripts.bench import STACK_ENV
from scripts.bench_mlflow import Rows, bodies, peer_rows, predq_run
from scripts.stack import LocalStack

DEFAULT_CASES = ("bench-logreg:parquet", "bench-forest:csv", "bench-forest:json")
WARM_ROWS = 20_000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=6)
    parser.add_argument("cases", nargs="*", default=list(DEFAULT_CASES), help="model:format")
    args = parser.parse_args(argv)
    cases = [tuple(case.split(":", 1)) for case in args.cases]
    rows = Rows(peer_rows(args.rows))
    with LocalStack(workers=2, env=STACK_ENV) as stack, Client(stack.base_url, timeout=600) as predq:
        for model in dict.fromkeys(model for model, _ in cases):  # models loaded, chunk sizer told their cost
            for fmt, (body, _) in bodies(rows[:WARM_ROWS], model).items():
                predq_run(predq, model, fmt, body)
        for model, fmt in cases:
            body = bodies(rows, model)[fmt][0]
            times = [predq_run(predq, model, fmt, body)[0] for _ in range(args.runs)]
            print(f"{model:<13} {fmt:<8} best {min(times):.3f} s   median {statistics.median(times):.3f} s   "
                  f"best {args.rows / min(times):>10,.0f} rows/s   ({time.strftime('%H:%M:%S')})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
