"""Bodies streamed in many blocks: chunks stored as they are parsed, and every trace gone when refused."""

from __future__ import annotations

import functools
import io
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import redis
from flask.testing import FlaskClient

from shared.parsing import submission
from shared.parsing.csv_stream import iter_csv
from shared.parsing.ndjson_stream import iter_ndjson
from shared.registry import ModelRegistry, load_estimator
from tests.conftest import RecordingQueue
from tests.unit.conftest import StackFactory
from tests.unit.helpers import (
    IRIS_FEATURES,
    as_objects,
    assert_problem,
    iris_rows,
    predict_directly,
    redis_keys,
    to_csv,
    to_ndjson,
)

Runner = Callable[[], list[str]]
ROWS = iris_rows(60)
CSV = "text/csv"
NDJSON = "application/x-ndjson"
PARQUET = "application/vnd.apache.parquet"


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Blocks of about 50 bytes, so a body of a few rows already spans many blocks and chunks."""
    monkeypatch.setattr(submission, "iter_csv", functools.partial(iter_csv, block_bytes=50))
    monkeypatch.setattr(submission, "iter_ndjson", functools.partial(iter_ndjson, block_bytes=50))


def parquet_body(rows: list[list[Any]]) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(pa.table({name: [r[j] for r in rows] for j, name in enumerate(IRIS_FEATURES)}), buffer,
                   row_group_size=7)
    return buffer.getvalue()


def bodies(rows: list[list[Any]]) -> list[tuple[str, bytes]]:
    return [(CSV, to_csv(rows, IRIS_FEATURES)), (NDJSON, to_ndjson(rows)),
            (NDJSON, to_ndjson(as_objects(rows, IRIS_FEATURES, reverse_keys=True)))]


@pytest.mark.parametrize("form", [0, 1, 2, 3], ids=["csv", "ndjson-arrays", "ndjson-objects", "parquet"])
def test_a_streamed_body_gives_every_row_in_order(client: FlaskClient, run_queued: Runner, queue: RecordingQueue,
                                                  registry: ModelRegistry, form: int) -> None:
    content_type, body = [*bodies(ROWS), (PARQUET, parquet_body(ROWS))][form]
    response = client.post("/jobs", data=body, content_type=content_type)
    assert response.status_code == 202
    assert response.get_json()["rows"] == len(ROWS)
    assert len(queue.messages) == len(ROWS) // 4
    run_queued()
    job = client.get(response.headers["Location"]).get_json()
    assert job["results"] == predict_directly(load_estimator(registry.get("iris")), "predict", ROWS)


@pytest.mark.parametrize("form", [0, 1, 2], ids=["csv", "ndjson-arrays", "ndjson-objects"])
def test_a_bad_cell_late_in_a_stream_is_a_422_naming_its_row_and_leaves_nothing(
        client: FlaskClient, redis_client: redis.Redis, queue: RecordingQueue, form: int) -> None:
    rows: list[list[Any]] = [list(r) for r in ROWS]
    rows[57][2] = None
    content_type, body = bodies(rows)[form]
    client.get("/healthz")
    before = redis_keys(redis_client)
    problem = assert_problem(client.post("/jobs", data=body, content_type=content_type), 422)
    assert [(e["row"], e["column"]) for e in problem["errors"]] == [(57, "petal_length")]
    assert redis_keys(redis_client) == before
    assert queue.messages == []


@pytest.mark.parametrize("form", [0, 1, 3], ids=["csv", "ndjson", "parquet"])
def test_too_many_rows_in_a_stream_is_a_413_that_leaves_nothing(make_stack: StackFactory, form: int) -> None:
    stack = make_stack({"MAX_ROWS": "50"})
    content_type, body = [*bodies(ROWS), (PARQUET, parquet_body(ROWS))][form]
    stack.client.get("/healthz")
    before = redis_keys(stack.redis)
    assert_problem(stack.client.post("/jobs", data=body, content_type=content_type), 413)
    assert redis_keys(stack.redis) == before
    assert stack.queue.messages == []


def test_a_ragged_row_late_in_a_csv_stream_is_a_400_naming_its_line_and_leaves_nothing(
        client: FlaskClient, redis_client: redis.Redis) -> None:
    body = to_csv(ROWS, IRIS_FEATURES) + b"1.0,2.0\n"
    client.get("/healthz")
    before = redis_keys(redis_client)
    problem = assert_problem(client.post("/jobs", data=body, content_type=CSV), 400)
    assert f"line {len(ROWS) + 2}" in problem["detail"]
    assert redis_keys(redis_client) == before


def test_a_bad_ndjson_line_late_in_a_stream_is_a_400_naming_it_and_leaves_nothing(
        client: FlaskClient, redis_client: redis.Redis) -> None:
    body = to_ndjson(ROWS) + b"[1.0, 2.0,\n"
    client.get("/healthz")
    before = redis_keys(redis_client)
    problem = assert_problem(client.post("/jobs", data=body, content_type=NDJSON), 400)
    assert f"line {len(ROWS) + 1}" in problem["detail"]
    assert redis_keys(redis_client) == before


def test_a_body_over_the_byte_limit_without_a_length_is_a_413_that_leaves_nothing(make_stack: StackFactory) -> None:
    stack = make_stack({"MAX_BODY_BYTES": "600"})
    body = to_csv(ROWS, IRIS_FEATURES)
    assert len(body) > 600
    stack.client.get("/healthz")
    before = redis_keys(stack.redis)
    response = stack.client.post("/jobs", input_stream=io.BytesIO(body), content_type=CSV,
                                 headers={"Transfer-Encoding": "chunked"},
                                 environ_overrides={"wsgi.input_terminated": True})
    assert_problem(response, 413)
    assert redis_keys(stack.redis) == before


def test_a_streamed_idempotent_repeat_makes_no_second_job(client: FlaskClient, redis_client: redis.Redis,
                                                          queue: RecordingQueue) -> None:
    body = to_csv(ROWS, IRIS_FEATURES)
    first = client.post("/jobs", data=body, content_type=CSV, headers={"Idempotency-Key": "s"})
    assert first.status_code == 202
    before = redis_keys(redis_client)
    messages = list(queue.messages)
    again = client.post("/jobs", data=body, content_type=CSV, headers={"Idempotency-Key": "s"})
    assert (again.status_code, again.get_json()["job_id"]) == (200, first.get_json()["job_id"])
    other = client.post("/jobs", data=body + b"1,2,3,4\n", content_type=CSV, headers={"Idempotency-Key": "s"})
    assert_problem(other, 409)
    assert redis_keys(redis_client) == before
    assert queue.messages == messages


def test_a_streamed_dry_run_counts_rows_and_stores_nothing(client: FlaskClient, redis_client: redis.Redis) -> None:
    client.get("/healthz")
    before = redis_keys(redis_client)
    for content_type, body in [*bodies(ROWS), (PARQUET, parquet_body(ROWS))]:
        response = client.post("/jobs?dry_run=true", data=body, content_type=content_type)
        assert response.get_json() == {"valid": True, "rows": len(ROWS)}
    assert redis_keys(redis_client) == before


def test_sync_predict_of_a_streamed_body(client: FlaskClient, registry: ModelRegistry) -> None:
    for content_type, body in [*bodies(ROWS), (PARQUET, parquet_body(ROWS))]:
        response = client.post("/models/iris/predict?method=predict_proba", data=body, content_type=content_type)
        assert response.status_code == 200
        np.testing.assert_allclose(response.get_json()["results"],
                                   predict_directly(load_estimator(registry.get("iris")), "predict_proba", ROWS))


def test_sync_predict_over_its_row_limit_in_a_stream_is_a_413(make_stack: StackFactory) -> None:
    stack = make_stack({"SYNC_MAX_ROWS": "59"})
    for content_type, body in bodies(ROWS):
        problem = assert_problem(stack.client.post("/models/iris/predict", data=body, content_type=content_type), 413)
        assert "/jobs" in problem["detail"]
