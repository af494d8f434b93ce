"""Per-key quotas (429, nothing left behind), the shared rate limit, and no API keys in URLs."""

from __future__ import annotations

from typing import Any

import pytest
import redis

from shared.quotas import KeyQuotas, QuotaLimits
from shared.throttle import HeldRequests, RateLimiter
from tests.unit.helpers import assert_problem, iris_rows, keys_without_ttl, redis_keys

ROWS = iris_rows(3)
A, B = {"Authorization": "Bearer key-a"}, {"Authorization": "Bearer key-b"}
KEYS = "key-a,key-b"


def _post(stack: Any, headers: dict[str, str], rows: list[list[float]] = ROWS) -> Any:
    return stack.client.post("/jobs", json={"instances": rows}, headers=headers)


def _trace(client: redis.Redis) -> set[bytes]:
    """Keys a refused submission must not add (metrics count requests, so they are left out)."""
    return {k for k in redis_keys(client) if not k.startswith(b"predq:metrics")}


def test_past_the_unfinished_jobs_of_a_key_submissions_are_429_and_leave_nothing(make_stack: Any) -> None:
    stack = make_stack({"API_KEYS": KEYS, "MAX_QUEUED_JOBS_PER_KEY": "2"})
    assert _post(stack, A).status_code == 202
    assert _post(stack, A).status_code == 202
    before = _trace(stack.redis)
    refused = _post(stack, A)
    assert_problem(refused, 429)
    assert int(refused.headers["Retry-After"]) >= 1
    assert _trace(stack.redis) == before
    assert _post(stack, B).status_code == 202  # another key is not held back


def test_a_job_that_ends_gives_its_place_back(make_stack: Any) -> None:
    stack = make_stack({"API_KEYS": KEYS, "MAX_QUEUED_JOBS_PER_KEY": "1"})
    first = _post(stack, A).get_json()["job_id"]
    assert_problem(_post(stack, A), 429)
    stack.run()
    assert stack.client.get(f"/jobs/{first}", headers=A).get_json()["status"] == "succeeded"
    second = _post(stack, A)
    assert second.status_code == 202
    assert stack.client.delete(f"/jobs/{second.get_json()['job_id']}", headers=A).status_code == 200
    assert _post(stack, A).status_code == 202


def test_past_the_rows_in_flight_of_a_key_submissions_are_429_and_leave_nothing(make_stack: Any) -> None:
    stack = make_stack({"API_KEYS": KEYS, "MAX_ROWS_IN_FLIGHT_PER_KEY": "5"})
    first = _post(stack, A, iris_rows(3)).get_json()["job_id"]
    before = _trace(stack.redis)
    assert "MAX_ROWS_IN_FLIGHT_PER_KEY" in assert_problem(_post(stack, A, iris_rows(3)), 429)["detail"]
    assert _trace(stack.redis) == before
    assert _post(stack, A, iris_rows(2)).status_code == 202  # exactly at the limit
    stack.client.delete(f"/jobs/{first}", headers=A)
    assert _post(stack, A, iris_rows(3)).status_code == 202


def test_a_refused_idempotent_submission_can_be_retried_once_there_is_room(make_stack: Any) -> None:
    stack = make_stack({"API_KEYS": KEYS, "MAX_QUEUED_JOBS_PER_KEY": "1"})
    first = _post(stack, A).get_json()["job_id"]
    retry = {**A, "Idempotency-Key": "k1"}
    assert_problem(_post(stack, retry, iris_rows(2)), 429)
    stack.client.delete(f"/jobs/{first}", headers=A)
    assert _post(stack, retry, iris_rows(2)).status_code == 202


def test_quota_keys_expire(make_stack: Any) -> None:
    stack = make_stack({"API_KEYS": KEYS, "RATE_LIMIT_PER_KEY": "100"})
    _post(stack, A)
    assert keys_without_ttl(stack.redis) == []


def test_a_release_is_idempotent_and_reservations_are_atomic(any_redis: redis.Redis) -> None:
    quotas = KeyQuotas(any_redis, QuotaLimits(max_jobs=2, max_rows=10), 60)
    quotas.reserve("o", "j1", 4)
    quotas.reserve("o", "j1", 4)  # the same job twice counts once
    assert quotas.usage("o") == (1, 4)
    quotas.reserve("o", "j2", 6)
    with pytest.raises(Exception, match="MAX_QUEUED_JOBS_PER_KEY"):
        quotas.reserve("o", "j3", 0)
    assert quotas.release("o", "j1") and not quotas.release("o", "j1")
    assert quotas.usage("o") == (1, 6)


# ---------------------------------------------------------------- the rate limit


def test_the_rate_limit_allows_a_burst_of_twice_the_rate_then_429(make_stack: Any) -> None:
    stack = make_stack({"API_KEYS": KEYS, "RATE_LIMIT_PER_KEY": "1"})
    assert [stack.client.get("/jobs", headers=A).status_code for _ in range(2)] == [200, 200]
    refused = stack.client.get("/jobs", headers=A)
    assert_problem(refused, 429)
    assert int(refused.headers["Retry-After"]) >= 1
    assert stack.client.get("/jobs", headers=B).status_code == 200  # each key has its own bucket


def test_probes_and_metrics_are_never_rate_limited(make_stack: Any) -> None:
    stack = make_stack({"RATE_LIMIT_PER_KEY": "1"})
    for path in ("/healthz", "/metrics") * 5:
        assert stack.client.get(path).status_code == 200


def test_without_keys_the_rate_limit_counts_per_client_address(make_stack: Any) -> None:
    stack = make_stack({"RATE_LIMIT_PER_KEY": "1"})
    here = {"REMOTE_ADDR": "10.0.0.1"}
    for _ in range(2):
        assert stack.client.get("/jobs", environ_base=here).status_code == 200
    assert_problem(stack.client.get("/jobs", environ_base=here), 429)
    assert stack.client.get("/jobs", environ_base={"REMOTE_ADDR": "10.0.0.2"}).status_code == 200


def test_the_bucket_is_shared_through_redis(any_redis: redis.Redis) -> None:
    """Two limiters on one Redis (two API processes) draw from one bucket."""
    first, second = RateLimiter(any_redis, 1), RateLimiter(any_redis, 1)
    first.take("k")
    second.take("k")
    with pytest.raises(Exception, match="RATE_LIMIT_PER_KEY"):
        first.take("k")
    assert all(any_redis.ttl(k) > 0 for k in any_redis.keys("*"))


def test_held_request_slots_are_capped_and_given_back(any_redis: redis.Redis) -> None:
    held = HeldRequests(any_redis, 1)
    with held.slot("k", 30) as first, held.slot("k", 30) as second:
        assert first and not second
    with held.slot("k", 30) as again:
        assert again


@pytest.mark.parametrize("name", ["api_key", "apikey", "key", "access_token", "API_KEY"])
def test_an_api_key_in_the_query_string_is_a_400(make_stack: Any, name: str) -> None:
    stack = make_stack({"API_KEYS": KEYS})
    assert_problem(stack.client.get(f"/jobs?{name}=key-a", headers=A), 400)
    assert_problem(stack.client.get(f"/healthz?{name}=key-a"), 400)


def test_every_answer_carries_nosniff_and_a_content_security_policy(make_stack: Any) -> None:
    stack = make_stack()
    for path in ("/healthz", "/jobs", "/no/such/route", "/docs", "/ui"):
        answer = stack.client.get(path)
        assert answer.headers["X-Content-Type-Options"] == "nosniff", path
        assert "default-src" in answer.headers["Content-Security-Policy"], path
    assert "script-src 'self'" in stack.client.get("/docs").headers["Content-Security-Policy"]


def test_request_metrics_take_no_label_from_the_client(make_stack: Any) -> None:
    stack = make_stack()
    for method in ("BREW", "XYZZY", "GET"):
        stack.client.open(f"/whatever/{method}", method=method)
    text = stack.client.get("/metrics").get_data(as_text=True)
    assert "BREW" not in text and "XYZZY" not in text and "/whatever" not in text
    assert 'method="other"' in text
