"""bench-churn figures for `make bench`: typed CSV and Parquet bodies end to end against their one-process
limit (parse + validate + DataFrame + predict), and 1-row churn job latency."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from predq_client import Client

from scripts.churn import CHURN_SCHEMA, churn_frame
from shared import artifacts
from shared.parsing.columns import RowSpec
from shared.parsing.csv_typed import iter_typed_csv
from shared.parsing.parquet_typed import iter_typed_parquet
from shared.registry import read_entry
from shared.scoring import to_frame

NAMES = [c.name for c in CHURN_SCHEMA]
SPEC = RowSpec(CHURN_SCHEMA)


def churn_bodies(n_rows: int) -> dict[str, bytes]:
    frame = churn_frame(n_rows, seed=1)
    parquet = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), parquet)
    return {"csv": frame.to_csv(index=False).encode(), "parquet": parquet.getvalue()}


def churn_limit(model: Any, fmt: str, body: bytes) -> None:
    """What one process does for the whole body: parse and validate, build the DataFrame, predict."""
    blocks = iter_typed_csv(io.BytesIO(body), SPEC) if fmt == "csv" else iter_typed_parquet(io.BytesIO(body), SPEC)
    model.predict(to_frame(pa.concat_tables(list(blocks)), NAMES))


def load_model(model_dir: str, name: str) -> Any:
    return artifacts.read(read_entry(name, 1, Path(model_dir) / name / "1").path, None)


def churn_latency(predq: Client, jobs: int) -> list[float]:
    """Seconds from submitting a 1-row churn job to its long-polled terminal answer."""
    row = json.loads(churn_frame(1, seed=2).to_json(orient="records"))
    body = json.dumps({"model": "churn", "instances": row}).encode()
    times = []
    for _ in range(jobs):
        started = time.perf_counter()
        job = predq.wait(predq.submit(body, format="json", idempotent=False).job_id, poll_seconds=10)
        if job.status != "succeeded":
            raise RuntimeError(f"1-row churn job {job.job_id} ended {job.status}")
        times.append(time.perf_counter() - started)
    return times
