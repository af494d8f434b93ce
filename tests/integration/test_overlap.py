"""Scoring overlaps ingestion: a bulk body's chunks are scored while the rest of it is still read, and what a
client can observe stays as the contract says."""

from __future__ import annotations

import pytest
import redis

from scripts.stack import LocalStack
from shared.store import done_key
from tests.integration.support import (
    JOB_TIMEOUT,
    Api,
    PausedUpload,
    assert_problem,
    iris_csv,
    keys_of,
    leaves_no_trace,
    metric,
    submission_in_progress,
    wait_for,
    wait_queue_idle,
)

pytestmark = pytest.mark.integration

HEADER = b"sepal_length,sepal_width,petal_length,petal_width\n"
FIRST_PART_ROWS = 300_000
"""About 5 MB: past one 4 MiB block, so the API parses and stores chunks before the rest arrives."""


def _scored_so_far(client: redis.Redis, job_id: str) -> int:
    return int(client.scard(done_key(job_id)))


def _counted(api: Api) -> tuple[float, float]:
    samples = api.metrics()
    return (metric(samples, "predq_rows_scored_total", model="iris"),
            metric(samples, "predq_jobs_submitted_total", model="iris"))


def test_a_body_refused_after_scoring_began_leaves_nothing(api: Api, stack: LocalStack,
                                                           stack_redis: redis.Redis) -> None:
    wait_queue_idle(stack_redis)
    counted_before = _counted(api)
    upload = PausedUpload(stack.base_url + "/jobs?model=iris", HEADER + iris_csv(FIRST_PART_ROWS),
                          iris_csv(10) + b"5.1,abc,1.4,0.2\n")
    with leaves_no_trace(stack_redis):
        upload.start()
        job_id = wait_for(lambda: submission_in_progress(stack_redis), JOB_TIMEOUT, "the body's first chunks")
        wait_for(lambda: _scored_so_far(stack_redis, job_id) >= 3, JOB_TIMEOUT,
                 "chunks scored while the body is still read")
        assert api.get(f"/jobs/{job_id}").status_code == 404, "a job shows only once it is accepted"
        assert job_id not in [j["job_id"] for j in api.get("/jobs", params={"limit": 500}).json()["jobs"]]
        assert _counted(api) == counted_before, "nothing scored for a body not yet accepted is counted"

        upload.resume()
        upload.join(JOB_TIMEOUT)
        assert upload.answer is not None, upload.error
        problem = assert_problem(upload.answer, 422)
        assert problem["errors"][0]["row"] == FIRST_PART_ROWS + 10
        wait_queue_idle(stack_redis)

    assert keys_of(stack_redis, job_id) == [], "no job, no results, no input, no scheduling left"
    assert _counted(api) == counted_before, "the work done for the refused body is counted nowhere"


def test_an_accepted_body_that_was_scored_while_read_answers_every_row(api: Api, stack: LocalStack,
                                                                       stack_redis: redis.Redis) -> None:
    wait_queue_idle(stack_redis)
    rows_before, jobs_before = _counted(api)
    upload = PausedUpload(stack.base_url + "/jobs?model=iris", HEADER + iris_csv(FIRST_PART_ROWS),
                          iris_csv(1_000))
    upload.start()
    job_id = wait_for(lambda: submission_in_progress(stack_redis), JOB_TIMEOUT, "the body's first chunks")
    wait_for(lambda: _scored_so_far(stack_redis, job_id) >= 3, JOB_TIMEOUT, "chunks scored while it is read")
    upload.resume()
    upload.join(JOB_TIMEOUT)

    assert upload.answer is not None and upload.answer.status_code == 202, upload.error or upload.answer.text
    accepted = upload.answer.json()
    assert accepted["job_id"] == job_id and accepted["status"] == "queued"
    job = api.wait(job_id)
    assert job["status"] == "succeeded" and job["progress"]["rows_done"] == FIRST_PART_ROWS + 1_000
    first, last = api.get(f"/jobs/{job_id}/results", params={"offset": 0, "limit": 1}).json(), api.get(
        f"/jobs/{job_id}/results", params={"offset": FIRST_PART_ROWS + 999, "limit": 1}).json()
    assert first["results"] == last["results"] == ["setosa"]
    wait_queue_idle(stack_redis)
    assert _counted(api) == (rows_before + FIRST_PART_ROWS + 1_000, jobs_before + 1)
