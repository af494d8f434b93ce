"""Every refused request is a problem+json answer, and a refused submission leaves nothing in Redis."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import fakeredis
import kombu.exceptions
import orjson
import pytest
import redis
from flask.testing import FlaskClient

from shared.queue import Lane
from shared.workers import Chunk
from tests.conftest import RecordingQueue
from tests.unit.conftest import StackFactory
from tests.unit.helpers import IRIS_FEATURES, as_objects, assert_problem, iris_rows, redis_keys, to_csv, to_ndjson

ROWS = iris_rows(5)
JSON = "application/json"
CSV = "text/csv"
NDJSON = "application/x-ndjson"
Cell = tuple[int | None, str | None]


def with_cell(value: Any, row: int = 2, column: int = 1) -> list[list[Any]]:
    rows: list[list[Any]] = [list(r) for r in ROWS]
    rows[row][column] = value
    return rows


def json_body(**doc: Any) -> bytes:
    return orjson.dumps(doc)


@dataclass(frozen=True)
class Bad:
    """A submission that must be refused with `status` (and, for validation, exactly these errors)."""

    name: str
    body: bytes
    status: int
    content_type: str | None = JSON
    query: str = ""
    errors: list[Cell] | None = None
    detail: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    names_a_model: bool = False


RAW_ROWS = orjson.dumps(ROWS[:2])[1:-1]
missing_key = as_objects(ROWS, IRIS_FEATURES)
del missing_key[3]["sepal_width"]
unknown_key = as_objects(ROWS, IRIS_FEATURES)
unknown_key[1]["colour"] = 2.0
ragged_csv = to_csv(ROWS[:1], IRIS_FEATURES) + b"1.0,2.0\n" + to_csv(ROWS[1:], IRIS_FEATURES).split(b"\n", 1)[1]

BAD = [
    Bad("bad-json", b'{"instances": [[5.1, 3.5, 1.4, 0.2]', 400),
    Bad("json-not-utf8", b'{"instances": [[5.1, 3.5, 1.4, 0.2]], "metadata": {"a": "\xff"}}', 400,
        detail="UTF-8"),
    Bad("body-array", orjson.dumps(ROWS), 400),
    Bad("no-instances", json_body(model="iris"), 400),
    Bad("instances-object", json_body(instances={"a": ROWS[0]}), 400),
    Bad("no-rows", json_body(instances=[]), 422),
    Bad("mixed-forms", json_body(instances=[ROWS[0], as_objects(ROWS, IRIS_FEATURES)[1]]), 400),
    Bad("row-neither", json_body(instances=[ROWS[0], ROWS[1], 5.1]), 400, errors=[(2, None)]),
    Bad("short-row", json_body(instances=[ROWS[0], ROWS[1][:3]]), 422, errors=[(1, None)]),
    Bad("long-row", json_body(instances=[*ROWS[:3], [*ROWS[3], 1.0]]), 422, errors=[(3, None)]),
    Bad("unknown-key", json_body(instances=unknown_key), 422, errors=[(1, "colour")]),
    Bad("missing-key", json_body(instances=missing_key), 422, errors=[(3, "sepal_width")]),
    Bad("numeric-string", json_body(instances=with_cell("3.5")), 422, errors=[(2, "sepal_width")]),
    Bad("boolean", json_body(instances=with_cell(True)), 422, errors=[(2, "sepal_width")]),
    Bad("null", json_body(instances=with_cell(None)), 422, errors=[(2, "sepal_width")]),
    Bad("NaN", b'{"instances": [' + RAW_ROWS + b", [1.0, NaN, 2.0, 3.0]]}", 422, errors=[(2, "sepal_width")]),
    Bad("Infinity", b'{"instances": [' + RAW_ROWS + b", [1.0, 2.0, Infinity, 3.0]]}", 422,
        errors=[(2, "petal_length")]),
    Bad("-Infinity", b'{"instances": [[-Infinity, 1.0, 2.0, 3.0]]}', 422, errors=[(0, "sepal_length")]),
    Bad("1e309", b'{"instances": [' + RAW_ROWS + b", [1.0, 2.0, 3.0, 1e309]]}", 422, errors=[(2, "petal_width")]),
    Bad("object-NaN", b'{"instances": [{"sepal_length": 1, "sepal_width": NaN, "petal_length": 2, '
        b'"petal_width": 3}]}', 422, errors=[(0, "sepal_width")]),
    Bad("unknown-model", json_body(model="no-such-model", instances=ROWS), 404, names_a_model=True),
    Bad("unknown-version", json_body(version=99, instances=ROWS), 404),
    Bad("version-zero", json_body(version=0, instances=ROWS), 422),
    Bad("version-text", json_body(version="latest", instances=ROWS), 422),
    Bad("model-not-a-name", json_body(model=["iris"], instances=ROWS), 422, names_a_model=True),
    Bad("unknown-method", json_body(method="explain", instances=ROWS), 422),
    Bad("method-the-model-lacks", json_body(model="diabetes", method="predict_proba", instances=[[0.0] * 10]), 422,
        names_a_model=True),
    Bad("metadata-not-object", json_body(instances=ROWS, metadata=["a"]), 400),
    Bad("metadata-over-4-KiB", json_body(instances=ROWS, metadata={"k": "x" * 4089}), 422),
    Bad("callback-host-not-allowed", json_body(instances=ROWS, callback_url="https://hooks.example.com/x"), 422),
    Bad("content-type-text", json_body(instances=ROWS), 415, content_type="text/plain"),
    Bad("content-type-none", json_body(instances=ROWS), 415, content_type=None),
    Bad("content-type-form", b"instances=1", 415, content_type="application/x-www-form-urlencoded"),
    Bad("csv-ragged", ragged_csv, 400, content_type=CSV, detail="line 3"),
    Bad("csv-non-numeric", to_csv(with_cell("abc", row=3, column=0), IRIS_FEATURES), 422, content_type=CSV,
        errors=[(3, "sepal_length")]),
    Bad("csv-empty-cell", to_csv(with_cell(None, row=4, column=3), IRIS_FEATURES), 422, content_type=CSV,
        errors=[(4, "petal_width")]),
    Bad("csv-infinite", to_csv(ROWS, IRIS_FEATURES) + b"1e309,1,2,3\n", 422, content_type=CSV,
        errors=[(5, "sepal_length")]),
    Bad("csv-not-utf8", b"sepal_length,sepal_width,petal_length,petal_width\n1,2,3,\xe9\n", 400, content_type=CSV),
    Bad("csv-unknown-column", b"sepal_length,sepal_width,petal_length,petal_width,colour\n1,2,3,4,5\n", 422,
        content_type=CSV, errors=[(None, "colour")]),
    Bad("csv-missing-column", b"sepal_length,sepal_width,petal_length\n1,2,3\n", 422, content_type=CSV,
        errors=[(None, "petal_width")]),
    Bad("csv-empty", b"", 400, content_type=CSV),
    Bad("csv-bad-version-parameter", to_csv(ROWS, IRIS_FEATURES), 400, content_type=CSV, query="version=x"),
    Bad("csv-unknown-method-parameter", to_csv(ROWS, IRIS_FEATURES), 422, content_type=CSV, query="method=fit"),
    Bad("csv-bad-metadata-parameter", to_csv(ROWS, IRIS_FEATURES), 400, content_type=CSV, query="metadata=%5B1%5D"),
    Bad("ndjson-bad-line", to_ndjson(ROWS[:2]) + b"[1.0, 2.0,\n" + to_ndjson(ROWS[2:]), 400, content_type=NDJSON,
        detail="line 3"),
    Bad("ndjson-short-row", to_ndjson([*ROWS[:2], ROWS[2][:2]]), 422, content_type=NDJSON, errors=[(2, None)]),
    Bad("ndjson-unknown-key", to_ndjson(unknown_key), 422, content_type=NDJSON, errors=[(1, "colour")]),
    Bad("ndjson-mixed-forms", to_ndjson([ROWS[0], as_objects(ROWS, IRIS_FEATURES)[1]]), 400, content_type=NDJSON),
    Bad("ndjson-empty", b"\n", 422, content_type=NDJSON),
    Bad("many-bad-rows", json_body(instances=[["x", 1.0, 2.0, 3.0]] * 150), 422,
        errors=[(i, "sepal_length") for i in range(100)]),
]
BAD_IDS = [b.name for b in BAD]


def url(path: str, *parts: str) -> str:
    query = "&".join(p for p in parts if p)
    return f"{path}?{query}" if query else path


def post(client: FlaskClient, path: str, bad: Bad) -> Any:
    headers = dict(bad.headers)
    if bad.content_type is not None:
        headers["Content-Type"] = bad.content_type
    return client.post(path, data=bad.body, headers=headers)


def check_refusal(response: Any, bad: Bad) -> None:
    problem = assert_problem(response, bad.status)
    if bad.errors is not None:
        assert [(e.get("row"), e.get("column")) for e in problem["errors"]] == bad.errors
        assert all(isinstance(e["message"], str) and e["message"] for e in problem["errors"])
    if bad.detail is not None:
        assert bad.detail in problem["detail"]


@pytest.mark.parametrize("bad", BAD, ids=BAD_IDS)
def test_a_refused_submission_is_a_problem_and_leaves_redis_as_it_was(
        client: FlaskClient, redis_client: redis.Redis, queue: RecordingQueue, bad: Bad) -> None:
    client.get("/healthz")  # the request counter exists before the snapshot
    before = redis_keys(redis_client)
    response = post(client, url("/jobs", bad.query), bad)
    check_refusal(response, bad)
    assert redis_keys(redis_client) == before
    assert queue.messages == []
    assert client.get("/jobs").get_json()["jobs"] == []


@pytest.mark.parametrize("bad", BAD, ids=BAD_IDS)
def test_a_dry_run_refuses_what_a_submission_would(client: FlaskClient, redis_client: redis.Redis, bad: Bad) -> None:
    client.get("/healthz")
    before = redis_keys(redis_client)
    check_refusal(post(client, url("/jobs", bad.query, "dry_run=true"), bad), bad)
    assert redis_keys(redis_client) == before


@pytest.mark.parametrize("bad", [b for b in BAD if not b.names_a_model], ids=[b.name for b in BAD
                                                                              if not b.names_a_model])
def test_sync_predict_refuses_what_a_submission_would(client: FlaskClient, bad: Bad) -> None:
    check_refusal(post(client, url("/models/iris/predict", bad.query), bad), bad)


def test_a_refused_submission_beside_existing_jobs_adds_nothing(client: FlaskClient, redis_client: redis.Redis) -> None:
    assert client.post("/jobs", json={"instances": ROWS}).status_code == 202
    before = redis_keys(redis_client)
    for bad in BAD:
        post(client, url("/jobs", bad.query), bad)
    assert redis_keys(redis_client) == before
    assert len(client.get("/jobs").get_json()["jobs"]) == 1


def test_a_bad_dry_run_flag_is_a_400(client: FlaskClient, redis_client: redis.Redis) -> None:
    client.get("/healthz")
    before = redis_keys(redis_client)
    assert_problem(client.post("/jobs?dry_run=maybe", json={"instances": ROWS}), 400)
    assert redis_keys(redis_client) == before


@pytest.mark.parametrize("key", ["k" * 256, ""])
def test_a_malformed_idempotency_key_is_a_400_that_stores_nothing(client: FlaskClient, redis_client: redis.Redis,
                                                                   queue: RecordingQueue, key: str) -> None:
    client.get("/healthz")
    before = redis_keys(redis_client)
    response = client.post("/jobs", json={"instances": ROWS}, headers={"Idempotency-Key": key})
    assert_problem(response, 400)
    assert redis_keys(redis_client) == before
    assert queue.messages == []


def test_more_rows_than_max_rows_is_a_413_that_stores_nothing(make_stack: StackFactory) -> None:
    stack = make_stack({"MAX_ROWS": "4"})
    stack.client.get("/healthz")
    before = redis_keys(stack.redis)
    for body, content_type in ((json_body(instances=iris_rows(5)), JSON), (to_csv(iris_rows(5), IRIS_FEATURES), CSV),
                               (to_ndjson(iris_rows(5)), NDJSON)):
        problem = assert_problem(stack.client.post("/jobs", data=body, content_type=content_type), 413)
        assert "MAX_ROWS" in problem["detail"]
    assert redis_keys(stack.redis) == before
    assert stack.client.post("/jobs", json={"instances": iris_rows(4)}).status_code == 202


def test_a_body_over_the_byte_limit_is_a_413_that_stores_nothing(make_stack: StackFactory) -> None:
    stack = make_stack({"MAX_BODY_BYTES": "300"})
    stack.client.get("/healthz")
    before = redis_keys(stack.redis)
    body = json_body(instances=iris_rows(20))
    assert len(body) > 300
    assert_problem(stack.client.post("/jobs", data=body, content_type=JSON), 413)
    assert_problem(stack.client.post("/models/iris/predict", data=body, content_type=JSON), 413)
    assert redis_keys(stack.redis) == before
    assert stack.client.post("/jobs", json={"instances": iris_rows(1)}).status_code == 202


def test_a_full_queue_answers_with_retry_after_and_stores_nothing(make_stack: StackFactory) -> None:
    stack = make_stack({"MAX_QUEUED_JOBS": "2"})
    for _ in range(2):
        assert stack.client.post("/jobs", json={"instances": ROWS}).status_code == 202
    before = redis_keys(stack.redis)
    response = stack.client.post("/jobs", json={"instances": ROWS})
    assert response.status_code in (429, 503)
    assert_problem(response, response.status_code)
    assert int(response.headers["Retry-After"]) > 0
    assert redis_keys(stack.redis) == before
    assert len(stack.queue.messages) == 2 * 2
    stack.run()
    assert stack.client.post("/jobs", json={"instances": ROWS}).status_code == 202


def test_a_full_queue_reserves_no_idempotency_key(make_stack: StackFactory) -> None:
    stack = make_stack({"MAX_QUEUED_JOBS": "1"})
    assert stack.client.post("/jobs", json={"instances": ROWS}).status_code == 202
    refused = stack.client.post("/jobs", json={"instances": ROWS[:2]}, headers={"Idempotency-Key": "retry-me"})
    assert refused.status_code in (429, 503)
    stack.run()
    again = stack.client.post("/jobs", json={"instances": ROWS[:2]}, headers={"Idempotency-Key": "retry-me"})
    assert again.status_code == 202


class FailingQueue(RecordingQueue):
    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.error = error

    def send(self, lane: Lane, chunks: Sequence[Chunk]) -> None:
        raise self.error


def test_a_broker_failure_is_a_503_and_leaves_no_job(make_stack: StackFactory, redis_client: redis.Redis) -> None:
    good = make_stack()
    assert good.client.post("/jobs", json={"instances": ROWS}).status_code == 202
    stack = make_stack(queue=FailingQueue(kombu.exceptions.OperationalError("broker away")))
    before = redis_keys(redis_client)
    response = stack.client.post("/jobs", json={"instances": ROWS}, headers={"Idempotency-Key": "k"})
    assert_problem(response, 503)
    assert int(response.headers["Retry-After"]) > 0
    assert redis_keys(redis_client) == before
    assert len(stack.client.get("/jobs").get_json()["jobs"]) == 1
    assert good.client.post("/jobs", json={"instances": ROWS}, headers={"Idempotency-Key": "k"}).status_code == 202


def test_an_unexpected_error_is_a_500_problem_that_leaks_nothing(make_stack: StackFactory) -> None:
    stack = make_stack(queue=FailingQueue(RuntimeError("secret-token-123 in a stack trace")))
    response = stack.client.post("/jobs", json={"instances": ROWS})
    problem = assert_problem(response, 500)
    assert "secret-token-123" not in response.get_data(as_text=True)
    assert "RuntimeError" not in problem["detail"]


def test_redis_down_is_a_503_problem(make_stack: StackFactory) -> None:
    server = fakeredis.FakeServer()
    client = fakeredis.FakeRedis(server=server)
    stack = make_stack(client=client)
    job_id = stack.client.post("/jobs", json={"instances": ROWS}).get_json()["job_id"]
    server.connected = False
    for response in (stack.client.post("/jobs", json={"instances": ROWS}), stack.client.get(f"/jobs/{job_id}"),
                     stack.client.get("/jobs")):
        assert_problem(response, 503)
        assert int(response.headers["Retry-After"]) > 0


# ---------------------------------------------------------------- routes and ids


@pytest.mark.parametrize(("method", "path", "allowed"), [
    ("PUT", "/jobs", {"GET", "POST"}),
    ("PATCH", "/jobs/" + "0" * 32, {"GET", "DELETE"}),
    ("POST", "/jobs/" + "0" * 32, {"GET", "DELETE"}),
    ("DELETE", "/models", {"GET"}),
    ("GET", "/models/iris/predict", {"POST"}),
    ("POST", "/healthz", {"GET"}),
    ("DELETE", "/jobs/" + "0" * 32 + "/results", {"GET"}),
])
def test_a_method_a_route_does_not_take_is_a_405_problem_with_allow(client: FlaskClient, method: str, path: str,
                                                                     allowed: set[str]) -> None:
    response = client.open(path, method=method)
    assert_problem(response, 405)
    offered = {m.strip() for m in response.headers["Allow"].split(",")}
    assert allowed <= offered
    assert method not in offered


@pytest.mark.parametrize("path", ["/nope", "/jobs/", "/models/iris/versions", "/jobs/x/y/z"])
def test_an_unknown_route_is_a_404_problem(client: FlaskClient, path: str) -> None:
    assert_problem(client.get(path), 404)


@pytest.mark.parametrize("job_id", ["x" * 200, "not-a-job", "0" * 32, "f" * 32, "A" * 32, "%00", "..%2f..",
                                    "0" * 31, "9f1c"])
@pytest.mark.parametrize("method", ["GET", "DELETE", "GET-results"])
def test_an_id_that_no_job_has_is_a_404_problem(client: FlaskClient, job_id: str, method: str) -> None:
    client.post("/jobs", json={"instances": ROWS})
    if method == "GET-results":
        response = client.get(f"/jobs/{job_id}/results")
    else:
        response = client.open(f"/jobs/{job_id}", method=method)
    problem = assert_problem(response, 404)
    assert len(problem["detail"]) < 200


@pytest.mark.parametrize("path", ["/models/no-such-model", "/models/no-such-model/predict"])
def test_an_unknown_model_is_a_404_problem(client: FlaskClient, path: str) -> None:
    response = client.post(path, json={"instances": ROWS}) if path.endswith("predict") else client.get(path)
    assert_problem(response, 404)


def test_an_ndjson_row_split_over_two_lines_is_a_400_that_leaves_nothing(client: FlaskClient,
                                                                       redis_client: redis.Redis) -> None:
    client.get("/healthz")
    before = redis_keys(redis_client)
    response = client.post("/jobs", data=b"[5.1, 3.5\n1.4, 0.2]\n", content_type=NDJSON)
    problem = assert_problem(response, 400)
    assert "line 1" in problem["detail"]
    assert redis_keys(redis_client) == before
