"""Per-key quotas and the shared rate limit over the real stack: gunicorn with two processes, Redis, a worker."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from scripts.stack import LocalStack
from tests.integration.conftest import GATED_MODEL
from tests.integration.support import Api, Gate, assert_problem, describe, gated_rows, start_stack, trace

pytestmark = pytest.mark.integration

RATE = 5
KEY_A, KEY_B, KEY_C = ({"Authorization": f"Bearer key-{name}"} for name in "abc")


@pytest.fixture(scope="module")
def quota_stack(stack_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    env = {"API_KEYS": "key-a,key-b,key-c", "MAX_QUEUED_JOBS_PER_KEY": "2", "RATE_LIMIT_PER_KEY": str(RATE)}
    with start_stack(LocalStack(workers=1, env=env, model_dir=str(stack_model_dir),
                                log_dir=str(tmp_path_factory.mktemp("quota-stack-logs")))) as running:
        yield running


@pytest.fixture(scope="module")
def quota_api(quota_stack: LocalStack) -> Iterator[Api]:
    with Api(quota_stack.base_url) as client:
        yield client


@pytest.fixture(scope="module")
def quota_redis(quota_stack: LocalStack) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(quota_stack.redis_url)
    yield client
    client.close()


def _submit(api: Api, headers: dict[str, str]) -> str:
    answer = api.post("/jobs", json={"model": GATED_MODEL, "instances": gated_rows(3)}, headers=headers)
    assert answer.status_code == 202, describe(answer)
    job_id: str = answer.json()["job_id"]
    return job_id


def test_a_key_past_its_unfinished_jobs_gets_429_and_nothing_is_kept(quota_api: Api, quota_redis: redis.Redis,
                                                                      gate: Gate) -> None:
    """The worker is held by the first job (gate closed), so every job stays unfinished as long as the test needs."""
    gate.close()
    jobs: list[tuple[str, dict[str, str]]] = []
    try:
        jobs += [(_submit(quota_api, KEY_A), KEY_A), (_submit(quota_api, KEY_A), KEY_A)]
        before = trace(quota_redis)
        refused = quota_api.post("/jobs", json={"model": GATED_MODEL, "instances": gated_rows(3)}, headers=KEY_A)
        problem = assert_problem(refused, 429)
        assert "MAX_QUEUED_JOBS_PER_KEY" in problem["detail"] and int(refused.headers["Retry-After"]) >= 1
        assert trace(quota_redis) == before
        jobs.append((_submit(quota_api, KEY_B), KEY_B))  # another key is not held back
        cancelled = quota_api.delete(f"/jobs/{jobs[1][0]}", headers=KEY_A)
        assert cancelled.status_code == 200, describe(cancelled)
        jobs.append((_submit(quota_api, KEY_A), KEY_A))  # the cancelled job gave its place back
    finally:
        for job_id, headers in jobs:
            quota_api.delete(f"/jobs/{job_id}", headers=headers)
        gate.open()


def test_the_rate_limit_is_shared_by_every_api_process(quota_api: Api) -> None:
    """Two gunicorn processes answer; together they let through no more than the burst plus the refill."""
    started = time.monotonic()
    allowed = 0
    refused = None
    for _ in range(200):
        answer = quota_api.get("/jobs", headers=KEY_C)
        if answer.status_code == 429:
            refused = answer
            break
        assert answer.status_code == 200, describe(answer)
        allowed += 1
    elapsed = time.monotonic() - started
    assert refused is not None, "no 429 in 200 requests"
    assert_problem(refused, 429)
    assert int(refused.headers["Retry-After"]) >= 1
    assert allowed <= 2 * RATE + math.ceil(elapsed * RATE) + 1
    for _ in range(3 * RATE):
        assert quota_api.get("/healthz").status_code == 200
    assert quota_api.get("/readyz").status_code == 200
