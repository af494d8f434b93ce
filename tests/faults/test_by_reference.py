"""A job by reference survives a killed worker: its output holds each part exactly once, and the manifest,
written last, names every part once."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.faults.report import FaultReport
from tests.faults.stack import FaultStack
from tests.faults.support import (
    FAULT_CHUNK_ROWS,
    FEATURES,
    SLOW_MODEL,
    Client,
    assert_exactly_once,
    audit,
    redelivered,
    rows,
    wait_running,
)
from tests.integration.support import describe

pytestmark = [pytest.mark.faults, pytest.mark.integration]


def test_sigkill_of_a_worker_mid_job_by_reference_writes_each_part_once(
        faults: FaultStack, client: Client, forest: Any, report: FaultReport, fault_storage: Path) -> None:
    X = rows(8_000, seed=11)  # 32 chunks of one row group each
    source, output = fault_storage / "killed-in.parquet", fault_storage / "killed-out"
    pq.write_table(pa.table({name: X[:, j] for j, name in enumerate(FEATURES)}), source,
                   row_group_size=FAULT_CHUNK_ROWS)
    answer = client.post_job({"model": SLOW_MODEL, "input": {"uri": f"file://{source}"},
                              "output": {"uri": f"file://{output}/"}})
    assert answer.status_code == 202, describe(answer)
    job_id = answer.json()["job_id"]
    wait_running(client, job_id, chunks_done=2)
    in_flight = faults.in_flight(job_id)

    faults.kill_worker(faults.live_workers()[0])
    killed_at = time.monotonic()
    final = client.wait_terminal([job_id])
    recovery = time.monotonic() - killed_at

    want = forest.predict(X).tolist()
    audits = [audit(client, faults.redis, final[job_id], want)]
    manifest = json.loads((output / "_predq.json").read_text())
    names = [f["name"] for f in manifest["files"]]
    on_disk = sorted(p.name for p in output.iterdir())
    parts = pa.concat_tables([pq.read_table(output / name) for name in names])
    report.add("11. SIGKILL a worker mid-job by reference (file:// in, Parquet parts out)", audits, recovery,
               f"{len(in_flight)} chunks in flight at the kill; chunks started twice: "
               f"{redelivered(faults.redis, [job_id])}; {len(names)} parts in the manifest, "
               f"{len(on_disk)} files in the output")
    assert_exactly_once(audits)
    assert len(names) == len(set(names)) == final[job_id]["progress"]["chunks_total"]
    assert on_disk == sorted([*names, "_predq.json"]), "a part written twice, missed, or left half-written"
    assert manifest["rows"] == len(X) and parts.column("prediction").to_pylist() == want
