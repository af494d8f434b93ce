"""GET /jobs listing, DELETE (cancel), long polls, Idempotency-Key and dry runs."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis
from flask.testing import FlaskClient

from shared.store import input_key, result_key
from tests.conftest import RecordingQueue
from tests.unit.helpers import assert_problem, iris_rows, redis_keys, to_csv

Runner = Callable[[], list[str]]
ROWS = iris_rows(10)


def submit(client: FlaskClient, rows: list[list[float]] = ROWS, **headers: str) -> str:
    response = client.post("/jobs", json={"instances": rows}, headers=headers)
    assert response.status_code == 202
    job_id: str = response.get_json()["job_id"]
    return job_id


def listing(client: FlaskClient, link: str) -> list[dict[str, Any]]:
    """Every job, following `next` links from `link`."""
    jobs: list[dict[str, Any]] = []
    next_link: str | None = link
    while next_link is not None:
        response = client.get(next_link)
        assert response.status_code == 200
        page = response.get_json()
        jobs.extend(page["jobs"])
        next_link = page["next"]
    return jobs


# ---------------------------------------------------------------- listing


def test_an_empty_listing_has_no_jobs_and_no_next(client: FlaskClient) -> None:
    assert client.get("/jobs").get_json() == {"jobs": [], "next": None}


def test_listing_is_newest_first(client: FlaskClient) -> None:
    ids = [submit(client, ROWS[:1]) for _ in range(5)]
    page = client.get("/jobs").get_json()
    assert [j["job_id"] for j in page["jobs"]] == list(reversed(ids))
    assert page["next"] is None
    assert all(j["links"]["self"] == f"/jobs/{j['job_id']}" for j in page["jobs"])


def test_listing_pages_through_next_without_overlap(client: FlaskClient) -> None:
    ids = [submit(client, ROWS[:1]) for _ in range(7)]
    first = client.get("/jobs?limit=3").get_json()
    assert len(first["jobs"]) == 3
    assert first["next"].startswith("/jobs?")
    assert [j["job_id"] for j in listing(client, "/jobs?limit=3")] == list(reversed(ids))


def test_listing_filters_by_status(client: FlaskClient, queue: RecordingQueue, run_queued: Runner) -> None:
    done = [submit(client, ROWS[:2]) for _ in range(3)]
    run_queued()
    queued = [submit(client, ROWS[:2]) for _ in range(4)]
    cancelled = submit(client, ROWS[:2])
    client.delete(f"/jobs/{cancelled}")
    assert [j["job_id"] for j in listing(client, "/jobs?status=succeeded&limit=2")] == list(reversed(done))
    assert [j["job_id"] for j in listing(client, "/jobs?status=queued&limit=3")] == list(reversed(queued))
    assert [j["job_id"] for j in listing(client, "/jobs?status=cancelled")] == [cancelled]
    assert listing(client, "/jobs?status=failed") == []
    assert all(j["status"] == "queued" for j in listing(client, "/jobs?status=queued&limit=1"))


def test_listing_default_limit_is_50(client: FlaskClient) -> None:
    for _ in range(51):
        submit(client, ROWS[:1])
    page = client.get("/jobs").get_json()
    assert len(page["jobs"]) == 50
    assert page["next"] is not None
    assert len(client.get(page["next"]).get_json()["jobs"]) == 1


def test_listing_takes_limits_from_1_to_500(client: FlaskClient) -> None:
    submit(client, ROWS[:1])
    submit(client, ROWS[:1])
    assert len(client.get("/jobs?limit=1").get_json()["jobs"]) == 1
    assert len(client.get("/jobs?limit=500").get_json()["jobs"]) == 2


@pytest.mark.parametrize("query", ["status=done", "status=SUCCEEDED", "status=", "limit=0", "limit=501",
                                   "limit=-3", "limit=ten", "limit=2.5", "cursor=abc", "cursor=inf", "cursor=nan"])
def test_a_bad_listing_parameter_is_a_400(client: FlaskClient, query: str) -> None:
    problem = assert_problem(client.get(f"/jobs?{query}"), 400)
    assert query.split("=")[0] in problem["detail"]


def test_listed_jobs_carry_no_results(client: FlaskClient, run_queued: Runner) -> None:
    submit(client, ROWS[:2])
    run_queued()
    job = client.get("/jobs").get_json()["jobs"][0]
    assert job["status"] == "succeeded"
    assert "results" not in job


# ---------------------------------------------------------------- cancel


def test_cancel_of_a_queued_job_is_200_with_the_cancelled_job(client: FlaskClient, queue: RecordingQueue,
                                                              run_queued: Runner) -> None:
    job_id = submit(client)
    response = client.delete(f"/jobs/{job_id}")
    assert response.status_code == 200
    job = response.get_json()
    assert job["job_id"] == job_id
    assert job["status"] == "cancelled"
    assert job["finished_at"] is not None
    assert "Retry-After" not in response.headers
    assert run_queued() == ["ended", "ended", "ended"]
    assert client.get(f"/jobs/{job_id}").get_json()["status"] == "cancelled"


def test_cancel_of_a_running_job_drops_its_results_and_stops_its_chunks(
        client: FlaskClient, queue: RecordingQueue, run_queued: Runner, redis_client: redis.Redis) -> None:
    job_id = submit(client)
    rest = queue.messages[1:]
    del queue.messages[1:]
    assert run_queued() == ["recorded"]
    assert client.delete(f"/jobs/{job_id}").status_code == 200
    queue.messages.extend(rest)
    assert run_queued() == ["ended", "ended"]
    assert redis_client.keys(result_key(job_id, "*")) == []
    assert redis_client.keys(input_key(job_id, "*")) == []
    job = client.get(f"/jobs/{job_id}").get_json()
    assert job["status"] == "cancelled"
    assert "results" not in job
    assert_problem(client.get(f"/jobs/{job_id}/results"), 409)


def test_a_second_cancel_is_a_409(client: FlaskClient) -> None:
    job_id = submit(client)
    assert client.delete(f"/jobs/{job_id}").status_code == 200
    assert_problem(client.delete(f"/jobs/{job_id}"), 409)
    assert client.get(f"/jobs/{job_id}").get_json()["status"] == "cancelled"


def test_cancel_of_a_finished_job_is_a_409_and_keeps_its_results(client: FlaskClient, run_queued: Runner) -> None:
    job_id = submit(client)
    run_queued()
    assert_problem(client.delete(f"/jobs/{job_id}"), 409)
    job = client.get(f"/jobs/{job_id}").get_json()
    assert job["status"] == "succeeded"
    assert len(job["results"]) == len(ROWS)


def test_cancel_of_a_failed_job_is_a_409(client: FlaskClient, run_queued: Runner, redis_client: redis.Redis) -> None:
    job_id = submit(client)
    redis_client.delete(input_key(job_id, 0))
    run_queued()
    assert client.get(f"/jobs/{job_id}").get_json()["status"] == "failed"
    assert_problem(client.delete(f"/jobs/{job_id}"), 409)


def test_cancel_of_an_unknown_job_is_a_404(client: FlaskClient) -> None:
    assert_problem(client.delete("/jobs/" + "0" * 32), 404)


def test_a_cancelled_job_frees_its_queue_place(make_stack: Any) -> None:
    stack = make_stack({"MAX_QUEUED_JOBS": "1"})
    job_id = stack.client.post("/jobs", json={"instances": ROWS}).get_json()["job_id"]
    assert stack.client.post("/jobs", json={"instances": ROWS}).status_code in (429, 503)
    stack.client.delete(f"/jobs/{job_id}")
    assert stack.client.post("/jobs", json={"instances": ROWS}).status_code == 202


def test_eta_is_zero_once_a_job_is_cancelled_before_any_chunk_ran(client: FlaskClient) -> None:
    job_id = submit(client)
    assert client.delete(f"/jobs/{job_id}").get_json()["progress"]["eta_seconds"] == 0


# ---------------------------------------------------------------- long poll


def test_wait_answers_as_soon_as_the_job_is_terminal(client: FlaskClient, run_queued: Runner) -> None:
    job_id = submit(client)
    timer = threading.Timer(0.15, run_queued)
    timer.start()
    started = time.monotonic()
    try:
        response = client.get(f"/jobs/{job_id}?wait=10")
    finally:
        timer.join()
    assert time.monotonic() - started < 5
    job = response.get_json()
    assert job["status"] == "succeeded"
    assert len(job["results"]) == len(ROWS)
    assert "Retry-After" not in response.headers


def test_wait_answers_the_current_status_after_n_seconds(client: FlaskClient) -> None:
    job_id = submit(client)
    started = time.monotonic()
    response = client.get(f"/jobs/{job_id}?wait=0.3")
    elapsed = time.monotonic() - started
    assert 0.28 <= elapsed < 3
    assert response.get_json()["status"] == "queued"
    assert int(response.headers["Retry-After"]) >= 1


def test_wait_on_a_terminal_job_answers_at_once(client: FlaskClient) -> None:
    job_id = submit(client)
    client.delete(f"/jobs/{job_id}")
    started = time.monotonic()
    assert client.get(f"/jobs/{job_id}?wait=30").get_json()["status"] == "cancelled"
    assert time.monotonic() - started < 1


def test_wait_over_30_seconds_counts_as_30(client: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    from shared.store import JobStore

    waited: list[float] = []
    real_wait = JobStore.wait

    def spy(self: JobStore, job_id: str, owner: str | None, seconds: float) -> Any:
        waited.append(seconds)
        return real_wait(self, job_id, owner, 0.01)

    monkeypatch.setattr(JobStore, "wait", spy)
    job_id = submit(client)
    assert client.get(f"/jobs/{job_id}?wait=3600").status_code == 200
    assert waited == [30.0]


@pytest.mark.parametrize("wait", ["soon", "-1", "inf", "nan"])
def test_a_bad_wait_is_a_400(client: FlaskClient, wait: str) -> None:
    job_id = submit(client)
    assert_problem(client.get(f"/jobs/{job_id}?wait={wait}"), 400)


def test_wait_on_an_unknown_job_is_a_404_at_once(client: FlaskClient) -> None:
    started = time.monotonic()
    assert_problem(client.get("/jobs/" + "0" * 32 + "?wait=5"), 404)
    assert time.monotonic() - started < 1


# ---------------------------------------------------------------- idempotency


def test_a_repeated_key_with_the_same_body_answers_200_with_the_first_job(client: FlaskClient,
                                                                          queue: RecordingQueue) -> None:
    first = client.post("/jobs", json={"instances": ROWS}, headers={"Idempotency-Key": "order-17"})
    assert first.status_code == 202
    messages = list(queue.messages)
    again = client.post("/jobs", json={"instances": ROWS}, headers={"Idempotency-Key": "order-17"})
    assert again.status_code == 200
    assert again.get_json()["job_id"] == first.get_json()["job_id"]
    assert queue.messages == messages
    assert len(client.get("/jobs").get_json()["jobs"]) == 1


def test_a_repeat_after_the_job_finished_gives_the_finished_job(client: FlaskClient, run_queued: Runner) -> None:
    first = client.post("/jobs", json={"instances": ROWS}, headers={"Idempotency-Key": "k"}).get_json()
    run_queued()
    again = client.post("/jobs", json={"instances": ROWS}, headers={"Idempotency-Key": "k"})
    assert again.status_code == 200
    job = again.get_json()
    assert (job["job_id"], job["status"]) == (first["job_id"], "succeeded")
    assert len(job["results"]) == len(ROWS)


@pytest.mark.parametrize("change", ["body", "query", "content-type"])
def test_a_repeated_key_with_another_request_is_a_409_and_makes_no_job(client: FlaskClient, queue: RecordingQueue,
                                                                       redis_client: redis.Redis,
                                                                       change: str) -> None:
    body = to_csv(ROWS, ["sepal_length", "sepal_width", "petal_length", "petal_width"])
    headers = {"Idempotency-Key": "k1", "Content-Type": "text/csv"}
    assert client.post("/jobs?model=iris", data=body, headers=headers).status_code == 202
    messages = list(queue.messages)
    before = redis_keys(redis_client)
    if change == "body":
        response = client.post("/jobs?model=iris", data=body + b"5.0,3.0,1.0,0.5\n", headers=headers)
    elif change == "query":
        response = client.post("/jobs?model=iris&version=1", data=body, headers=headers)
    else:
        response = client.post("/jobs?model=iris", data=body,
                               headers={**headers, "Content-Type": "text/csv; charset=utf-8"})
    assert_problem(response, 409)
    assert queue.messages == messages
    assert redis_keys(redis_client) == before
    assert len(client.get("/jobs").get_json()["jobs"]) == 1


def test_different_keys_make_different_jobs(client: FlaskClient) -> None:
    one = submit(client, ROWS, **{"Idempotency-Key": "a"})
    two = submit(client, ROWS, **{"Idempotency-Key": "b"})
    three = submit(client, ROWS)
    assert len({one, two, three}) == 3


def test_a_refused_submission_reserves_no_key(client: FlaskClient) -> None:
    refused = client.post("/jobs", json={"instances": [[1.0, "x", 2.0, 3.0]]}, headers={"Idempotency-Key": "k"})
    assert_problem(refused, 422)
    accepted = client.post("/jobs", json={"instances": ROWS}, headers={"Idempotency-Key": "k"})
    assert accepted.status_code == 202


def test_a_dry_run_reserves_no_key(client: FlaskClient) -> None:
    dry = client.post("/jobs?dry_run=true", json={"instances": ROWS}, headers={"Idempotency-Key": "k"})
    assert dry.status_code == 200
    assert client.post("/jobs", json={"instances": ROWS[:3]}, headers={"Idempotency-Key": "k"}).status_code == 202


# ---------------------------------------------------------------- dry run


@pytest.mark.parametrize("flag", ["true", "1", "yes", "TRUE"])
def test_a_valid_dry_run_answers_200_valid_and_creates_nothing(client: FlaskClient, redis_client: redis.Redis,
                                                               queue: RecordingQueue, flag: str) -> None:
    client.get("/healthz")
    before = redis_keys(redis_client)
    response = client.post(f"/jobs?dry_run={flag}", json={"instances": ROWS})
    assert response.status_code == 200
    assert response.get_json() == {"valid": True, "rows": len(ROWS)}
    assert redis_keys(redis_client) == before
    assert queue.messages == []


def test_a_csv_dry_run_counts_its_rows(client: FlaskClient, redis_client: redis.Redis) -> None:
    body = to_csv(iris_rows(17), ["sepal_length", "sepal_width", "petal_length", "petal_width"])
    response = client.post("/jobs?dry_run=true&model=iris", data=body, content_type="text/csv")
    assert response.get_json() == {"valid": True, "rows": 17}


def test_dry_run_false_submits(client: FlaskClient) -> None:
    assert client.post("/jobs?dry_run=false", json={"instances": ROWS}).status_code == 202


def test_a_repeated_key_answers_with_the_first_job_even_when_the_queue_is_full(make_stack: Any) -> None:
    stack = make_stack({"MAX_QUEUED_JOBS": "1"})
    first = stack.client.post("/jobs", json={"instances": ROWS}, headers={"Idempotency-Key": "k"})
    assert first.status_code == 202
    again = stack.client.post("/jobs", json={"instances": ROWS}, headers={"Idempotency-Key": "k"})
    assert again.status_code == 200
    assert again.get_json()["job_id"] == first.get_json()["job_id"]
