"""413s from a stack started with small limits: too many bytes, too many rows, too many rows to score at once."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from scripts.make_models import IRIS_FEATURES
from scripts.stack import LocalStack
from tests.integration.support import Api, assert_problem, describe, leaves_no_trace, start_stack

pytestmark = pytest.mark.integration

MAX_ROWS = 50
MAX_BODY_BYTES = 20_000
SYNC_MAX_ROWS = 10
ROW = [5.1, 3.5, 1.4, 0.2]


@pytest.fixture(scope="module")
def small_stack(stack_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    env = {"MAX_ROWS": str(MAX_ROWS), "MAX_BODY_BYTES": str(MAX_BODY_BYTES), "SYNC_MAX_ROWS": str(SYNC_MAX_ROWS)}
    with start_stack(LocalStack(workers=1, env=env, model_dir=str(stack_model_dir),
                                log_dir=str(tmp_path_factory.mktemp("small-stack-logs")))) as running:
        yield running


@pytest.fixture(scope="module")
def small_api(small_stack: LocalStack) -> Iterator[Api]:
    with Api(small_stack.base_url) as client:
        yield client


@pytest.fixture(scope="module")
def small_redis(small_stack: LocalStack) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(small_stack.redis_url)
    yield client
    client.close()


def _csv(rows: int) -> bytes:
    return (",".join(IRIS_FEATURES) + "\n" + "5.1,3.5,1.4,0.2\n" * rows).encode()


def _ndjson(rows: int) -> bytes:
    return b"[5.1, 3.5, 1.4, 0.2]\n" * rows


def test_at_the_row_limit_a_job_is_accepted_and_scored(small_api: Api) -> None:
    job = small_api.run({"instances": [ROW] * MAX_ROWS})
    assert job["rows"] == MAX_ROWS and len(job["results"]) == MAX_ROWS


@pytest.mark.parametrize(("content_type", "body"), [
    ("application/json", json.dumps({"instances": [ROW] * (MAX_ROWS + 1)}).encode()),
    ("text/csv", _csv(MAX_ROWS + 1)),
    ("application/x-ndjson", _ndjson(MAX_ROWS + 1)),
], ids=["json", "csv", "ndjson"])
def test_one_row_over_the_row_limit_is_413(small_api: Api, small_redis: redis.Redis, content_type: str,
                                           body: bytes) -> None:
    assert len(body) < MAX_BODY_BYTES
    with leaves_no_trace(small_redis):
        assert_problem(small_api.post_raw(body, content_type, headers={"Idempotency-Key": "too-many"}), 413)


def _padded_json(size: int) -> bytes:
    """A valid one-row JSON body of exactly `size` bytes (whitespace padding)."""
    core = json.dumps({"instances": [ROW]}).encode()
    return core[:-1] + b" " * (size - len(core)) + b"}"


def test_a_body_at_the_byte_limit_is_accepted(small_api: Api) -> None:
    body = _padded_json(MAX_BODY_BYTES)
    assert len(body) == MAX_BODY_BYTES
    answer = small_api.post_raw(body, "application/json")
    assert answer.status_code == 202, describe(answer)


def test_a_body_one_byte_over_the_limit_is_413(small_api: Api, small_redis: redis.Redis) -> None:
    with leaves_no_trace(small_redis):
        assert_problem(small_api.post_raw(_padded_json(MAX_BODY_BYTES + 1), "application/json"), 413)


def _csv_cut_at_the_limit() -> bytes:
    """A CSV body of 45 rows (under MAX_ROWS) whose first MAX_BODY_BYTES bytes end with the 40th whole row."""
    header = _csv(0)
    width = (MAX_BODY_BYTES - len(header)) // 40
    rows = [b"5.1,3.5,1.4," + b" " * (width - 16) + b"0.2\n" for _ in range(40)]
    rows[-1] = b"5.1,3.5,1.4," + b" " * (MAX_BODY_BYTES - len(header) - 39 * width - 16) + b"0.2\n"
    body = header + b"".join(rows)
    assert len(body) == MAX_BODY_BYTES
    return body + b"6.7,3.0,5.2,2.3\n" * 5


@pytest.mark.parametrize(("content_type", "body"), [
    pytest.param("application/json", _padded_json(3 * MAX_BODY_BYTES), id="json"),
    pytest.param("text/csv", _csv_cut_at_the_limit(), id="csv-cut-at-a-row-boundary"),
    pytest.param("application/x-ndjson", (b"[5.1, 3.5, 1.4, 0.2]" + b" " * 1_000 + b"\n") * 30, id="ndjson"),
])
def test_a_chunked_body_over_the_byte_limit_is_413(small_api: Api, small_redis: redis.Redis, content_type: str,
                                                   body: bytes) -> None:
    """No Content-Length to go by: the byte limit still holds for a body sent in chunks."""
    assert len(body) > MAX_BODY_BYTES
    pieces = iter([body[i:i + 4096] for i in range(0, len(body), 4096)])
    with leaves_no_trace(small_redis):
        answer = small_api.post_raw(pieces, content_type)
        assert answer.request.headers.get("Transfer-Encoding") == "chunked"
        assert_problem(answer, 413)


def test_sync_predict_over_sync_max_rows_is_413_pointing_at_jobs(small_api: Api, small_redis: redis.Redis) -> None:
    ok = small_api.post("/models/iris/predict", json={"instances": [ROW] * SYNC_MAX_ROWS})
    assert ok.status_code == 200, describe(ok)
    assert len(ok.json()["results"]) == SYNC_MAX_ROWS
    with leaves_no_trace(small_redis):
        problem = assert_problem(small_api.post("/models/iris/predict", json={"instances": [ROW] * 11}), 413)
    assert "/jobs" in problem["detail"]


def test_sync_predict_over_the_body_limit_is_413(small_api: Api) -> None:
    assert_problem(small_api.post_raw(_padded_json(MAX_BODY_BYTES + 1), "application/json",
                                      path="/models/iris/predict"), 413)
