"""Jobs while they run: long polls, followed result streams, cancels, and the 409s of unfinished jobs.

A job that must still be queued while a check runs is put behind a *blocker*: a big job whose
hundreds of chunks come first in the (first in, first out) chunk queue. The blocker is cancelled
afterwards, so its remaining chunks drain as no-ops.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from datetime import datetime

import numpy as np
import pytest
import redis

from scripts.stack import LocalStack
from tests.integration.support import (
    TERMINAL,
    Api,
    accepted,
    assert_problem,
    assert_same_results,
    describe,
    metric,
    reference,
    wait_for,
    wait_queue_idle,
)

pytestmark = pytest.mark.integration

BLOCKER_ROWS = 60_000
"""600 chunks of the random forest: several seconds of work for two workers (cancelled once not needed)."""

SHORT_BLOCKER_ROWS = 20_000
"""200 chunks: a second or two of work, for checks that wait for the job behind it to finish."""


def _rows(n: int, n_features: int, seed: int) -> np.ndarray:
    return np.round(np.random.default_rng(seed).normal(0, 1, (n, n_features)), 3)


@pytest.fixture(scope="module")
def forest_rows() -> np.ndarray:
    return _rows(BLOCKER_ROWS, 20, 11)


@pytest.fixture(scope="module")
def forest_body(forest_rows: np.ndarray) -> bytes:
    return json.dumps({"model": "bench-forest", "instances": forest_rows.tolist()}).encode()


def _cancel_if_live(api: Api, job_id: str) -> None:
    answer = api.delete(f"/jobs/{job_id}")
    assert answer.status_code in (200, 409), describe(answer)


@pytest.fixture(scope="module")
def short_forest_body(forest_rows: np.ndarray) -> bytes:
    return json.dumps({"model": "bench-forest", "instances": forest_rows[:SHORT_BLOCKER_ROWS].tolist()}).encode()


@pytest.fixture
def blocker(api: Api, forest_body: bytes, stack_redis: redis.Redis) -> Iterator[str]:
    """A big job occupying both workers; jobs submitted after it stay queued for seconds."""
    wait_queue_idle(stack_redis)
    job_id = accepted(api.post_raw(forest_body, "application/json"))["job_id"]
    yield job_id
    _cancel_if_live(api, job_id)


@pytest.fixture
def short_blocker(api: Api, short_forest_body: bytes, stack_redis: redis.Redis) -> Iterator[str]:
    """A smaller job ahead of the one under test, which stays queued for a second or two."""
    wait_queue_idle(stack_redis)
    job_id = accepted(api.post_raw(short_forest_body, "application/json"))["job_id"]
    yield job_id
    _cancel_if_live(api, job_id)


@contextlib.contextmanager
def cancelled_afterwards(api: Api, job_id: str) -> Iterator[str]:
    try:
        yield job_id
    finally:
        _cancel_if_live(api, job_id)


def _seconds(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


# --------------------------------------------------------------------------- long poll
def test_long_poll_answers_as_soon_as_the_job_is_terminal(api: Api, short_blocker: str) -> None:
    target = api.submit({"model": "iris", "instances": _rows(2_000, 4, 12).tolist()})["job_id"]

    started = time.monotonic()
    job = api.job(target, wait=30)
    answered = time.time()

    assert job["status"] == "succeeded", job
    assert time.monotonic() - started < 29, "the long poll ran to its end instead of answering at the end of the job"
    assert answered - _seconds(job["finished_at"]) < 2.0, (
        f"the long poll answered {answered - _seconds(job['finished_at']):.2f}s after the job finished")
    assert len(job["results"]) == 2_000


def test_long_poll_of_an_unfinished_job_answers_its_status_after_the_wait(api: Api, blocker: str) -> None:
    target = api.submit({"model": "iris", "instances": [[5.1, 3.5, 1.4, 0.2]]})["job_id"]
    with cancelled_afterwards(api, target):
        started = time.monotonic()
        answer = api.get(f"/jobs/{target}", params={"wait": "1.5"})
        waited = time.monotonic() - started

        assert answer.status_code == 200, describe(answer)
        assert answer.json()["status"] == "queued"
        assert "results" not in answer.json()
        assert waited >= 1.4, f"?wait=1.5 answered an unfinished job after {waited:.2f}s"
        assert answer.headers["Retry-After"].isdigit() and int(answer.headers["Retry-After"]) >= 1


# --------------------------------------------------------------------------- 409s of unfinished jobs
def test_results_of_an_unfinished_job_are_409(api: Api, short_blocker: str) -> None:
    target = api.submit({"model": "iris", "instances": [[5.1, 3.5, 1.4, 0.2]] * 150})["job_id"]
    with cancelled_afterwards(api, target):
        for query in ("", "?format=csv", "?format=ndjson", "?offset=0&limit=10"):
            assert_problem(api.get(f"/jobs/{target}/results{query}"), 409)
        assert api.job(target)["status"] == "queued"


# --------------------------------------------------------------------------- follow
def test_follow_ndjson_streams_every_row_once_in_order_while_the_job_runs(api: Api, stack: LocalStack,
                                                                          short_blocker: str) -> None:
    X = _rows(3_000, 10, 13)
    target = api.submit({"model": "diabetes", "instances": X.tolist()})["job_id"]
    status_at_start = api.job(target)["status"]

    answer = api.get(f"/jobs/{target}/results", params={"format": "ndjson", "follow": "true"}, stream=True)
    assert answer.status_code == 200, describe(answer)
    assert answer.headers["Content-Type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in answer.iter_lines() if line.strip()]

    assert status_at_start in ("queued", "running")
    assert_same_results(lines, reference(stack.model_dir, "diabetes", "1", "predict", X))
    assert api.job(target)["status"] == "succeeded"


def test_follow_csv_streams_a_header_then_every_row_in_order(api: Api, stack: LocalStack,
                                                            short_blocker: str) -> None:
    X = _rows(1_200, 4, 14)
    target = api.submit({"model": "iris", "method": "decision_function", "instances": X.tolist()})["job_id"]

    answer = api.get(f"/jobs/{target}/results", params={"format": "csv", "follow": "true"}, stream=True)
    assert answer.status_code == 200, describe(answer)
    table = [line.decode().split(",") for line in answer.iter_lines() if line.strip()]

    assert table[0] == ["decision_0", "decision_1", "decision_2"]
    assert_same_results([[float(v) for v in row] for row in table[1:]],
                        reference(stack.model_dir, "iris", "2", "decision_function", X))


def test_follow_of_a_cancelled_job_ends_with_an_error_line(api: Api, stack: LocalStack, forest_rows: np.ndarray,
                                                          forest_body: bytes, stack_redis: redis.Redis) -> None:
    wait_queue_idle(stack_redis)
    job_id = accepted(api.post_raw(forest_body, "application/json"))["job_id"]
    with cancelled_afterwards(api, job_id):
        answer = api.get(f"/jobs/{job_id}/results", params={"format": "ndjson", "follow": "true"}, stream=True)
        assert answer.status_code == 200, describe(answer)
        lines = answer.iter_lines()
        first = next(lines)
        cancel = api.delete(f"/jobs/{job_id}")
        rest = [line for line in lines if line.strip()]

    assert cancel.status_code == 200, describe(cancel)
    got = [json.loads(first), *map(json.loads, rest)]
    *rows, last = got
    assert isinstance(last, dict) and set(last) == {"error"}, f"the stream's last line is {last!r}"
    assert {"type", "title", "status", "detail"} <= set(last["error"])
    assert 1 <= len(rows) < BLOCKER_ROWS
    assert_same_results(rows, reference(stack.model_dir, "bench-forest", "1", "predict", forest_rows[:len(rows)]))


# --------------------------------------------------------------------------- cancel
def _live_keys(client: redis.Redis, job_id: str) -> list[bytes]:
    return [*client.scan_iter(match=f"predq:job:{job_id}:in:*", count=1000),
            *client.scan_iter(match=f"predq:job:{job_id}:out:*", count=1000)]


def test_cancelling_a_running_job_stops_it_and_keeps_no_results(api: Api, forest_body: bytes,
                                                                stack_redis: redis.Redis) -> None:
    wait_queue_idle(stack_redis)
    cancelled_before = metric(api.metrics(), "predq_jobs_finished_total", model="bench-forest", status="cancelled")
    job_id = accepted(api.post_raw(forest_body, "application/json"))["job_id"]
    with cancelled_afterwards(api, job_id):
        running = wait_for(lambda: (job := api.job(job_id))["progress"]["chunks_done"] >= 1 and job,
                           30, "the job's first chunk")
        assert running["status"] == "running", running
        answer = api.delete(f"/jobs/{job_id}")

    assert answer.status_code == 200, describe(answer)
    at_cancel = answer.json()
    assert at_cancel["status"] == "cancelled" and at_cancel["finished_at"] is not None
    assert "results" not in at_cancel
    assert 1 <= at_cancel["progress"]["chunks_done"] < at_cancel["progress"]["chunks_total"]
    wait_queue_idle(stack_redis)  # every chunk message left has been taken and answered "cancelled"
    after = api.job(job_id)
    assert after["status"] == "cancelled"
    assert after["progress"] | {"rows_per_second": None} == at_cancel["progress"] | {"rows_per_second": None}
    assert after["finished_at"] == at_cancel["finished_at"]
    assert _live_keys(stack_redis, job_id) == [], "a cancelled job keeps no input or results"
    assert_problem(api.get(f"/jobs/{job_id}/results"), 409)
    assert_problem(api.get(f"/jobs/{job_id}/results", params={"format": "ndjson", "follow": "true"}), 409)
    assert_problem(api.delete(f"/jobs/{job_id}"), 409)
    cancelled = metric(api.metrics(), "predq_jobs_finished_total", model="bench-forest", status="cancelled")
    assert cancelled - cancelled_before == 1


def test_cancelling_a_queued_job_means_none_of_its_chunks_ever_runs(api: Api, short_blocker: str,
                                                                    stack_redis: redis.Redis) -> None:
    target = api.submit({"model": "iris", "instances": [[5.1, 3.5, 1.4, 0.2]] * 450})["job_id"]
    answer = api.delete(f"/jobs/{target}")
    assert answer.status_code == 200, describe(answer)
    assert answer.json()["status"] == "cancelled"
    _cancel_if_live(api, short_blocker)

    wait_queue_idle(stack_redis)
    job = api.job(target)
    assert job["status"] == "cancelled"
    assert job["started_at"] is None
    assert (job["progress"]["rows_done"], job["progress"]["chunks_done"]) == (0, 0)
    assert _live_keys(stack_redis, target) == []
    assert_problem(api.delete(f"/jobs/{target}"), 409)


def test_listing_filters_by_status(api: Api, short_blocker: str) -> None:
    target = api.submit({"model": "iris", "instances": [[5.1, 3.5, 1.4, 0.2]]})["job_id"]
    with cancelled_afterwards(api, target):
        queued = api.get("/jobs", params={"status": "queued", "limit": 500}).json()["jobs"]
        assert target in [j["job_id"] for j in queued]
        assert all(j["status"] == "queued" and "results" not in j for j in queued)
    cancelled = api.get("/jobs", params={"status": "cancelled", "limit": 5}).json()["jobs"]
    assert cancelled[0]["job_id"] == target
    assert all(j["status"] in TERMINAL for j in cancelled)
