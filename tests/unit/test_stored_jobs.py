"""Jobs by reference in one process (fake Redis, chunks run as a worker would): parts, the manifest written
last, the sweeper sealing a job whose sealer died, and nothing of the rows in Redis."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from api import jobs as jobs_route
from shared.storage.chunks import StoredChunks
from tests.unit.conftest import Stack, StackFactory
from worker import sweeper
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
    sweep = Sweeper(stack.services, "sweeper-test")
    assert sweep._sweep(set(), 1_000.0)["unsealed"] == 1  # its sealer may be writing the manifest right now
    assert stack.client.get(f"/jobs/{job['job_id']}").get_json()["status"] == "running"
    assert not (storage / "out" / "_predq.json").exists()
    assert sweep._sweep(set(), 1_000.0 + sweeper.CONFIRM_SECONDS)["sealed"] == 1
    sealed = stack.client.get(f"/jobs/{job['job_id']}").get_json()
    assert sealed["status"] == "succeeded"
    assert json.loads((storage / "out" / "_predq.json").read_text())["rows"] == len(ROWS)


def test_storage_refusing_a_manifest_stops_no_other_sweep_and_fails_the_job_in_the_end(
        stack: Stack, storage: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    job = _submit(stack, storage)
    refused = OSError(f"No space left on device: {storage}/out/_predq.json")
    monkeypatch.setattr(StoredChunks, "write_manifest", lambda *args: (_ for _ in ()).throw(refused))
    with pytest.raises(OSError):
        stack.run()
    other = stack.client.post("/jobs", json={"model": "iris", "instances": [ROWS[0]]}).get_json()
    sweep = Sweeper(stack.services, "sweeper-test")
    lost = f"{other['job_id']}:0"  # its message counts as lost: `_sweep` is told no chunk waits in a lane
    for now in (1_000.0, 1_000.0 + sweeper.CONFIRM_SECONDS):
        report = sweep._sweep(set(), now)
        assert report["unsealed"] == 1
    assert report["resent"] == 1, f"{lost} (message lost) is sent again in the sweep that cannot seal the other job"
    assert stack.client.get(f"/jobs/{job['job_id']}").get_json()["status"] == "running"
    assert sweep._sweep(set(), 1_000.0 + sweeper.SEAL_GIVE_UP_SECONDS)["failed"] == 1
    failed = stack.client.get(f"/jobs/{job['job_id']}").get_json()
    assert failed["status"] == "failed"
    assert failed["error"]["type"] == "/problems/output-failed"
    assert "No space left on device" in failed["error"]["detail"] and str(storage) not in failed["error"]["detail"]
    assert not (storage / "out" / "_predq.json").exists()


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


def test_a_full_key_is_refused_a_job_by_reference_before_storage_is_read(
        make_stack: StackFactory, storage: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stack = make_stack({"STORAGE_ROOTS": str(storage), "STORAGE_ALLOWED_PREFIXES": f"file://{storage}/",
                        "API_KEYS": "key-a", "MAX_QUEUED_JOBS_PER_KEY": "1"})
    headers = {"Authorization": "Bearer key-a"}
    body = {"model": "iris", "input": {"uri": f"file://{storage}/in/x.parquet"}}
    assert stack.client.post("/jobs", json=body, headers=headers).status_code == 202
    reads: list[Any] = []
    real = jobs_route.planned_job
    monkeypatch.setattr(jobs_route, "planned_job", lambda *args: reads.append(args) or real(*args))
    refused = stack.client.post("/jobs", json=body, headers=headers)
    assert refused.status_code == 429 and "MAX_QUEUED_JOBS_PER_KEY" in refused.get_json()["detail"]
    assert reads == [], "the input's metadata was read for a key that had no room"
    dry = stack.client.post("/jobs?dry_run=true", json=body, headers=headers)
    assert dry.get_json() == {"valid": True, "rows": len(ROWS)} and len(reads) == 1
