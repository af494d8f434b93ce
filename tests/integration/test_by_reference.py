"""Jobs by reference: rows read by the workers straight from file:// and s3:// storage, results written back
as Parquet parts and a manifest, and the same answers as the same rows posted as a body."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import redis

from scripts.stack import LocalStack
from tests.integration.conftest import S3_BUCKET
from tests.integration.support import Api, assert_problem, assert_same_results, leaves_no_trace
from tests.s3_server import S3Server

pytestmark = pytest.mark.integration

FEATURES = [f"f{i}" for i in range(20)]
MODEL = "bench-logreg"
ROWS = 2_500
"""Above the stack's SMALL_JOB_ROWS: these jobs take the bulk lane and its fair scheduler."""


@pytest.fixture(scope="module")
def rows() -> np.ndarray:
    return np.random.default_rng(11).normal(size=(ROWS, len(FEATURES))).round(6)


@pytest.fixture(scope="module")
def body_results(api: Api, rows: np.ndarray) -> list[Any]:
    """The same rows posted as a body: what every by-reference job must answer."""
    job = api.run({"model": MODEL, "method": "predict_proba", "instances": rows.tolist()})
    return api.results(job["job_id"])


def _table(rows: np.ndarray) -> pa.Table:
    return pa.table({name: rows[:, j] for j, name in enumerate(FEATURES)})


def _csv(rows: np.ndarray) -> bytes:
    out = io.StringIO()
    out.write(",".join(FEATURES) + "\n")
    np.savetxt(out, rows, fmt="%.6f", delimiter=",")
    return out.getvalue().encode()


def _ndjson(rows: np.ndarray) -> bytes:
    return b"".join(json.dumps(dict(zip(FEATURES, row, strict=True))).encode() + b"\n" for row in rows.tolist())


def _reference(input_uri: str, output_uri: str | None = None, **extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {"model": MODEL, "method": "predict_proba", "input": {"uri": input_uri}, **extra}
    if output_uri is not None:
        doc["output"] = {"uri": output_uri}
    return doc


def test_a_parquet_folder_on_file_storage_answers_as_its_rows_posted_as_a_body(
        api: Api, storage_root: Path, rows: np.ndarray, body_results: list[Any]) -> None:
    folder = storage_root / "shared" / "parquet-in"
    folder.mkdir(parents=True)
    # Two files whose row groups are smaller and bigger than a chunk: whole groups, and groups split in parts.
    pq.write_table(_table(rows[:1000]), folder / "a.parquet", row_group_size=64)
    pq.write_table(_table(rows[1000:]), folder / "b.parquet", row_group_size=350)
    job = api.run(_reference(f"file://{folder}/", f"file://{storage_root}/shared/parquet-out/"))
    assert job["input"] == {"uri": f"file://{folder}/", "format": "parquet"}
    assert job["rows"] == ROWS
    assert_same_results(api.results(job["job_id"]), body_results)
    _assert_output(storage_root / "shared" / "parquet-out", job, body_results)


def _assert_output(folder: Path, job: dict[str, Any], body_results: list[Any]) -> None:
    """Every part once, in the manifest written last; together they hold every result in order."""
    manifest = json.loads((folder / "_predq.json").read_text())
    names = [f["name"] for f in manifest["files"]]
    assert len(names) == len(set(names)) == job["progress"]["chunks_total"]
    assert sorted(p.name for p in folder.iterdir()) == sorted([*names, "_predq.json"])
    assert manifest["rows"] == ROWS and sum(f["rows"] for f in manifest["files"]) == ROWS
    assert manifest["job"]["job_id"] == job["job_id"] and manifest["job"]["status"] == "succeeded"
    assert job["output"]["files"] == [*names, "_predq.json"]
    table = pa.concat_tables([pq.read_table(folder / name) for name in names])
    got = [list(row) for row in zip(*(table.column(c).to_pylist() for c in table.column_names), strict=True)]
    assert_same_results(got, body_results)


def test_a_csv_object_on_s3_answers_as_its_rows_posted_as_a_body(
        api: Api, s3: S3Server, rows: np.ndarray, body_results: list[Any]) -> None:
    fs = s3.filesystem()
    with fs.open_output_stream(f"{S3_BUCKET}/shared/in/data.csv") as out:
        out.write(_csv(rows))
    job = api.run(_reference(f"s3://{S3_BUCKET}/shared/in/data.csv", f"s3://{S3_BUCKET}/shared/out/"))
    assert job["input"]["format"] == "csv"
    assert_same_results(api.results(job["job_id"]), body_results)
    with fs.open_input_stream(f"{S3_BUCKET}/shared/out/_predq.json") as manifest:
        assert json.loads(manifest.read())["rows"] == ROWS


def test_ndjson_by_reference_without_output_keeps_its_results_in_redis(
        api: Api, storage_root: Path, rows: np.ndarray, body_results: list[Any]) -> None:
    path = storage_root / "shared" / "rows.ndjson"
    path.write_bytes(_ndjson(rows))
    job = api.run(_reference(f"file://{path}"))
    assert "output" not in job
    assert_same_results(api.results(job["job_id"]), body_results)


def test_a_bad_value_fails_the_job_naming_its_row_in_the_whole_input(api: Api, storage_root: Path,
                                                                    rows: np.ndarray) -> None:
    bad = rows.copy()
    bad[1234, 3] = np.nan
    path = storage_root / "shared" / "bad.parquet"
    pq.write_table(_table(bad), path)
    job = api.wait(api.submit(_reference(f"file://{path}"))["job_id"])
    assert job["status"] == "failed"
    assert "row 1234, column f3" in job["error"]["detail"], job["error"]


@pytest.mark.parametrize(("uri", "phrase"), [
    ("file:///etc/passwd", "STORAGE_ROOTS"),
    ("s3://another-bucket/data.parquet", "STORAGE_ALLOWED_PREFIXES"),
    ("s3://predq-test/private/data.parquet", "STORAGE_ALLOWED_PREFIXES"),
    ("ftp://example.com/data.csv", "scheme"),
])
def test_a_uri_outside_the_allowed_places_is_a_422_naming_the_setting(
        api: Api, stack_redis: redis.Redis, uri: str, phrase: str) -> None:
    with leaves_no_trace(stack_redis):
        problem = assert_problem(api.post("/jobs", json=_reference(uri)), 422)
    assert phrase in problem["detail"]


def test_a_link_out_of_the_storage_root_is_refused(api: Api, storage_root: Path, tmp_path: Path) -> None:
    outside = tmp_path / "secret.csv"
    outside.write_text("f0\n1\n")
    link = storage_root / "shared" / "link.csv"
    link.symlink_to(outside)
    problem = assert_problem(api.post("/jobs", json=_reference(f"file://{link}")), 422)
    assert "STORAGE_ROOTS" in problem["detail"]


def test_an_unreadable_uri_is_a_422_without_the_hosts_paths(api: Api, stack: LocalStack, storage_root: Path,
                                                           stack_redis: redis.Redis) -> None:
    with leaves_no_trace(stack_redis):
        missing = assert_problem(api.post("/jobs", json=_reference(f"file://{storage_root}/shared/none.csv")), 422)
        not_parquet = storage_root / "shared" / "fake.parquet"
        not_parquet.write_bytes(b"PAR1 but nothing else")
        garbage = assert_problem(api.post("/jobs", json=_reference(f"file://{not_parquet}")), 422)
    assert "cannot be read" in missing["detail"] and "cannot be read" in garbage["detail"]
    for problem in (missing, garbage):
        assert stack.model_dir not in problem["detail"] and "Traceback" not in problem["detail"]


def test_an_output_folder_that_already_holds_files_is_refused(api: Api, storage_root: Path,
                                                              rows: np.ndarray) -> None:
    source = storage_root / "shared" / "in-for-taken.parquet"
    pq.write_table(_table(rows[:10]), source)
    taken = storage_root / "shared" / "taken"
    taken.mkdir()
    (taken / "part-00000.parquet").write_bytes(b"someone else's")
    problem = assert_problem(api.post("/jobs", json=_reference(f"file://{source}", f"file://{taken}/")), 422)
    assert "already holds files" in problem["detail"]


def test_columns_that_do_not_fit_the_model_are_a_422_before_the_job_is_accepted(api: Api,
                                                                               storage_root: Path) -> None:
    path = storage_root / "shared" / "wrong.csv"
    path.write_text("f0,f1,zzz\n1,2,3\n")
    problem = assert_problem(api.post("/jobs", json=_reference(f"file://{path}")), 422)
    assert {"column": "zzz"}.items() <= problem["errors"][0].items()
