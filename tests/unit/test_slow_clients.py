"""Bounded cost per client: capped long polls and followed streams, trickling bodies cut off, JSON capped."""

from __future__ import annotations

import io
import json
import time
from typing import Any

import pytest

from api.auth import PUBLIC_OWNER
from api.bodies import GuardedBody
from shared.errors import PayloadTooLargeError, RequestTimeoutError
from tests.unit.helpers import assert_problem, iris_rows

ROWS = iris_rows(3)


def _queued(stack: Any) -> str:
    job_id: str = stack.client.post("/jobs", json={"instances": ROWS}).get_json()["job_id"]
    return job_id


def test_past_the_key_cap_a_long_poll_answers_at_once_with_retry_after(make_stack: Any) -> None:
    stack = make_stack({"MAX_HELD_REQUESTS_PER_KEY": "1"})
    job_id = _queued(stack)
    assert stack.services.held.acquire(PUBLIC_OWNER, 60) is not None  # another request of this key waits
    started = time.monotonic()
    answer = stack.client.get(f"/jobs/{job_id}?wait=30")
    assert time.monotonic() - started < 25  # not the 30 s wait (a generous bound, not a timing test)
    assert answer.status_code == 200 and answer.get_json()["status"] == "queued"
    assert int(answer.headers["Retry-After"]) >= 1


def test_past_the_process_cap_a_follow_stream_is_429(make_stack: Any) -> None:
    stack = make_stack({"MAX_HELD_REQUESTS": "1"})
    job_id = _queued(stack)
    stack.app.extensions["predq_held"].acquire()
    try:
        answer = stack.client.get(f"/jobs/{job_id}/results?format=ndjson&follow=true")
        assert_problem(answer, 429)
        assert int(answer.headers["Retry-After"]) >= 1
    finally:
        stack.app.extensions["predq_held"].release()


def test_a_follow_stream_gives_its_place_back_when_it_ends(make_stack: Any) -> None:
    stack = make_stack({"MAX_HELD_REQUESTS_PER_KEY": "1", "MAX_HELD_REQUESTS": "1"})
    for _ in range(3):
        job_id = _queued(stack)
        stack.run()
        answer = stack.client.get(f"/jobs/{job_id}/results?format=ndjson&follow=true")
        assert answer.status_code == 200 and len(answer.get_data().splitlines()) == len(ROWS)
    assert stack.redis.zcard(f"predq:held:{PUBLIC_OWNER}") == 0


class _Stalling(io.RawIOBase):
    def readinto(self, buffer: Any) -> int:
        raise TimeoutError("timed out")


def test_a_stalled_body_is_a_408() -> None:
    with pytest.raises(RequestTimeoutError):
        GuardedBody(_Stalling(), 1000, 10, None).read()  # type: ignore[arg-type]


def test_a_body_under_the_floor_rate_after_the_grace_is_a_408() -> None:
    body = GuardedBody(io.BytesIO(b"x" * 100), 1000, 10, None)
    body.started -= 60  # 100 bytes in a minute
    with pytest.raises(RequestTimeoutError):
        body.read(10)


def test_a_body_within_the_grace_or_above_the_floor_reads_whole() -> None:
    data = b"y" * 300_000
    assert GuardedBody(io.BytesIO(data), 1000, 10, None).read() == data
    body = GuardedBody(io.BytesIO(data), 1000, 10, None)
    assert body.read(70_000) == data[:70_000] and body.read(-1) == data[70_000:]


def test_a_json_body_past_its_own_cap_is_refused_while_read() -> None:
    with pytest.raises(PayloadTooLargeError, match="MAX_JSON_BODY_BYTES"):
        GuardedBody(io.BytesIO(b" " * 5000), 0, 10, 4096).read()


def test_a_json_body_over_max_json_body_bytes_is_413_and_csv_is_not_capped(make_stack: Any) -> None:
    stack = make_stack({"MAX_JSON_BODY_BYTES": "2000"})
    big = json.dumps({"instances": iris_rows(100)}).encode()
    assert len(big) > 2000
    assert "MAX_JSON_BODY_BYTES" in assert_problem(
        stack.client.post("/jobs", data=big, content_type="application/json"), 413)["detail"]
    chunked = stack.client.post("/jobs", input_stream=io.BytesIO(big), content_type="application/json",
                                headers={"Transfer-Encoding": "chunked"},
                                environ_overrides={"wsgi.input_terminated": True})
    assert_problem(chunked, 413)
    csv = ("sepal_length,sepal_width,petal_length,petal_width\n" + "5.1,3.5,1.4,0.2\n" * 200).encode()
    assert stack.client.post("/jobs", data=csv, content_type="text/csv").status_code == 202
