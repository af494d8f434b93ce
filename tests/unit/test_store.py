"""The Redis job store, run against fakeredis and a real redis-server alike."""

from __future__ import annotations

import threading
import time
from dataclasses import replace

import numpy as np
import pyarrow as pa
import pytest
import redis

from shared.errors import JobNotFoundError, UnavailableError
from shared.job import Job, JobStatus
from shared.store import JOB_ID, ChunkWriter, JobStore, input_key, new_job_id, result_key
from tests.unit.helpers import keys_without_ttl, redis_keys

TTL = 3600
ATTEMPTS = 3
MANY = 10**6


def make_job(rows: int = 10, chunk_rows: int = 4, owner: str = "alice", method: str = "predict") -> Job:
    return Job(job_id=new_job_id(), owner=owner, status=JobStatus.QUEUED,
               model={"name": "iris", "version": "2", "sha256": "ab" * 32}, method=method, rows=rows,
               chunk_rows=chunk_rows, chunks_total=-(-rows // chunk_rows), rows_done=0, chunks_done=0,
               created_at=time.time(), started_at=None, finished_at=None, error=None,
               metadata={"who": "test"}, classes=["setosa", "versicolor", "virginica"])


def inputs(rows: int) -> np.ndarray:
    return np.arange(rows * 4, dtype=np.float64).reshape(rows, 4)


def created(store: JobStore, rows: int = 10, owner: str = "alice", chunk_rows: int = 4) -> Job:
    job = make_job(rows, chunk_rows, owner)
    store.create(job, inputs(rows), MANY)
    return job


def as_array(table: pa.Table) -> np.ndarray:
    """A result table's output columns as the array the model answered."""
    columns = [c.to_numpy(zero_copy_only=False) for c in table.columns]
    return columns[0] if table.column_names in (["prediction"], ["decision"]) else np.column_stack(columns)


def result_of(job: Job, index: int) -> np.ndarray:
    start, stop = job.chunk_bounds(index)
    return np.arange(start, stop, dtype=np.float64) * 10


def finish(store: JobStore, job: Job, index: int) -> str:
    return store.finish_chunk(job, index, result_of(job, index))


# ---------------------------------------------------------------- creating and reading


def test_new_job_ids_are_128_random_bits_in_hex() -> None:
    ids = {new_job_id() for _ in range(200)}
    assert len(ids) == 200
    assert all(JOB_ID.fullmatch(i) for i in ids)


def test_a_created_job_reads_back_whole(any_store: JobStore) -> None:
    job = make_job(rows=10)
    any_store.create(job, inputs(10), MANY)
    back = any_store.get(job.job_id)
    assert back == job
    assert back.chunks_total == 3


def test_a_created_job_keeps_its_input_in_chunks(any_store: JobStore) -> None:
    job = created(any_store, rows=10)
    X = inputs(10)
    for index in range(3):
        start, stop = job.chunk_bounds(index)
        chunk = any_store.read_input(job.job_id, index)
        assert chunk is not None
        np.testing.assert_array_equal(chunk, X[start:stop])
    assert any_store.read_input(job.job_id, 3) is None


def test_another_owner_gets_job_not_found(any_store: JobStore) -> None:
    job = created(any_store, owner="alice")
    assert any_store.get(job.job_id, "alice").job_id == job.job_id
    with pytest.raises(JobNotFoundError):
        any_store.get(job.job_id, "bob")


@pytest.mark.parametrize("job_id", ["x" * 200, "not-a-job", "0" * 32, "A" * 32, "", "0" * 31, "0" * 33])
def test_an_id_that_no_job_has_is_not_found(any_store: JobStore, job_id: str) -> None:
    created(any_store)
    with pytest.raises(JobNotFoundError) as caught:
        any_store.get(job_id)
    assert len(caught.value.detail) < 100


@pytest.mark.parametrize("sizes", [[19], [3, 5, 1, 8, 2], [4, 4, 4, 4, 3], [1] * 19, [7, 12]])
def test_chunk_writer_cuts_blocks_into_chunks_of_exactly_chunk_rows(any_store: JobStore, sizes: list[int]) -> None:
    X = inputs(sum(sizes))
    writer = ChunkWriter(any_store, new_job_id(), 4)
    start = 0
    for size in sizes:
        writer.add(X[start:start + size])
        start += size
    writer.finish()
    assert (writer.rows, writer.chunks) == (19, 5)
    stored = [any_store.read_input(writer.job_id, i) for i in range(5)]
    assert [len(c) for c in stored if c is not None] == [4, 4, 4, 4, 3]
    np.testing.assert_array_equal(np.concatenate([c for c in stored if c is not None]), X)
    assert any_store.read_input(writer.job_id, 5) is None


def test_chunk_writer_abort_drops_every_stored_chunk(any_store: JobStore, any_redis: redis.Redis) -> None:
    before = redis_keys(any_redis)
    writer = ChunkWriter(any_store, new_job_id(), 4)
    writer.add(inputs(10))
    assert writer.chunks == 2
    writer.abort()
    assert redis_keys(any_redis) == before


# ---------------------------------------------------------------- listing


def test_listing_is_newest_first_in_pages_without_overlap(any_store: JobStore) -> None:
    made = [created(any_store, rows=1).job_id for _ in range(7)]
    seen: list[str] = []
    cursor = None
    sizes = []
    while True:
        page = any_store.list_jobs("alice", None, 3, float(cursor) if cursor is not None else None)
        sizes.append(len(page.jobs))
        seen.extend(j.job_id for j in page.jobs)
        if page.cursor is None:
            break
        cursor = page.cursor
    assert sizes == [3, 3, 1]
    assert seen == list(reversed(made))


def test_a_page_exactly_as_long_as_the_listing_has_no_next(any_store: JobStore) -> None:
    for _ in range(3):
        created(any_store, rows=1)
    page = any_store.list_jobs("alice", None, 3, None)
    assert len(page.jobs) == 3
    assert page.cursor is None


def test_listing_filters_by_status_across_pages(any_store: JobStore) -> None:
    jobs = [created(any_store, rows=1) for _ in range(9)]
    cancelled = [j.job_id for j in jobs[::2]]
    for job in jobs[::2]:
        any_store.cancel(job)
    seen: list[str] = []
    cursor: float | None = None
    while True:
        page = any_store.list_jobs("alice", JobStatus.CANCELLED, 2, cursor)
        assert all(j.status is JobStatus.CANCELLED for j in page.jobs)
        seen.extend(j.job_id for j in page.jobs)
        if page.cursor is None:
            break
        cursor = float(page.cursor)
    assert seen == list(reversed(cancelled))
    queued = any_store.list_jobs("alice", JobStatus.QUEUED, 50, None)
    assert [j.job_id for j in queued.jobs] == [j.job_id for j in reversed(jobs[1::2])]


def test_listing_shows_only_the_owners_jobs(any_store: JobStore) -> None:
    mine = created(any_store, owner="alice")
    theirs = created(any_store, owner="bob")
    assert [j.job_id for j in any_store.list_jobs("alice", None, 50, None).jobs] == [mine.job_id]
    assert [j.job_id for j in any_store.list_jobs("bob", None, 50, None).jobs] == [theirs.job_id]
    assert any_store.list_jobs("carol", None, 50, None).jobs == []


def test_listing_skips_and_forgets_expired_jobs(any_store: JobStore, any_redis: redis.Redis) -> None:
    jobs = [created(any_store, rows=1) for _ in range(4)]
    any_redis.delete(f"predq:job:{jobs[1].job_id}")
    page = any_store.list_jobs("alice", None, 50, None)
    assert [j.job_id for j in page.jobs] == [jobs[3].job_id, jobs[2].job_id, jobs[0].job_id]
    assert any_redis.zscore("predq:owner:alice:jobs", jobs[1].job_id) is None


# ---------------------------------------------------------------- chunk transitions


def test_starting_a_chunk_makes_a_queued_job_running(any_store: JobStore) -> None:
    job = created(any_store)
    before = time.time()
    assert any_store.start_chunk(job.job_id, 0, ATTEMPTS) == "run"
    running = any_store.get(job.job_id)
    assert running.status is JobStatus.RUNNING
    assert running.started_at is not None and running.started_at >= before - 1
    assert any_store.start_chunk(job.job_id, 1, ATTEMPTS) == "run"
    assert any_store.get(job.job_id).started_at == running.started_at


def test_a_finished_chunk_is_not_started_again(any_store: JobStore) -> None:
    job = created(any_store)
    any_store.start_chunk(job.job_id, 0, ATTEMPTS)
    finish(any_store, job, 0)
    assert any_store.start_chunk(job.job_id, 0, ATTEMPTS) == "done"


def test_a_chunk_started_more_often_than_allowed_is_poison(any_store: JobStore) -> None:
    job = created(any_store)
    assert [any_store.start_chunk(job.job_id, 1, 2) for _ in range(3)] == ["run", "run", "poison"]
    assert any_store.start_chunk(job.job_id, 0, 2) == "run"


def test_starting_a_chunk_of_an_unknown_job_says_gone(any_store: JobStore) -> None:
    assert any_store.start_chunk(new_job_id(), 0, ATTEMPTS) == "gone"


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
    assert finish(any_store, job, 1) == "succeeded"
    assert finish(any_store, job, 0) == "succeeded"
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
    assert any_store.cancel(job) == "running"
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
    assert finish(any_store, job, 1) == "cancelled"
    assert any_redis.exists(result_key(job.job_id, 1)) == 0
    after = any_store.get(job.job_id)
    assert (after.status, after.rows_done, after.chunks_done) == (JobStatus.CANCELLED, 0, 0)
    assert any_store.start_chunk(job.job_id, 2, ATTEMPTS) == "cancelled"


def test_a_terminal_job_cannot_be_cancelled(any_store: JobStore) -> None:
    job = created(any_store, rows=3)
    assert any_store.cancel(job) == "queued"
    assert any_store.cancel(job) == "terminal:cancelled"
    done = created(any_store, rows=3)
    finish(any_store, done, 0)
    assert any_store.cancel(done) == "terminal:succeeded"
    assert any_store.get(done.job_id).status is JobStatus.SUCCEEDED
    assert list(any_store.read_results(done, 0, 3))


def test_cancelling_an_expired_job_says_gone(any_store: JobStore) -> None:
    assert any_store.cancel(make_job()) == "gone"


def test_a_failed_job_keeps_its_error(any_store: JobStore) -> None:
    job = created(any_store, rows=10)
    error = {"type": "/problems/chunk-failed", "title": "t", "status": 500, "detail": "rows 4 to 7"}
    assert any_store.end_job(job.job_id, JobStatus.FAILED, error) == "queued"
    failed = any_store.get(job.job_id)
    assert (failed.status, failed.error) == (JobStatus.FAILED, error)
    assert failed.finished_at is not None
    assert finish(any_store, job, 0) == "failed"
    assert any_store.end_job(job.job_id, JobStatus.CANCELLED) == "terminal:failed"


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


# ---------------------------------------------------------------- backpressure and expiry


def test_a_full_queue_refuses_a_job_and_writes_nothing(any_store: JobStore, any_redis: redis.Redis) -> None:
    first, second = make_job(), make_job()
    any_store.create(first, inputs(10), 2)
    any_store.create(second, inputs(10), 2)
    before = redis_keys(any_redis)
    refused = make_job()
    with pytest.raises(UnavailableError) as caught:
        any_store.create(refused, inputs(10), 2)
    assert caught.value.status == 503
    assert caught.value.retry_after is not None and caught.value.retry_after > 0
    assert redis_keys(any_redis) == before
    assert any_store.active_count() == 2


def test_a_full_queue_seen_only_by_the_script_leaves_no_input_behind(any_store: JobStore, any_redis: redis.Redis,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    any_store.create(make_job(), inputs(10), 1)
    before = redis_keys(any_redis)
    monkeypatch.setattr(any_store, "check_capacity", lambda max_active: None)
    with pytest.raises(UnavailableError):
        any_store.create(make_job(), inputs(10), 1)
    assert redis_keys(any_redis) == before


def test_ending_jobs_frees_queue_capacity(any_store: JobStore) -> None:
    first = make_job(rows=3)
    any_store.create(first, inputs(3), 1)
    finish(any_store, first, 0)
    second = make_job(rows=3)
    any_store.create(second, inputs(3), 1)
    any_store.cancel(second)
    any_store.create(make_job(rows=3), inputs(3), 1)
    assert any_store.active_count() == 1


def test_every_key_the_store_writes_expires(any_store: JobStore, any_redis: redis.Redis) -> None:
    done = created(any_store, rows=10)
    for index in range(3):
        any_store.start_chunk(done.job_id, index, ATTEMPTS)
        finish(any_store, done, index)
    partial = created(any_store, rows=10, owner="bob")
    any_store.start_chunk(partial.job_id, 0, ATTEMPTS)
    finish(any_store, partial, 0)
    cancelled = created(any_store, rows=10)
    finish(any_store, cancelled, 2)
    any_store.cancel(cancelled)
    failed = created(any_store, rows=10)
    any_store.end_job(failed.job_id, JobStatus.FAILED, {"detail": "x"})
    any_store.list_jobs("alice", None, 1, None)
    assert len(redis_keys(any_redis)) > 5
    assert keys_without_ttl(any_redis) == []
    assert all(any_redis.ttl(k) <= TTL for k in redis_keys(any_redis))


# ---------------------------------------------------------------- waiting


def test_wait_answers_as_soon_as_the_job_ends(any_store: JobStore) -> None:
    job = created(any_store, rows=3)
    threading.Timer(0.1, lambda: finish(any_store, job, 0)).start()
    started = time.monotonic()
    done = any_store.wait(job.job_id, "alice", 5.0)
    assert done.status is JobStatus.SUCCEEDED
    assert time.monotonic() - started < 2.0


def test_wait_gives_the_current_status_after_the_time_is_up(any_store: JobStore) -> None:
    job = created(any_store, rows=3)
    started = time.monotonic()
    current = any_store.wait(job.job_id, "alice", 0.2)
    elapsed = time.monotonic() - started
    assert current.status is JobStatus.QUEUED
    assert 0.19 <= elapsed < 1.5


def test_wait_for_another_owners_job_is_not_found(any_store: JobStore) -> None:
    job = created(any_store, rows=3)
    with pytest.raises(JobNotFoundError):
        any_store.wait(job.job_id, "bob", 0.1)


def test_job_hash_round_trip_keeps_optional_fields() -> None:
    job = replace(make_job(), callback_url="https://h.example/x", classes=None, metadata={})
    fields = {str(k).encode(): v if isinstance(v, bytes) else str(v).encode() for k, v in job.to_hash().items()}
    assert Job.from_hash(fields) == job
