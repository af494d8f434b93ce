"""Jobs by reference: a big Parquet file on local disk scored into Parquet parts, against the two-core limit.

Writes (once, kept under .stack/bench-data) a ROWS x 20 Parquet file of float64 in pyarrow's default row
groups, starts the local stack with two workers allowed to read it (file://), and for each model submits it
by reference with an output folder: end to end is from the POST to the job's success (every part and the
manifest written). The two-core limit, measured in the same run, is two processes doing nothing but read their
half of the row groups, convert them as a worker does and call predict. Redis's used_memory_peak shows that the
rows never pass through it. A benchmark: it asserts nothing about speed.

    python -m scripts.bench_reference [--rows 20000000] [--row-group 1048576] [--models bench-logreg]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import redis
from predq_client import Client
from threadpoolctl import threadpool_limits

from scripts.bench_churn import load_model
from scripts.stack import LocalStack, local_storage
from shared.parsing.parquet import BATCH_ROWS, parquet_arrays
from shared.settings import REPO_ROOT

FEATURES = [f"f{i}" for i in range(20)]
MODELS = ("bench-logreg", "bench-forest")
DATA = REPO_ROOT / ".stack" / "bench-data"
WRITE_ROWS = 1 << 20


def data_file(rows: int, row_group: int) -> Path:
    """The input, written once per size: a seeded normal sample, in row groups of `row_group` rows."""
    path = DATA / f"reference-{rows}x{len(FEATURES)}-rg{row_group}.parquet"
    if path.exists():
        return path
    DATA.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    rng = np.random.default_rng(20)
    schema = pa.schema([(name, pa.float64()) for name in FEATURES])
    with pq.ParquetWriter(partial, schema) as writer:
        for start in range(0, rows, WRITE_ROWS):
            X = rng.normal(size=(min(WRITE_ROWS, rows - start), len(FEATURES)))
            writer.write_table(pa.table(list(X.T), schema=schema), row_group_size=row_group)
    partial.rename(path)
    return path


def _score_groups(args: tuple[str, str, list[int]]) -> int:
    """One limit process: read its row groups, convert them as a worker does, predict on one thread, as a
    worker does (its BLAS runs single-threaded: scripts.stack.SINGLE_THREADED)."""
    model_dir, path, groups = args
    model = load_model(model_dir, MODEL_IN_LIMIT[0])
    parquet = pq.ParquetFile(path)
    rows = 0
    with threadpool_limits(1):
        for group in groups:
            batches = parquet.read_row_group(group, columns=FEATURES).to_batches(BATCH_ROWS)
            X = np.concatenate(list(parquet_arrays(batches, FEATURES, False)))
            rows += len(model.predict(X))
    return rows


MODEL_IN_LIMIT = ["bench-logreg"]
"""The model a limit process scores (set before the pool forks)."""


def two_core_limit(model_dir: str, name: str, path: Path) -> float:
    """Rows per second of two processes sharing the row groups, nothing else running."""
    MODEL_IN_LIMIT[0] = name
    groups = list(range(pq.ParquetFile(path).metadata.num_row_groups))
    halves = [groups[0::2], groups[1::2]]
    with multiprocessing.get_context("fork").Pool(2) as pool:
        pool.map(_score_groups, [(model_dir, str(path), halves[0][:1]), (model_dir, str(path), halves[1][:1])])
        started = time.perf_counter()
        rows = sum(pool.map(_score_groups, [(model_dir, str(path), half) for half in halves]))
        return rows / (time.perf_counter() - started)


def by_reference(predq: Client, name: str, path: Path, output: Path) -> tuple[float, dict[str, Any]]:
    """Seconds from the POST to the job's success, and the final job resource."""
    shutil.rmtree(output, ignore_errors=True)
    started = time.perf_counter()
    job = predq.wait(predq.submit_uri(f"file://{path}", output_uri=f"file://{output}/", model=name).job_id)
    elapsed = time.perf_counter() - started
    if job.status != "succeeded":
        raise RuntimeError(f"{name}: job {job.job_id} ended {job.status}: {job.raw.get('error')}")
    return elapsed, job.raw


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000_000)
    parser.add_argument("--row-group", type=int, default=1 << 20, help="rows per row group (pyarrow's default)")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    args = parser.parse_args(argv)
    path = data_file(args.rows, args.row_group)
    figures: dict[str, Any] = {"rows": args.rows, "row_group": args.row_group, "date": time.strftime("%Y-%m-%d"),
                               "load_1m": round(os.getloadavg()[0], 2), "file_mb": round(path.stat().st_size / 1e6)}
    print(f"by reference: {args.rows:,} rows x {len(FEATURES)} in {path.name} ({figures['file_mb']:,} MB), "
          f"2 workers; load average {figures['load_1m']}")
    with LocalStack(workers=2, env=local_storage(DATA)) as stack, Client(stack.base_url, timeout=600) as predq:
        for name in args.models:
            seconds, job = by_reference(predq, name, path, DATA / f"out-{name}")
            manifest = json.loads((DATA / f"out-{name}" / "_predq.json").read_text())
            if manifest["rows"] != args.rows:
                raise RuntimeError(f"{name}: the manifest holds {manifest['rows']} rows")
            rate = args.rows / seconds
            limit = two_core_limit(stack.model_dir, name, path)
            figures[name] = {"e2e_rows_per_s": round(rate), "two_core_limit_rows_per_s": round(limit),
                             "ratio_to_two_cores": round(rate / limit, 3), "seconds": round(seconds, 2),
                             "chunks": job["progress"]["chunks_total"], "chunk_rows": job["chunk_rows"]}
            print(f"{name:<14} e2e {rate:>12,.0f} rows/s in {seconds:6.1f} s ({job['progress']['chunks_total']} "
                  f"chunks)   two-core limit {limit:>12,.0f} rows/s   e2e/limit {rate / limit:5.2f}")
            shutil.rmtree(DATA / f"out-{name}", ignore_errors=True)
        peak = int(redis.Redis.from_url(stack.redis_url).info("memory")["used_memory_peak"])
    figures["redis_used_memory_peak_mb"] = round(peak / 1e6, 1)
    print(f"Redis used_memory_peak over both jobs: {peak / 1e6:.1f} MB")
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
