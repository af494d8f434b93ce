"""Every refusal over real HTTP is application/problem+json, and a refused submission leaves nothing in Redis."""

from __future__ import annotations

import json
from typing import Any

import pytest
import redis

from scripts.make_models import IRIS_FEATURES
from tests.integration.support import Api, assert_problem, describe, leaves_no_trace

pytestmark = pytest.mark.integration

ROW = [5.1, 3.5, 1.4, 0.2]
OBJECT_ROW = dict(zip(IRIS_FEATURES, ROW, strict=True))
CSV_HEADER = ",".join(IRIS_FEATURES)
UNKNOWN_ID = "0123456789abcdef0123456789abcdef"


def _json(doc: Any) -> bytes:
    return json.dumps(doc).encode()


# (case id, status, Content-Type, body, query parameters, the (row, column) pairs the errors name)
REFUSED: list[tuple[str, int, str | None, bytes, dict[str, str], list[tuple[int | None, str | None]] | None]] = [
    ("bad-json", 400, "application/json", b'{"instances": [[5.1, 3.5, 1.4, 0.2]', {}, None),
    ("json-body-not-an-object", 400, "application/json", _json([ROW]), {}, None),
    ("no-instances", 400, "application/json", _json({"model": "iris"}), {}, None),
    ("instances-not-a-list", 400, "application/json", _json({"instances": {"sepal_length": 1}}), {}, None),
    ("mixed-row-forms", 400, "application/json",
     _json({"instances": [ROW, OBJECT_ROW]}), {}, None),
    ("row-neither-array-nor-object", 400, "application/json", _json({"instances": [ROW, 5.0]}), {},
     [(1, None)]),
    ("ragged-csv", 400, "text/csv", f"{CSV_HEADER}\n5.1,3.5,1.4,0.2\n5.1,3.5,1.4\n".encode(), {}, None),
    ("csv-not-utf8", 400, "text/csv", f"{CSV_HEADER}\n5.1,3.5,1.4,0.2\n".encode() + b"\xff\xfe,1,2,3\n", {}, None),
    ("json-not-utf8", 400, "application/json", b'{"instances": [[5.1, 3.5, 1.4, 0.2]], "metadata": {"a": "\xff"}}',
     {}, None),
    ("ndjson-not-utf8", 400, "application/x-ndjson", b"[5.1, 3.5, 1.4, 0.2]\n[\xff]\n", {}, None),
    ("ndjson-bad-line", 400, "application/x-ndjson", b"[5.1, 3.5, 1.4, 0.2]\n[5.1, 3.5\n", {}, None),
    ("metadata-not-an-object", 400, "application/json", _json({"instances": [ROW], "metadata": [1]}), {}, None),
    ("unknown-model", 404, "application/json", _json({"model": "no-such-model", "instances": [ROW]}), {}, None),
    ("unknown-version", 404, "application/json", _json({"model": "iris", "version": 99, "instances": [ROW]}), {},
     None),
    ("unknown-version-csv", 404, "text/csv", f"{CSV_HEADER}\n5.1,3.5,1.4,0.2\n".encode(),
     {"model": "iris", "version": "7"}, None),
    ("text-plain", 415, "text/plain", b"5.1,3.5,1.4,0.2", {}, None),
    ("form-encoded", 415, "application/x-www-form-urlencoded", b"instances=1", {}, None),
    ("no-content-type", 415, None, _json({"instances": [ROW]}), {}, None),
    ("no-rows", 422, "application/json", _json({"instances": []}), {}, None),
    ("wrong-number-of-values", 422, "application/json", _json({"instances": [ROW, ROW[:3]]}), {}, [(1, None)]),
    ("null-where-model-cannot-take-it", 422, "application/json",
     _json({"instances": [ROW, ROW, [5.1, 3.5, None, 0.2]]}), {}, [(2, "petal_length")]),
    ("numeric-string", 422, "application/json", _json({"instances": [ROW, [5.1, "3.5", 1.4, 0.2]]}), {},
     [(1, "sepal_width")]),
    ("boolean", 422, "application/json", _json({"instances": [[5.1, 3.5, 1.4, True]]}), {}, [(0, "petal_width")]),
    ("nan", 422, "application/json", b'{"instances": [[5.1, 3.5, 1.4, 0.2], [NaN, 3.5, 1.4, 0.2]]}', {},
     [(1, "sepal_length")]),
    ("overflowing-number", 422, "application/json", b'{"instances": [[5.1, 3.5, 1e309, 0.2]]}', {},
     [(0, "petal_length")]),
    ("unknown-key", 422, "application/json",
     _json({"instances": [{**OBJECT_ROW, "petal_colour": 1.0}]}), {}, [(0, "petal_colour")]),
    ("missing-key", 422, "application/json", _json({"instances": [{k: OBJECT_ROW[k] for k in IRIS_FEATURES[:3]}]}), {},
     [(0, "petal_width")]),
    ("csv-not-a-number", 422, "text/csv", f"{CSV_HEADER}\n5.1,3.5,1.4,0.2\n5.1,abc,1.4,0.2\n".encode(), {},
     [(1, "sepal_width")]),
    ("csv-empty-cell-where-model-cannot-take-it", 422, "text/csv",
     f"{CSV_HEADER}\n5.1,3.5,1.4,0.2\n5.1,3.5,1.4,\n".encode(), {}, [(1, "petal_width")]),
    ("csv-unknown-column", 422, "text/csv", b"sepal_length,sepal_width,petal_length,petal_size\n1,2,3,4\n", {},
     [(None, "petal_size"), (None, "petal_width")]),
    ("ndjson-null", 422, "application/x-ndjson", b'[5.1, 3.5, 1.4, 0.2]\n[5.1, null, 1.4, 0.2]\n', {},
     [(1, "sepal_width")]),
    ("unknown-method", 422, "application/json", _json({"method": "transform", "instances": [ROW]}), {}, None),
    ("method-the-model-lacks", 422, "application/json",
     _json({"model": "diabetes", "method": "predict_proba", "instances": [[0.0] * 10]}), {}, None),
    ("metadata-over-4-kib", 422, "application/json", _json({"instances": [ROW], "metadata": {"x": "y" * 4200}}), {},
     None),
    ("callback-host-not-allowed", 422, "application/json",
     _json({"instances": [ROW], "callback_url": "http://example.com/hook"}), {}, None),
]


@pytest.mark.parametrize(("status", "content_type", "body", "params", "named"),
                         [case[1:] for case in REFUSED], ids=[case[0] for case in REFUSED])
def test_refused_submission_is_a_problem_and_leaves_nothing_behind(
        api: Api, stack_redis: redis.Redis, status: int, content_type: str | None, body: bytes,
        params: dict[str, str], named: list[tuple[int | None, str | None]] | None) -> None:
    with leaves_no_trace(stack_redis):
        answer = api.post_raw(body, content_type, params=params, headers={"Idempotency-Key": "refused-once"})
        problem = assert_problem(answer, status)
    if named is not None:
        got = [(e.get("row"), e.get("column")) for e in problem["errors"]]
        assert got == named, f"errors name {got}, expected {named}: {problem}"
        assert all(isinstance(e["message"], str) and e["message"] for e in problem["errors"])


BIG_STREAMED = {
    # over one 4 MiB parse block, so the first blocks' chunks are stored before the bad last row is read
    "csv": ("text/csv", (CSV_HEADER + "\n" + "5.1,3.5,1.4,0.2\n" * 280_000 + "5.1,3.5,1.4,oops\n").encode(),
            [(280_000, "petal_width")]),
    "ndjson": ("application/x-ndjson", b"[5.1, 3.5, 1.4, 0.2]\n" * 210_000 + b"[5.1, 3.5, 1.4, null]\n",
               [(210_000, "petal_width")]),
}


@pytest.mark.parametrize("form", BIG_STREAMED)
def test_big_streamed_body_refused_at_its_last_row_leaves_nothing_behind(api: Api, stack_redis: redis.Redis,
                                                                         form: str) -> None:
    content_type, body, named = BIG_STREAMED[form]
    assert len(body) > 4 << 20
    with leaves_no_trace(stack_redis):
        problem = assert_problem(api.post_raw(body, content_type), 422)
    assert [(e.get("row"), e.get("column")) for e in problem["errors"]] == named


def test_dry_run_of_a_refused_body_is_the_same_problem_and_of_a_valid_one_enqueues_nothing(
        api: Api, stack_redis: redis.Redis) -> None:
    with leaves_no_trace(stack_redis):
        refused = api.post("/jobs", params={"dry_run": "true"}, json={"instances": [[5.1, None, 1.4, 0.2]]})
        problem = assert_problem(refused, 422)
        assert [(e["row"], e["column"]) for e in problem["errors"]] == [(0, "sepal_width")]
        valid = api.post("/jobs", params={"dry_run": "true"}, json={"instances": [ROW] * 3})
        assert valid.status_code == 200, describe(valid)
        assert valid.json() == {"valid": True, "rows": 3}


def test_more_than_a_hundred_bad_cells_list_the_first_hundred(api: Api, stack_redis: redis.Redis) -> None:
    with leaves_no_trace(stack_redis):
        problem = assert_problem(api.post("/jobs", json={"instances": [[1.0, 2.0, 3.0, "x"]] * 150}), 422)
    assert [(e["row"], e["column"]) for e in problem["errors"]] == [(i, "petal_width") for i in range(100)]


@pytest.mark.parametrize("form", ["json", "csv"])
def test_idempotency_key_refused_then_accepted_makes_one_job(api: Api, stack_redis: redis.Redis, form: str) -> None:
    headers = {"Idempotency-Key": f"first-refused-then-fixed-{form}"}
    content_type = "application/json" if form == "json" else "text/csv"

    def body(rows: list[Any]) -> bytes:
        if form == "json":
            return _json({"instances": rows})
        return (CSV_HEADER + "\n" + "".join(",".join(map(str, row)) + "\n" for row in rows)).encode()

    with leaves_no_trace(stack_redis):
        assert_problem(api.post_raw(body([[1.0, 2.0, 3.0]]), content_type, headers=headers), 400 if form == "csv"
                       else 422)
    first = api.post_raw(body([ROW] * 250), content_type, headers=headers)
    assert first.status_code == 202, describe(first)
    api.wait(first.json()["job_id"])
    with leaves_no_trace(stack_redis):
        again = api.post_raw(body([ROW] * 250), content_type, headers=headers)
        assert again.status_code == 200, describe(again)
        assert again.json()["job_id"] == first.json()["job_id"]
        assert again.json()["status"] == "succeeded" and len(again.json()["results"]) == 250
        assert_problem(api.post_raw(body([ROW] * 251), content_type, headers=headers), 409)


@pytest.mark.parametrize(("method", "path"), [
    ("GET", f"/jobs/{UNKNOWN_ID}"),
    ("GET", "/jobs/not-a-job-id"),
    ("GET", f"/jobs/{UNKNOWN_ID.upper()}"),
    ("GET", f"/jobs/{UNKNOWN_ID}/results"),
    ("DELETE", f"/jobs/{UNKNOWN_ID}"),
    ("GET", "/models/no-such-model"),
    ("POST", "/models/no-such-model/predict"),
    ("GET", "/no-such-route"),
])
def test_unknown_things_are_404_problems(api: Api, method: str, path: str) -> None:
    kw: dict[str, Any] = {"json": {"instances": [ROW]}} if method == "POST" else {}
    assert_problem(api.request(method, path, **kw), 404)


def test_unknown_version_on_the_sync_route_is_404(api: Api) -> None:
    assert_problem(api.post("/models/iris/predict", json={"version": "5", "instances": [ROW]}), 404)


@pytest.mark.parametrize(("method", "path", "allowed"), [
    ("PUT", "/jobs", {"GET", "POST"}),
    ("PATCH", f"/jobs/{UNKNOWN_ID}", {"GET", "DELETE"}),
    ("DELETE", "/models", {"GET"}),
    ("POST", "/healthz", {"GET"}),
    ("PUT", "/models/iris/predict", {"POST"}),
])
def test_wrong_method_is_a_405_problem_with_allow(api: Api, method: str, path: str, allowed: set[str]) -> None:
    answer = api.request(method, path, data=b"{}", headers={"Content-Type": "application/json"})
    assert_problem(answer, 405)
    offered = {m.strip() for m in answer.headers.get("Allow", "").split(",")} - {"HEAD", "OPTIONS"}
    assert offered == allowed, describe(answer)


def test_sync_route_naming_another_model_in_the_body_is_422(api: Api) -> None:
    assert_problem(api.post("/models/iris/predict", json={"model": "diabetes", "instances": [ROW]}), 422)


@pytest.fixture(scope="module")
def finished_job(api: Api) -> dict[str, Any]:
    return api.run({"instances": [ROW] * 3})


@pytest.mark.parametrize("query", ["limit=0", "limit=100001", "limit=-1", "limit=ten", "offset=-3",
                                   "format=xml", "follow=maybe", "follow=true"])
def test_bad_results_query_is_400(api: Api, finished_job: dict[str, Any], query: str) -> None:
    assert_problem(api.get(f"/jobs/{finished_job['job_id']}/results?{query}"), 400)


def test_cancelling_a_finished_job_is_409_and_changes_nothing(api: Api, finished_job: dict[str, Any]) -> None:
    assert_problem(api.delete(f"/jobs/{finished_job['job_id']}"), 409)
    after = api.job(finished_job["job_id"])
    assert after["status"] == "succeeded"
    assert (after["finished_at"], after["results"]) == (finished_job["finished_at"], finished_job["results"])


@pytest.mark.parametrize("path", ["/jobs?status=finished", "/jobs?limit=0", "/jobs?limit=501",
                                  "/jobs?cursor=abc", f"/jobs/{UNKNOWN_ID}?wait=soon", f"/jobs/{UNKNOWN_ID}?wait=-1"])
def test_bad_query_parameters_are_400(api: Api, path: str) -> None:
    assert_problem(api.get(path), 400)
