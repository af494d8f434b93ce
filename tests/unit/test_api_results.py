"""GET /jobs/<id>/results: inline limit, JSON pages, streamed CSV and NDJSON, follow, and 409s."""

from __future__ import annotations

import csv
import io
import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import orjson
import pytest
import redis
from flask.testing import FlaskClient

from shared.registry import ModelRegistry, load_estimator
from shared.store import input_key
from tests.conftest import RecordingQueue
from tests.unit.conftest import StackFactory
from tests.unit.helpers import assert_problem, breast_cancer_rows, iris_rows, predict_directly

Runner = Callable[[], list[str]]
ROWS = iris_rows(23)


def done_job(client: FlaskClient, run_queued: Runner, rows: list[list[float]] = ROWS,
             **doc: Any) -> str:
    response = client.post("/jobs", json={"instances": rows, **doc})
    assert response.status_code == 202
    run_queued()
    job_id: str = response.get_json()["job_id"]
    return job_id


def expected(registry: ModelRegistry, method: str = "predict", rows: list[list[float]] = ROWS,
             name: str = "iris") -> list[Any]:
    return predict_directly(load_estimator(registry.get(name)), method, rows)


# ---------------------------------------------------------------- inline results


def test_results_are_inline_up_to_the_inline_limit(make_stack: StackFactory, registry: ModelRegistry) -> None:
    stack = make_stack({"INLINE_RESULTS_MAX": "5"})
    at_limit = stack.client.post("/jobs", json={"instances": ROWS[:5]}).get_json()["job_id"]
    over = stack.client.post("/jobs", json={"instances": ROWS[:6]}).get_json()["job_id"]
    stack.run()
    small = stack.client.get(f"/jobs/{at_limit}").get_json()
    big = stack.client.get(f"/jobs/{over}").get_json()
    assert small["results"] == expected(registry, rows=ROWS[:5])
    assert big["status"] == "succeeded"
    assert "results" not in big
    page = stack.client.get(big["links"]["results"]).get_json()
    assert page["results"] == expected(registry, rows=ROWS[:6])


def test_an_inline_limit_of_zero_never_inlines(make_stack: StackFactory) -> None:
    stack = make_stack({"INLINE_RESULTS_MAX": "0"})
    job_id = stack.client.post("/jobs", json={"instances": ROWS[:1]}).get_json()["job_id"]
    stack.run()
    job = stack.client.get(f"/jobs/{job_id}").get_json()
    assert job["status"] == "succeeded"
    assert "results" not in job


def test_a_job_listing_never_inlines_results(client: FlaskClient, run_queued: Runner) -> None:
    done_job(client, run_queued)
    jobs = client.get("/jobs").get_json()["jobs"]
    assert [j["status"] for j in jobs] == ["succeeded"]
    assert "results" not in jobs[0]


# ---------------------------------------------------------------- JSON pages


def test_the_default_page_holds_every_row_of_a_small_job(client: FlaskClient, run_queued: Runner,
                                                         registry: ModelRegistry) -> None:
    job_id = done_job(client, run_queued)
    response = client.get(f"/jobs/{job_id}/results")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.get_json() == {"results": expected(registry), "offset": 0, "limit": 1000, "total": len(ROWS),
                                   "next": None}


@pytest.mark.parametrize("limit", [1, 3, 4, 5, 22, 23])
def test_pages_followed_through_next_give_every_row_once_in_order(client: FlaskClient, run_queued: Runner,
                                                                 registry: ModelRegistry, limit: int) -> None:
    job_id = done_job(client, run_queued)
    link: str | None = f"/jobs/{job_id}/results?limit={limit}"
    seen: list[Any] = []
    pages = 0
    while link is not None:
        page = client.get(link).get_json()
        assert page["total"] == len(ROWS)
        assert page["limit"] == limit
        assert page["offset"] == len(seen)
        assert len(page["results"]) == min(limit, len(ROWS) - len(seen))
        seen.extend(page["results"])
        link = page["next"]
        pages += 1
        assert link is None or link.startswith(f"/jobs/{job_id}/results?")
    assert seen == expected(registry)
    assert pages == -(-len(ROWS) // limit)


def test_a_page_from_an_offset(client: FlaskClient, run_queued: Runner, registry: ModelRegistry) -> None:
    job_id = done_job(client, run_queued)
    page = client.get(f"/jobs/{job_id}/results?offset=6&limit=7").get_json()
    assert page["results"] == expected(registry)[6:13]
    assert page["offset"] == 6
    assert page["next"] == f"/jobs/{job_id}/results?offset=13&limit=7"


@pytest.mark.parametrize("offset", [23, 24, 1000])
def test_an_offset_past_the_end_gives_an_empty_last_page(client: FlaskClient, run_queued: Runner,
                                                         offset: int) -> None:
    job_id = done_job(client, run_queued)
    page = client.get(f"/jobs/{job_id}/results?offset={offset}").get_json()
    assert page["results"] == []
    assert page["next"] is None
    assert page["total"] == len(ROWS)


@pytest.mark.parametrize("query", ["limit=0", "limit=-1", "limit=100001", "limit=1.5", "limit=abc", "limit=",
                                   "offset=-1", "offset=x", "offset=1e3", "offset=2.0", "limit=%EF%BC%91"])
def test_a_bad_offset_or_limit_is_a_400(client: FlaskClient, run_queued: Runner, query: str) -> None:
    job_id = done_job(client, run_queued)
    problem = assert_problem(client.get(f"/jobs/{job_id}/results?{query}"), 400)
    assert query.split("=")[0] in problem["detail"]


def test_the_largest_limit_is_allowed(client: FlaskClient, run_queued: Runner) -> None:
    job_id = done_job(client, run_queued)
    assert client.get(f"/jobs/{job_id}/results?limit=100000").get_json()["limit"] == 100_000


def test_a_predict_proba_page_carries_the_classes(client: FlaskClient, run_queued: Runner,
                                                  registry: ModelRegistry) -> None:
    job_id = done_job(client, run_queued, method="predict_proba")
    page = client.get(f"/jobs/{job_id}/results?offset=2&limit=5").get_json()
    assert page["classes"] == ["setosa", "versicolor", "virginica"]
    np.testing.assert_allclose(page["results"], expected(registry, "predict_proba")[2:7])


def test_a_predict_page_has_no_classes(client: FlaskClient, run_queued: Runner) -> None:
    job_id = done_job(client, run_queued)
    assert "classes" not in client.get(f"/jobs/{job_id}/results").get_json()


# ---------------------------------------------------------------- streamed formats


def csv_rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_csv_results_have_a_prediction_header_and_every_row(client: FlaskClient, run_queued: Runner,
                                                            registry: ModelRegistry) -> None:
    job_id = done_job(client, run_queued)
    response = client.get(f"/jobs/{job_id}/results?format=csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    lines = csv_rows(response.get_data(as_text=True))
    assert lines[0] == ["prediction"]
    assert [r[0] for r in lines[1:]] == expected(registry)


def test_csv_predict_proba_has_one_column_per_class(client: FlaskClient, run_queued: Runner,
                                                    registry: ModelRegistry) -> None:
    job_id = done_job(client, run_queued, method="predict_proba")
    lines = csv_rows(client.get(f"/jobs/{job_id}/results?format=csv").get_data(as_text=True))
    assert lines[0] == ["setosa", "versicolor", "virginica"]
    np.testing.assert_allclose([[float(v) for v in r] for r in lines[1:]], expected(registry, "predict_proba"))


def test_csv_two_dimensional_decision_function_numbers_its_columns(client: FlaskClient, run_queued: Runner,
                                                                   registry: ModelRegistry) -> None:
    job_id = done_job(client, run_queued, method="decision_function")
    lines = csv_rows(client.get(f"/jobs/{job_id}/results?format=csv").get_data(as_text=True))
    assert lines[0] == ["decision_0", "decision_1", "decision_2"]
    np.testing.assert_allclose([[float(v) for v in r] for r in lines[1:]], expected(registry, "decision_function"))


def test_csv_one_dimensional_decision_function_has_one_decision_column(client: FlaskClient, run_queued: Runner,
                                                                       registry: ModelRegistry) -> None:
    rows = breast_cancer_rows(9)
    job_id = done_job(client, run_queued, rows, model="breast-cancer", method="decision_function")
    lines = csv_rows(client.get(f"/jobs/{job_id}/results?format=csv").get_data(as_text=True))
    assert lines[0] == ["decision"]
    np.testing.assert_allclose([float(r[0]) for r in lines[1:]],
                               expected(registry, "decision_function", rows, "breast-cancer"))


def test_ndjson_results_give_one_value_per_line(client: FlaskClient, run_queued: Runner,
                                                registry: ModelRegistry) -> None:
    job_id = done_job(client, run_queued, method="predict_proba")
    response = client.get(f"/jobs/{job_id}/results?format=ndjson")
    assert response.mimetype == "application/x-ndjson"
    lines = response.get_data().splitlines()
    np.testing.assert_allclose([orjson.loads(line) for line in lines], expected(registry, "predict_proba"))
    assert len(lines) == len(ROWS)


@pytest.mark.parametrize(("accept", "mimetype"), [("text/csv", "text/csv"),
                                                  ("application/x-ndjson", "application/x-ndjson"),
                                                  ("application/json", "application/json"),
                                                  ("*/*", "application/json"),
                                                  ("text/csv;q=0.5, application/x-ndjson", "application/x-ndjson")])
def test_accept_chooses_the_format(client: FlaskClient, run_queued: Runner, accept: str, mimetype: str) -> None:
    job_id = done_job(client, run_queued)
    assert client.get(f"/jobs/{job_id}/results", headers={"Accept": accept}).mimetype == mimetype


@pytest.mark.parametrize(("fmt", "accept", "mimetype"), [("json", "text/csv", "application/json"),
                                                         ("csv", "application/x-ndjson", "text/csv"),
                                                         ("ndjson", "text/csv", "application/x-ndjson")])
def test_the_format_parameter_wins_over_accept(client: FlaskClient, run_queued: Runner, fmt: str, accept: str,
                                               mimetype: str) -> None:
    job_id = done_job(client, run_queued)
    response = client.get(f"/jobs/{job_id}/results?format={fmt}", headers={"Accept": accept})
    assert response.status_code == 200
    assert response.mimetype == mimetype


@pytest.mark.parametrize("fmt", ["xml", "CSV", "", "parquet-ish"])
def test_an_unknown_format_is_a_400(client: FlaskClient, run_queued: Runner, fmt: str) -> None:
    job_id = done_job(client, run_queued)
    assert_problem(client.get(f"/jobs/{job_id}/results?format={fmt}"), 400)


# ---------------------------------------------------------------- unfinished jobs and follow


@pytest.mark.parametrize("fmt", ["json", "csv", "ndjson"])
def test_results_of_a_queued_job_are_a_409(client: FlaskClient, fmt: str) -> None:
    job_id = client.post("/jobs", json={"instances": ROWS}).get_json()["job_id"]
    assert_problem(client.get(f"/jobs/{job_id}/results?format={fmt}"), 409)


def test_results_of_a_running_job_are_a_409(client: FlaskClient, queue: RecordingQueue, run_queued: Runner) -> None:
    job_id = client.post("/jobs", json={"instances": ROWS}).get_json()["job_id"]
    del queue.messages[1:]
    run_queued()
    assert client.get(f"/jobs/{job_id}").get_json()["status"] == "running"
    assert_problem(client.get(f"/jobs/{job_id}/results"), 409)


def test_results_of_a_cancelled_job_are_a_409_even_when_followed(client: FlaskClient) -> None:
    job_id = client.post("/jobs", json={"instances": ROWS}).get_json()["job_id"]
    assert client.delete(f"/jobs/{job_id}").status_code == 200
    assert_problem(client.get(f"/jobs/{job_id}/results"), 409)
    assert_problem(client.get(f"/jobs/{job_id}/results?format=ndjson&follow=true"), 409)


def test_follow_with_json_is_a_400(client: FlaskClient, run_queued: Runner) -> None:
    job_id = done_job(client, run_queued)
    assert_problem(client.get(f"/jobs/{job_id}/results?follow=true"), 400)


@pytest.mark.parametrize("fmt", ["csv", "ndjson"])
def test_follow_on_a_succeeded_job_streams_every_row(client: FlaskClient, run_queued: Runner,
                                                     registry: ModelRegistry, fmt: str) -> None:
    job_id = done_job(client, run_queued)
    text = client.get(f"/jobs/{job_id}/results?format={fmt}&follow=true").get_data(as_text=True)
    values = [r[0] for r in csv_rows(text)[1:]] if fmt == "csv" else [orjson.loads(x) for x in text.splitlines()]
    assert values == expected(registry)


def test_follow_streams_rows_in_order_as_chunks_are_scored(client: FlaskClient, run_queued: Runner,
                                                           registry: ModelRegistry) -> None:
    job_id = client.post("/jobs", json={"instances": ROWS}).get_json()["job_id"]
    timer = threading.Timer(0.2, run_queued)
    timer.start()
    try:
        text = client.get(f"/jobs/{job_id}/results?format=ndjson&follow=true").get_data(as_text=True)
    finally:
        timer.join()
    assert [orjson.loads(x) for x in text.splitlines()] == expected(registry)


def test_follow_ends_with_an_error_line_when_the_job_is_cancelled(client: FlaskClient, queue: RecordingQueue,
                                                                  run_queued: Runner,
                                                                  registry: ModelRegistry) -> None:
    job_id = client.post("/jobs", json={"instances": ROWS}).get_json()["job_id"]
    del queue.messages[1:]
    run_queued()
    timer = threading.Timer(0.2, lambda: client.delete(f"/jobs/{job_id}"))
    timer.start()
    try:
        lines = client.get(f"/jobs/{job_id}/results?format=ndjson&follow=true").get_data().splitlines()
    finally:
        timer.join()
    values = [orjson.loads(x) for x in lines]
    assert values[:4] == expected(registry)[:4]
    assert len(values) == 5
    problem = values[-1]["error"]
    for name in ("type", "title", "status", "detail"):
        assert name in problem


def test_follow_as_csv_stops_when_the_job_fails(client: FlaskClient, queue: RecordingQueue, run_queued: Runner,
                                                registry: ModelRegistry, redis_client: redis.Redis) -> None:
    job_id = client.post("/jobs", json={"instances": ROWS}).get_json()["job_id"]
    rest = queue.messages[1:]
    del queue.messages[1:]
    run_queued()

    def fail_the_rest() -> None:
        redis_client.delete(input_key(job_id, 1))
        queue.messages.extend(rest)
        run_queued()

    timer = threading.Timer(0.2, fail_the_rest)
    timer.start()
    try:
        text = client.get(f"/jobs/{job_id}/results?format=csv&follow=true").get_data(as_text=True)
    finally:
        timer.join()
    lines = csv_rows(text)
    assert lines[0] == ["prediction"]
    assert [r[0] for r in lines[1:]] == expected(registry)[:4]
    assert client.get(f"/jobs/{job_id}").get_json()["status"] == "failed"
