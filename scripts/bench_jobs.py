"""Whole jobs of the MLflow benchmark's bodies on the local stack: best and median seconds, for A/B runs.

Each job is what `bench_mlflow` times for predq (POST, long-poll, every result downloaded as paged JSON).
To compare two trees side by side, run it from each in turn on the same machine, e.g. for the tree before a
change: `git worktree add /tmp/before <commit> && ln -s "$PWD/.venv" /tmp/before/.venv && cd /tmp/before &&
PYTHONPATH=client/src:. .venv/bin/python -m scripts.bench_jobs`.

    python -m scripts.bench_jobs [--rows 200000] [--runs 6] [--limit] [model:format ...]

Each line also gives the CPU seconds of the run that spent least (API, workers, Redis, this client), and with
`--limit` the two-core limit of the same rows taken right after (scripts.bench_limit) and the ratio to it. The
stack takes its settings from the environment, e.g. `TARGET_CHUNK_SECONDS=0.3 python -m scripts.bench_jobs`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from functools import partial

from predq_client import Client

from scripts.bench import STACK_ENV
from scripts.bench_churn import load_model
from scripts.bench_limit import two_core_limit
from scripts.bench_mlflow import (
    Rows,
    bodies,
    halves,
    least,
    peer_rows,
    predq_phases,
    predq_run,
    stack_roles,
    with_cpu,
)
from scripts.stack import LocalStack

DEFAULT_CASES = ("bench-logreg:parquet", "bench-forest:csv", "bench-forest:json")
WARM_ROWS = 20_000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=6)
    parser.add_argument("--limit", action="store_true", help="also the two-core limit of each case")
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
            runs = [with_cpu(stack_roles(stack), partial(predq_phases, predq, model, fmt, body))
                    for _ in range(args.runs)]
            if any(len(results) != len(rows) for (_, results), _ in runs):
                raise RuntimeError(f"{model} {fmt}: results missing")
            times = [sum(phases) for (phases, _), _ in runs]
            best = min((phases for (phases, _), _ in runs), key=sum)
            cpu = least([used for _, used in runs])
            line = (f"{model:<13} {fmt:<8} best {min(times):.3f} s   median {statistics.median(times):.3f} s   "
                    f"best {args.rows / min(times):>10,.0f} rows/s   (POST, wait, results {best[0]:.3f} + "
                    f"{best[1]:.3f} + {best[2]:.3f} s)   CPU s {sum(cpu.values()):.2f} {cpu}")
            if args.limit:
                limit = two_core_limit(load_model(stack.model_dir, model), fmt, halves(rows, model, fmt), len(rows), 5)
                line += f"   two-core limit {limit:,.0f} rows/s, ratio {args.rows / min(times) / limit:.2f}"
            print(f"{line}   ({time.strftime('%H:%M:%S')})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
