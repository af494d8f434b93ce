"""Retries, problems and bodies without a service: httpx.MockTransport answers, a fake clock sleeps."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from predq_client import Client, RateLimitedError, RetryPolicy, UnavailableError, UnreachableError
from predq_client.bodies import SpooledIterator

JOB: dict[str, Any] = {"job_id": "ab" * 16, "status": "queued", "rows": 1, "method": "predict",
       "progress": {"rows_done": 0, "rows_total": 1, "chunks_done": 0, "chunks_total": 1,
                    "rows_per_second": None, "eta_seconds": None}}
BUSY = {"type": "/problems/rate-limited", "title": "Too many requests", "status": 429, "detail": "slow down"}


class FakeClock:
    """A clock that only moves when the client sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def policy(self, deadline: float) -> RetryPolicy:
        return RetryPolicy(deadline_seconds=deadline, sleep=self.sleep, clock=lambda: self.now)


def client_for(answer: Callable[[httpx.Request], httpx.Response], clock: FakeClock, deadline: float = 30) -> Client:
    return Client("http://predq.test", "key-1", transport=httpx.MockTransport(answer), retry=clock.policy(deadline))


def test_429_is_retried_after_retry_after_with_the_same_idempotency_key() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        request.read()
        if len(seen) == 1:
            return httpx.Response(429, json=BUSY, headers={"Retry-After": "3"})
        return httpx.Response(202, json=JOB, headers={"Location": f"/jobs/{JOB['job_id']}"})

    clock = FakeClock()
    job = client_for(answer, clock).submit(b'{"instances": [[1, 2, 3, 4]]}', format="json")
    assert job.job_id == JOB["job_id"] and clock.sleeps == [3.0]
    keys = {r.headers["Idempotency-Key"] for r in seen}
    assert len(seen) == 2 and len(keys) == 1 and all(keys)
    assert [r.content for r in seen] == [b'{"instances": [[1, 2, 3, 4]]}'] * 2
    assert seen[0].headers["Authorization"] == "Bearer key-1"


def test_a_429_past_the_deadline_raises_with_the_problem() -> None:
    clock = FakeClock()
    client = client_for(lambda _r: httpx.Response(429, json=BUSY, headers={"Retry-After": "10"}), clock, deadline=25)
    with pytest.raises(RateLimitedError) as limited:
        client.models()
    assert clock.sleeps == [10.0, 10.0] and limited.value.problem.detail == "slow down"


def test_503_past_the_deadline_is_unavailable() -> None:
    clock = FakeClock()
    problem = {"title": "Service unavailable", "status": 503, "detail": "the job store (Redis) is full"}
    client = client_for(lambda _r: httpx.Response(503, json=problem, headers={"Retry-After": "4"}), clock, 10)
    with pytest.raises(UnavailableError) as unavailable:
        client.job("x")
    assert unavailable.value.status == 503 and "full" in str(unavailable.value) and clock.sleeps == [4.0, 4.0]


def test_an_unreachable_service_is_retried_then_reported() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    clock = FakeClock()
    with pytest.raises(UnreachableError) as unreachable:
        client_for(refuse, clock, deadline=5).models()
    assert "cannot connect" in str(unreachable.value) and len(clock.sleeps) >= 2 and sum(clock.sleeps) <= 5


def test_a_non_json_error_still_becomes_a_problem() -> None:
    clock = FakeClock()
    client = client_for(lambda _r: httpx.Response(502, text="<html>Bad gateway</html>"), clock)
    with pytest.raises(Exception) as failed:
        client.models()
    assert getattr(failed.value, "status", None) == 502 and "Bad gateway" in str(failed.value)


def test_wait_holds_each_poll_for_the_jobs_retry_after() -> None:
    waits: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        waits.append(request.url.params["wait"])
        status = "succeeded" if len(waits) == 3 else "running"
        return httpx.Response(200, json={**JOB, "status": status}, headers={"Retry-After": "7"})

    job = client_for(answer, FakeClock()).wait(JOB["job_id"], on_progress=lambda _job: None)
    assert job.status == "succeeded" and waits == ["2", "7", "7"]


def test_submit_uri_sends_the_contracts_body() -> None:
    bodies: list[dict[str, object]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.read()))
        return httpx.Response(202, json=JOB)

    client_for(answer, FakeClock()).submit_uri("s3://bucket/in/", format="parquet", output_uri="s3://bucket/out/",
                                               model="churn", passthrough=["id"])
    assert bodies == [{"input": {"uri": "s3://bucket/in/", "format": "parquet"}, "output": {"uri": "s3://bucket/out/"},
                       "model": "churn", "passthrough": ["id"]}]


def test_a_one_shot_iterator_replays_what_it_already_sent() -> None:
    def source() -> Iterator[bytes]:
        yield from (b"a,b\n", b"1,2\n", b"3,4\n")

    spooled = SpooledIterator(source())
    first = spooled.chunks()
    assert next(first) == b"a,b\n"  # the first attempt breaks after one piece
    assert b"".join(spooled.chunks()) == b"a,b\n1,2\n3,4\n"
    assert b"".join(spooled.chunks()) == b"a,b\n1,2\n3,4\n"


def test_exit_codes_say_what_happened() -> None:
    from predq_client import ConflictError, Problem, ServerError
    from predq_client.cli.exitcodes import ExitCode, for_error, for_job_status

    assert for_error(UnavailableError(Problem(503, "Service unavailable"))) == ExitCode.UNREACHABLE
    assert for_error(ServerError(Problem(500, "Internal server error"))) == ExitCode.UNREACHABLE
    assert for_error(UnreachableError("down")) == ExitCode.UNREACHABLE
    assert for_error(ConflictError(Problem(409, "Conflict"))) == ExitCode.REFUSED
    assert for_error(FileNotFoundError("x")) == ExitCode.LOCAL_FILE
    assert [for_job_status(s) for s in ("succeeded", "failed", "cancelled")] == [0, 1, 3]
    assert len(set(ExitCode)) == len(ExitCode.__members__)
