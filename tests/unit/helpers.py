"""Data and assertions the unit tests share."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pyarrow as pa
import redis
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from werkzeug.test import TestResponse

from shared.job import Job, JobStatus
from shared.store import JobStore, new_job_id

IRIS_FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
DIABETES_FEATURES = ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]
BREAST_CANCER_FEATURES = [str(n).replace(" ", "_") for n in load_breast_cancer().feature_names]

_IRIS = load_iris().data
_DIABETES = load_diabetes().data
_BREAST_CANCER = load_breast_cancer().data

PROBLEM_TYPE = "application/problem+json"
PROBLEM_FIELDS = ("type", "title", "status", "detail")


def iris_rows(n: int = 10, start: int = 0) -> list[list[float]]:
    """`n` real iris rows (every class appears once n passes 100), as JSON-ready lists."""
    picked = [(start + i * 7) % len(_IRIS) for i in range(n)]
    return [[float(v) for v in _IRIS[i]] for i in picked]


def diabetes_rows(n: int = 10) -> list[list[float]]:
    return [[float(v) for v in _DIABETES[i % len(_DIABETES)]] for i in range(n)]


def breast_cancer_rows(n: int = 10) -> list[list[float]]:
    return [[float(v) for v in _BREAST_CANCER[(i * 13) % len(_BREAST_CANCER)]] for i in range(n)]


def as_objects(rows: list[list[Any]], features: list[str], reverse_keys: bool = False) -> list[dict[str, Any]]:
    """Rows as objects keyed by feature name; `reverse_keys` writes the keys in the opposite order."""
    order = list(reversed(features)) if reverse_keys else features
    return [{name: row[features.index(name)] for name in order} for row in rows]


def to_csv(rows: list[list[Any]], features: list[str]) -> bytes:
    lines = [",".join(features)] + [",".join("" if v is None else repr(v) for v in row) for row in rows]
    return ("\n".join(lines) + "\n").encode()


def to_ndjson(rows: list[Any]) -> bytes:
    import orjson

    return b"".join(orjson.dumps(row) + b"\n" for row in rows)


def assert_problem(response: TestResponse, status: int) -> dict[str, Any]:
    """`response` is an RFC 9457 problem with `status`; its body."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM_TYPE
    body = response.get_json(force=True)
    assert isinstance(body, dict)
    for name in PROBLEM_FIELDS:
        assert name in body, f"problem without {name}: {body}"
    assert body["status"] == status
    assert isinstance(body["type"], str) and body["type"]
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str) and body["detail"]
    return body


def redis_keys(client: redis.Redis) -> set[bytes]:
    return set(client.keys("*"))


def keys_without_ttl(client: redis.Redis) -> list[bytes]:
    return sorted(k for k in client.keys("*") if client.ttl(k) <= 0)


def predict_directly(estimator: Any, method: str, rows: list[list[float]]) -> list[Any]:
    """What the model itself answers for `rows`, as JSON values."""
    result: list[Any] = np.asarray(getattr(estimator, method)(np.asarray(rows, dtype=np.float64))).tolist()
    return result


# --------------------------------------------------------------------------- jobs in a bare store
TTL = 3600
ATTEMPTS = 3
MANY = 10**6


def make_job(rows: int = 10, chunk_rows: int = 4, owner: str = "alice", method: str = "predict") -> Job:
    return Job(job_id=new_job_id(), owner=owner, status=JobStatus.QUEUED,
               model={"name": "iris", "version": "2", "sha256": "ab" * 32}, method=method, rows=rows,
               chunk_rows=chunk_rows, chunks_total=-(-rows // chunk_rows), rows_done=0, chunks_done=0,
               created_at=time.time(), started_at=None, finished_at=None, error=None,
               metadata={"who": "test"}, classes=["setosa", "versicolor", "virginica"])


def inputs(rows: int) -> np.ndarray:
    return np.arange(rows * 4, dtype=np.float64).reshape(rows, 4)


def created(store: JobStore, rows: int = 10, owner: str = "alice", chunk_rows: int = 4) -> Job:
    job = make_job(rows, chunk_rows, owner)
    store.create(job, inputs(rows), MANY)
    return job


def as_array(table: pa.Table) -> np.ndarray:
    """A result table's output columns as the array the model answered."""
    columns = [c.to_numpy(zero_copy_only=False) for c in table.columns]
    return columns[0] if table.column_names in (["prediction"], ["decision"]) else np.column_stack(columns)


def result_of(job: Job, index: int) -> np.ndarray:
    start, stop = job.chunk_bounds(index)
    return np.arange(start, stop, dtype=np.float64) * 10


def finish(store: JobStore, job: Job, index: int) -> str:
    return str(store.finish_chunk(job, index, result_of(job, index)).value)
