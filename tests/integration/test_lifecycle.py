"""Jobs while they run: long polls, followed result streams, cancels, and the 409s of unfinished jobs.

A job that must still be queued while a check runs is submitted while `held_workers` keeps every worker on a
chunk behind the closed gate (tests.models.GatedModel); a job that must still be running has chunks of its own
behind the gate. Nothing here depends on how fast the machine scores.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest
import redis

from scripts.stack import LocalStack
from shared.store import input_key, result_key
from tests.integration.conftest import GATED_MODEL, INTEGRATION_CHUNK_ROWS, HeldWorkers
from tests.integration.support import (
    TERMINAL,
    Api,
    Gate,
    assert_problem,
    assert_same_results,
    describe,
    gated_rows,
    metric,
    reference,
    wait_for,
    wait_queue_idle,
)

pytestmark = pytest.mark.integration

HELD_CHUNKS = 4
"""Gated chunks after a job's first, free chunk: the job runs, and cannot finish while the gate is closed."""


def _rows(n: int, n_features: int, seed: int) -> np.ndarray:
    return np.round(np.random.default_rng(seed).normal(0, 1, (n, n_features)), 3)


def _running_rows() -> list[list[float]]:
    """A first chunk that is scored at once, then HELD_CHUNKS chunks that wait at the gate."""
    return gated_rows(INTEGRATION_CHUNK_ROWS, held=False) + gated_rows(HELD_CHUNKS * INTEGRATION_CHUNK_ROWS)


def _cancel_if_live(api: Api, job_id: str) -> None:
    answer = api.delete(f"/jobs/{job_id}")
    assert answer.status_code in (200, 409), describe(answer)


@contextlib.contextmanager
def cancelled_afterwards(api: Api, job_id: str) -> Iterator[str]:
    try:
        yield job_id
    finally:
        _cancel_if_live(api, job_id)


@contextlib.contextmanager
def closed(gate: Gate, stack_redis: redis.Redis) -> Iterator[Gate]:
    """The gate closed for the block; open afterwards, and every message left answered."""
    wait_queue_idle(stack_redis)
    gate.close()
    try:
        yield gate
    finally:
        gate.open()
    wait_queue_idle(stack_redis)


def _released_soon(gate: Gate, seconds: float = 0.5) -> None:
    """Open the gate a moment from now, once the request the test makes next is in flight."""
    threading.Timer(seconds, gate.open).start()


# --------------------------------------------------------------------------- long poll
def test_long_poll_answers_as_soon_as_the_job_is_terminal(api: Api, gate: Gate, stack_redis: redis.Redis) -> None:
    with closed(gate, stack_redis):
        rows = gated_rows(250)
        target = api.submit({"model": GATED_MODEL, "instances": rows})["job_id"]
        _released_soon(gate)
        started = time.monotonic()
        job = api.job(target, wait=30)
        waited = time.monotonic() - started

    assert job["status"] == "succeeded", job
    assert waited < 25, f"the long poll ran {waited:.1f}s of its 30 instead of answering at the end of the job"
    assert job["results"] == [sum(row) for row in rows]


def test_long_poll_of_an_unfinished_job_answers_its_status_after_the_wait(api: Api,
                                                                          held_workers: HeldWorkers) -> None:
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
def test_results_of_an_unfinished_job_are_409(api: Api, held_workers: HeldWorkers) -> None:
    target = api.submit({"model": "iris", "instances": [[5.1, 3.5, 1.4, 0.2]] * 150})["job_id"]
    with cancelled_afterwards(api, target):
        for query in ("", "?format=csv", "?format=ndjson", "?offset=0&limit=10"):
            assert_problem(api.get(f"/jobs/{target}/results{query}"), 409)
        assert api.job(target)["status"] == "queued"


# --------------------------------------------------------------------------- follow
def test_follow_ndjson_streams_every_row_once_in_order_while_the_job_runs(api: Api, stack: LocalStack,
                                                                          held_workers: HeldWorkers) -> None:
    X = _rows(3_000, 10, 13)
    target = api.submit({"model": "diabetes", "instances": X.tolist()})["job_id"]
    status_at_start = api.job(target)["status"]

    _released_soon(held_workers.gate)
    answer = api.get(f"/jobs/{target}/results", params={"format": "ndjson", "follow": "true"}, stream=True)
    assert answer.status_code == 200, describe(answer)
    assert answer.headers["Content-Type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in answer.iter_lines() if line.strip()]

    assert status_at_start == "queued"
    assert_same_results(lines, reference(stack.model_dir, "diabetes", "1", "predict", X))
    assert api.job(target)["status"] == "succeeded"


def test_follow_csv_streams_a_header_then_every_row_in_order(api: Api, stack: LocalStack,
                                                            held_workers: HeldWorkers) -> None:
    X = _rows(1_200, 4, 14)
    target = api.submit({"model": "iris", "method": "decision_function", "instances": X.tolist()})["job_id"]

    _released_soon(held_workers.gate)
    answer = api.get(f"/jobs/{target}/results", params={"format": "csv", "follow": "true"}, stream=True)
    assert answer.status_code == 200, describe(answer)
    table = [line.decode().split(",") for line in answer.iter_lines() if line.strip()]

    assert table[0] == ["decision_0", "decision_1", "decision_2"]
    assert_same_results([[float(v) for v in row] for row in table[1:]],
                        reference(stack.model_dir, "iris", "2", "decision_function", X))


def test_follow_of_a_cancelled_job_ends_with_an_error_line(api: Api, gate: Gate, stack_redis: redis.Redis) -> None:
    rows = _running_rows()
    with closed(gate, stack_redis):
        job_id = api.submit({"model": GATED_MODEL, "instances": rows})["job_id"]
        with cancelled_afterwards(api, job_id):
            answer = api.get(f"/jobs/{job_id}/results", params={"format": "ndjson", "follow": "true"}, stream=True)
            assert answer.status_code == 200, describe(answer)
            lines = answer.iter_lines()
            first = next(lines)  # the free first chunk is scored; the next one waits at the gate
            cancel = api.delete(f"/jobs/{job_id}")
            rest = [line for line in lines if line.strip()]

    assert cancel.status_code == 200, describe(cancel)
    got = [json.loads(first), *map(json.loads, rest)]
    *answered, last = got
    assert isinstance(last, dict) and set(last) == {"error"}, f"the stream's last line is {last!r}"
    assert {"type", "title", "status", "detail"} <= set(last["error"])
    assert answered == [sum(row) for row in rows[:INTEGRATION_CHUNK_ROWS]]


# --------------------------------------------------------------------------- cancel
def _live_keys(client: redis.Redis, job_id: str) -> list[bytes]:
    return [*client.scan_iter(match=input_key(job_id, "*"), count=1000),
            *client.scan_iter(match=result_key(job_id, "*"), count=1000)]


def test_cancelling_a_running_job_stops_it_and_keeps_no_results(api: Api, gate: Gate,
                                                                stack_redis: redis.Redis) -> None:
    with closed(gate, stack_redis):
        cancelled_before = metric(api.metrics(), "predq_jobs_finished_total", model=GATED_MODEL, status="cancelled")
        job_id = api.submit({"model": GATED_MODEL, "instances": _running_rows()})["job_id"]
        with cancelled_afterwards(api, job_id):
            running = wait_for(lambda: (job := api.job(job_id))["progress"]["chunks_done"] >= 1 and job,
                               30, "the job's first chunk")
            assert running["status"] == "running", running
            answer = api.delete(f"/jobs/{job_id}")

    assert answer.status_code == 200, describe(answer)
    at_cancel = answer.json()
    assert at_cancel["status"] == "cancelled" and at_cancel["finished_at"] is not None
    assert "results" not in at_cancel
    assert at_cancel["progress"]["chunks_done"] == 1 < at_cancel["progress"]["chunks_total"]
    after = api.job(job_id)  # every chunk message left has been taken and answered "ended"
    assert after["status"] == "cancelled"
    assert after["progress"] | {"rows_per_second": None} == at_cancel["progress"] | {"rows_per_second": None}
    assert after["finished_at"] == at_cancel["finished_at"]
    assert _live_keys(stack_redis, job_id) == [], "a cancelled job keeps no input or results"
    assert_problem(api.get(f"/jobs/{job_id}/results"), 409)
    assert_problem(api.get(f"/jobs/{job_id}/results", params={"format": "ndjson", "follow": "true"}), 409)
    assert_problem(api.delete(f"/jobs/{job_id}"), 409)
    cancelled = metric(api.metrics(), "predq_jobs_finished_total", model=GATED_MODEL, status="cancelled")
    assert cancelled - cancelled_before == 1


def test_cancelling_a_queued_job_means_none_of_its_chunks_ever_runs(api: Api, held_workers: HeldWorkers,
                                                                    stack_redis: redis.Redis) -> None:
    target = api.submit({"model": "iris", "instances": [[5.1, 3.5, 1.4, 0.2]] * 450})["job_id"]
    answer = api.delete(f"/jobs/{target}")
    assert answer.status_code == 200, describe(answer)
    assert answer.json()["status"] == "cancelled"
    held_workers.release()

    wait_queue_idle(stack_redis)
    job = api.job(target)
    assert job["status"] == "cancelled"
    assert job["started_at"] is None
    assert (job["progress"]["rows_done"], job["progress"]["chunks_done"]) == (0, 0)
    assert _live_keys(stack_redis, target) == []
    assert_problem(api.delete(f"/jobs/{target}"), 409)


def test_listing_filters_by_status(api: Api, held_workers: HeldWorkers) -> None:
    target = api.submit({"model": "iris", "instances": [[5.1, 3.5, 1.4, 0.2]]})["job_id"]
    with cancelled_afterwards(api, target):
        queued = api.get("/jobs", params={"status": "queued", "limit": 500}).json()["jobs"]
        assert target in [j["job_id"] for j in queued]
        assert all(j["status"] == "queued" and "results" not in j for j in queued)
    cancelled = api.get("/jobs", params={"status": "cancelled", "limit": 5}).json()["jobs"]
    assert cancelled[0]["job_id"] == target
    assert all(j["status"] in TERMINAL for j in cancelled)
