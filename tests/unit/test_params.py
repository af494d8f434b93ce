"""Query parameters with strict casts, and the small pieces of the job resource."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import pytest

from api import params
from api.resources import MAX_RETRY_AFTER, poll_headers
from shared.errors import BadRequestError
from shared.job import Job, JobStatus
from shared.resource import job_resource, rfc3339


@pytest.mark.parametrize(("raw", "expected"), [(None, False), ("true", True), ("1", True), ("Yes", True),
                                               ("false", False), ("0", False), ("NO", False)])
def test_flag_reads_true_and_false(raw: str | None, expected: bool) -> None:
    assert params.flag({} if raw is None else {"f": raw}, "f") is expected


@pytest.mark.parametrize("raw", ["", "maybe", "2", "on"])
def test_flag_refuses_anything_else_naming_it(raw: str) -> None:
    with pytest.raises(BadRequestError, match=r"\?f"):
        params.flag({"f": raw}, "f")


def test_integer_reads_bounded_integers() -> None:
    assert params.integer({}, "n", 7, 1, 10) == 7
    assert params.integer({"n": "1"}, "n", 7, 1, 10) == 1
    assert params.integer({"n": "10"}, "n", 7, 1, 10) == 10
    assert params.integer({"n": "123456"}, "n", 7, 0) == 123456


@pytest.mark.parametrize("raw", ["0", "11", "-1", "+3", "3.0", "", " 3", "٣", "1e1"])
def test_integer_refuses_what_is_not_an_integer_in_bounds(raw: str) -> None:
    with pytest.raises(BadRequestError, match=r"\?n"):
        params.integer({"n": raw}, "n", 7, 1, 10)


def test_seconds_caps_at_the_most() -> None:
    assert params.seconds({}, "wait", 30) == 0
    assert params.seconds({"wait": "2.5"}, "wait", 30) == 2.5
    assert params.seconds({"wait": "31"}, "wait", 30) == 30
    assert params.seconds({"wait": "1e9"}, "wait", 30) == 30


@pytest.mark.parametrize("raw", ["-0.5", "inf", "nan", "soon", ""])
def test_seconds_refuses_what_is_not_a_non_negative_number(raw: str) -> None:
    with pytest.raises(BadRequestError):
        params.seconds({"wait": raw}, "wait", 30)


def test_rfc3339_is_utc_with_milliseconds_and_z() -> None:
    assert rfc3339(0) == "1970-01-01T00:00:00.000Z"
    assert rfc3339(1_764_151_200.1239) == "2025-11-26T10:00:00.123Z"
    assert rfc3339(None) is None


def job(**changes: Any) -> Job:
    base = Job(job_id="ab" * 16, owner="o", status=JobStatus.RUNNING, model={"name": "iris", "version": "1",
                                                                               "sha256": "0" * 64},
               method="predict", rows=1000, chunk_rows=100, chunks_total=10, rows_done=0, chunks_done=0,
               created_at=time.time() - 10, started_at=time.time() - 10, finished_at=None, error=None,
               metadata={}, classes=None)
    return replace(base, **changes)


def test_retry_after_is_one_second_before_any_rate_is_known() -> None:
    assert poll_headers(job(status=JobStatus.QUEUED, started_at=None)) == {"Retry-After": "1"}


def test_retry_after_follows_the_expected_remaining_time_within_bounds() -> None:
    slow = job(rows=1_000_000, rows_done=10, chunks_done=1, started_at=time.time() - 100)
    assert poll_headers(slow) == {"Retry-After": str(MAX_RETRY_AFTER)}
    fast = job(rows_done=900, chunks_done=9, started_at=time.time() - 1)
    assert poll_headers(fast) == {"Retry-After": "1"}
    middle = job(rows=2000, rows_done=1000, chunks_done=10, started_at=time.time() - 100)
    assert 5 <= int(poll_headers(middle)["Retry-After"]) <= 15


@pytest.mark.parametrize("status", [JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED])
def test_a_terminal_job_has_no_retry_after(status: JobStatus) -> None:
    assert poll_headers(job(status=status, finished_at=time.time())) == {}


def test_rate_and_eta_are_null_until_a_chunk_is_done() -> None:
    progress = job_resource(job())["progress"]
    assert (progress["rows_per_second"], progress["eta_seconds"]) == (None, None)
    progress = job_resource(job(rows_done=100, chunks_done=1))["progress"]
    assert progress["rows_per_second"] > 0
    assert progress["eta_seconds"] > 0


def test_eta_is_zero_for_a_finished_job() -> None:
    done = job(status=JobStatus.SUCCEEDED, rows_done=1000, chunks_done=10, finished_at=time.time())
    assert job_resource(done)["progress"]["eta_seconds"] == 0


def test_classes_appear_only_for_predict_proba() -> None:
    classes = ["a", "b"]
    assert job_resource(job(method="predict_proba", classes=classes))["classes"] == classes
    assert "classes" not in job_resource(job(method="predict", classes=classes))
