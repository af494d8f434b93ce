"""Chunk and job transitions in the Redis job store, against fakeredis and a real redis-server alike."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import redis

from shared.errors import JobNotFoundError
from shared.job import JobStatus
from shared.store import JobStore, input_key, new_job_id, result_key
from shared.transitions import ChunkStart, Ending, EndVerdict
from tests.unit.helpers import ATTEMPTS, as_array, created, finish, make_job, redis_keys, result_of

# ---------------------------------------------------------------- chunk transitions


def test_starting_a_chunk_makes_a_queued_job_running(any_store: JobStore) -> None:
    job = created(any_store)
    before = time.time()
    assert any_store.start_chunk(job.job_id, 0, ATTEMPTS) is ChunkStart.RUN
    running = any_store.get(job.job_id)
    assert running.status is JobStatus.RUNNING
    assert running.started_at is not None and running.started_at >= before - 1
    assert any_store.start_chunk(job.job_id, 1, ATTEMPTS) is ChunkStart.RUN
    assert any_store.get(job.job_id).started_at == running.started_at


def test_a_finished_chunk_is_not_started_again(any_store: JobStore) -> None:
    job = created(any_store)
    any_store.start_chunk(job.job_id, 0, ATTEMPTS)
    finish(any_store, job, 0)
    assert any_store.start_chunk(job.job_id, 0, ATTEMPTS) is ChunkStart.DONE


def test_a_chunk_started_more_often_than_allowed_is_poison(any_store: JobStore) -> None:
    job = created(any_store)
    starts = [any_store.start_chunk(job.job_id, 1, 2) for _ in range(3)]
    assert starts == [ChunkStart.RUN, ChunkStart.RUN, ChunkStart.POISON]
    assert any_store.start_chunk(job.job_id, 0, 2) is ChunkStart.RUN


def test_starting_a_chunk_of_an_unknown_job_says_gone(any_store: JobStore) -> None:
    assert any_store.start_chunk(new_job_id(), 0, ATTEMPTS) is ChunkStart.GONE


def test_chunks_record_progress_and_the_last_one_finishes_the_job(any_store: JobStore) -> None:
    job = created(any_store, rows=10)
    assert [finish(any_store, job, i) for i in (2, 0, 1)] == ["recorded", "recorded", "finished"]
    done = any_store.get(job.job_id)
    assert done.status is JobStatus.SUCCEEDED
    assert (done.rows_done, done.chunks_done) == (10, 3)
    assert done.finished_at is not None


def test_progress_counts_the_rows_of_each_chunk(any_store: JobStore) -> None:
    job = created(any_store, rows=10)
    finish(any_store, job, 2)
    assert (any_store.get(job.job_id).rows_done, any_store.get(job.job_id).chunks_done) == (2, 1)
    finish(any_store, job, 0)
    assert (any_store.get(job.job_id).rows_done, any_store.get(job.job_id).chunks_done) == (6, 2)


def test_finishing_the_same_chunk_twice_counts_once(any_store: JobStore) -> None:
    job = created(any_store, rows=10)
    assert finish(any_store, job, 1) == "recorded"
    assert finish(any_store, job, 1) == "duplicate"
    current = any_store.get(job.job_id)
    assert (current.rows_done, current.chunks_done) == (4, 1)
    assert current.status is not JobStatus.SUCCEEDED


def test_a_duplicate_result_does_not_replace_the_first(any_store: JobStore) -> None:
    job = created(any_store, rows=10)
    finish(any_store, job, 0)
    any_store.finish_chunk(job, 0, np.full(4, -1.0))
    np.testing.assert_array_equal(as_array(any_store.read_chunk_result(job, 0)), result_of(job, 0))


def test_progress_never_passes_100_percent(any_store: JobStore) -> None:
    job = created(any_store, rows=10)
    outcomes = [finish(any_store, job, i) for _ in range(3) for i in range(3)]
    assert outcomes.count("finished") == 1
    done = any_store.get(job.job_id)
    assert (done.rows_done, done.chunks_done) == (10, 3)


def test_finishing_a_chunk_of_a_succeeded_job_changes_nothing(any_store: JobStore) -> None:
    job = created(any_store, rows=5)
    finish(any_store, job, 0)
    assert finish(any_store, job, 1) == "finished"
    before = any_store.get(job.job_id)
    assert finish(any_store, job, 1) == "ended"
    assert finish(any_store, job, 0) == "ended"
    assert any_store.get(job.job_id) == before


def test_the_job_succeeds_exactly_once_when_workers_race(any_store: JobStore) -> None:
    job = created(any_store, rows=40)
    outcomes: list[str] = []
    lock = threading.Lock()

    def worker(order: list[int]) -> None:
        for index in order:
            outcome = finish(any_store, job, index)
            with lock:
                outcomes.append(outcome)

    orders = [list(range(10)), list(reversed(range(10))), [5, 1, 9, 0, 3, 7, 2, 8, 4, 6]] * 2
    threads = [threading.Thread(target=worker, args=(o,)) for o in orders]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("finished") == 1
    assert outcomes.count("recorded") == 9
    done = any_store.get(job.job_id)
    assert (done.status, done.rows_done, done.chunks_done) == (JobStatus.SUCCEEDED, 40, 10)


def test_finishing_a_chunk_drops_its_input(any_store: JobStore) -> None:
    job = created(any_store, rows=10)
    finish(any_store, job, 1)
    assert any_store.read_input(job.job_id, 1) is None
    assert any_store.read_input(job.job_id, 0) is not None


@pytest.mark.parametrize(("start", "stop"), [(0, 10), (0, 4), (3, 9), (4, 8), (9, 10), (5, 5), (0, 1)])
def test_results_read_back_in_order_across_chunks(any_store: JobStore, start: int, stop: int) -> None:
    job = created(any_store, rows=10)
    for index in (1, 2, 0):
        finish(any_store, job, index)
    parts = list(any_store.read_results(job, start, stop))
    got = np.concatenate([as_array(p) for p in parts]) if parts else np.empty(0)
    np.testing.assert_array_equal(got, np.arange(start, stop, dtype=np.float64) * 10)


def test_string_and_2d_results_read_back(any_store: JobStore) -> None:
    job = created(any_store, rows=6)
    any_store.finish_chunk(job, 0, np.array(["a", "b", "c", "d"]))
    any_store.finish_chunk(job, 1, np.array(["e", "f"]))
    assert [v for p in any_store.read_results(job, 0, 6) for v in as_array(p).tolist()] == list("abcdef")
    probs = created(any_store, rows=3)
    matrix = np.array([[0.1, 0.9], [0.5, 0.5], [1.0, 0.0]])
    any_store.finish_chunk(probs, 0, matrix)
    np.testing.assert_array_equal(as_array(next(any_store.read_results(probs, 0, 3))), matrix)


# ---------------------------------------------------------------- cancel and end


def test_cancel_ends_the_job_and_drops_its_data(any_store: JobStore, any_redis: redis.Redis) -> None:
    job = created(any_store, rows=10)
    any_store.start_chunk(job.job_id, 0, ATTEMPTS)
    finish(any_store, job, 0)
    assert any_store.cancel(job) == Ending(EndVerdict.ENDED, JobStatus.CANCELLED)
    cancelled = any_store.get(job.job_id)
    assert cancelled.status is JobStatus.CANCELLED
    assert cancelled.finished_at is not None
    for index in range(3):
        assert any_redis.exists(input_key(job.job_id, index)) == 0
        assert any_redis.exists(result_key(job.job_id, index)) == 0
    assert any_store.active_count() == 0


def test_after_cancel_finishing_a_chunk_is_a_no_op(any_store: JobStore, any_redis: redis.Redis) -> None:
    job = created(any_store, rows=10)
    any_store.start_chunk(job.job_id, 1, ATTEMPTS)
    any_store.cancel(job)
    assert finish(any_store, job, 1) == "ended"
    assert any_redis.exists(result_key(job.job_id, 1)) == 0
    after = any_store.get(job.job_id)
    assert (after.status, after.rows_done, after.chunks_done) == (JobStatus.CANCELLED, 0, 0)
    assert any_store.start_chunk(job.job_id, 2, ATTEMPTS) is ChunkStart.ENDED


def test_a_terminal_job_cannot_be_cancelled(any_store: JobStore) -> None:
    job = created(any_store, rows=3)
    assert any_store.cancel(job).by_this_call
    assert any_store.cancel(job) == Ending(EndVerdict.ALREADY, JobStatus.CANCELLED)
    done = created(any_store, rows=3)
    finish(any_store, done, 0)
    assert any_store.cancel(done) == Ending(EndVerdict.ALREADY, JobStatus.SUCCEEDED)
    assert any_store.get(done.job_id).status is JobStatus.SUCCEEDED
    assert list(any_store.read_results(done, 0, 3))


def test_cancelling_an_expired_job_says_gone(any_store: JobStore) -> None:
    assert any_store.cancel(make_job()) == Ending(EndVerdict.GONE, None)


def test_a_failed_job_keeps_its_error(any_store: JobStore) -> None:
    job = created(any_store, rows=10)
    error = {"type": "/problems/chunk-failed", "title": "t", "status": 500, "detail": "rows 4 to 7"}
    assert any_store.end_job(job.job_id, JobStatus.FAILED, error) == Ending(EndVerdict.ENDED, JobStatus.FAILED)
    failed = any_store.get(job.job_id)
    assert (failed.status, failed.error) == (JobStatus.FAILED, error)
    assert failed.finished_at is not None
    assert finish(any_store, job, 0) == "ended"
    assert any_store.end_job(job.job_id, JobStatus.CANCELLED) == Ending(EndVerdict.ALREADY, JobStatus.FAILED)


def test_discard_removes_every_trace_of_a_job(any_store: JobStore, any_redis: redis.Redis) -> None:
    kept = created(any_store, rows=3)
    before = redis_keys(any_redis)
    job = created(any_store, rows=10)
    any_store.discard(job)
    assert redis_keys(any_redis) == before
    assert [j.job_id for j in any_store.list_jobs("alice", None, 50, None).jobs] == [kept.job_id]
    assert any_store.active_count() == 1
    with pytest.raises(JobNotFoundError):
        any_store.get(job.job_id)


