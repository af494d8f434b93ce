"""The Redis job store, run against fakeredis and a real redis-server alike."""

from __future__ import annotations

import threading
import time
from dataclasses import replace

import numpy as np
import pytest
import redis

from shared.errors import JobNotFoundError, UnavailableError
from shared.job import Job, JobStatus
from shared.store import JOB_ID, ChunkWriter, JobStore, job_key, new_job_id, owner_key
from tests.unit.helpers import ATTEMPTS, MANY, TTL, created, finish, inputs, keys_without_ttl, make_job, redis_keys

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
    any_redis.delete(job_key(jobs[1].job_id))
    page = any_store.list_jobs("alice", None, 50, None)
    assert [j.job_id for j in page.jobs] == [jobs[3].job_id, jobs[2].job_id, jobs[0].job_id]
    assert any_redis.zscore(owner_key("alice"), jobs[1].job_id) is None


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
