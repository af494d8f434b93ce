"""Jobs by reference in one process (fake Redis, chunks run as a worker would): parts, the manifest written
last, the sweeper sealing a job whose sealer died, and nothing of the rows in Redis."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from shared.storage.chunks import StoredChunks
from tests.unit.conftest import Stack, StackFactory
from worker.sweeper import Sweeper

IRIS = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5]] * 5


@pytest.fixture
def storage(tmp_path: Path) -> Path:
    root = tmp_path / "storage"
    (root / "in").mkdir(parents=True)
    pq.write_table(pa.table({name: [row[j] for row in ROWS] for j, name in enumerate(IRIS)}), root / "in" / "x.parquet",
                   row_group_size=3)
    return root


@pytest.fixture
def stack(make_stack: StackFactory, storage: Path) -> Stack:
    return make_stack({"STORAGE_ROOTS": str(storage), "STORAGE_ALLOWED_PREFIXES": f"file://{storage}/"})


def _submit(stack: Stack, storage: Path) -> dict[str, Any]:
    answer = stack.client.post("/jobs", json={"model": "iris", "input": {"uri": f"file://{storage}/in/x.parquet"},
                                              "output": {"uri": f"file://{storage}/out/"}})
    assert answer.status_code == 202, answer.get_json()
    job: dict[str, Any] = answer.get_json()
    return job


def test_a_job_by_reference_writes_its_parts_then_its_manifest_and_keeps_no_rows_in_redis(
        stack: Stack, storage: Path) -> None:
    job = _submit(stack, storage)
    assert job["progress"]["chunks_total"] == 5  # row groups of 3 rows, packed up to 4-row chunks: one each
    assert not [k for k in stack.redis.keys("*") if b":in:" in k or b":out:" in k]
    stack.run()
    final = stack.client.get(f"/jobs/{job['job_id']}").get_json()
    assert final["status"] == "succeeded"
    assert final["results"] == ["setosa", "virginica", "versicolor"] * 5
    manifest = json.loads((storage / "out" / "_predq.json").read_text())
    assert [f["name"] for f in manifest["files"]] == [f"part-0000{i}.parquet" for i in range(5)]
    assert manifest["job"]["status"] == "succeeded" and manifest["rows"] == len(ROWS)
    assert not [k for k in stack.redis.keys("*") if b":out:" in k], "results of a job with an output stay in storage"


def test_the_sweeper_seals_a_job_whose_last_chunk_was_recorded_by_a_worker_that_died(
        stack: Stack, storage: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    job = _submit(stack, storage)
    real = StoredChunks.write_manifest

    def dies(self: StoredChunks, *args: Any) -> None:
        raise SystemExit("the worker died before its manifest")

    monkeypatch.setattr(StoredChunks, "write_manifest", dies)
    with pytest.raises(SystemExit):
        stack.run()
    stuck = stack.client.get(f"/jobs/{job['job_id']}").get_json()
    assert stuck["status"] == "running" and stuck["progress"]["chunks_done"] == 5
    assert not (storage / "out" / "_predq.json").exists()

    monkeypatch.setattr(StoredChunks, "write_manifest", real)
    Sweeper(stack.services, "sweeper-test").run_once()
    sealed = stack.client.get(f"/jobs/{job['job_id']}").get_json()
    assert sealed["status"] == "succeeded"
    assert json.loads((storage / "out" / "_predq.json").read_text())["rows"] == len(ROWS)


def test_a_job_cancelled_while_it_is_sealed_keeps_no_manifest(stack: Stack, storage: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    job = _submit(stack, storage)
    real = StoredChunks.write_manifest
    monkeypatch.setattr(StoredChunks, "write_manifest", lambda *args: (_ for _ in ()).throw(SystemExit("died")))
    with pytest.raises(SystemExit):
        stack.run()
    monkeypatch.setattr(StoredChunks, "write_manifest", real)
    record = stack.store.get(job["job_id"])
    assert stack.client.delete(f"/jobs/{job['job_id']}").status_code == 200
    stack.services.lifecycle.seal(record)  # a sealer that read the job before the cancel
    assert stack.client.get(f"/jobs/{job['job_id']}").get_json()["status"] == "cancelled"
    assert not (storage / "out" / "_predq.json").exists()
