"""The fair scheduler of the bulk lane, against fakeredis and a real redis-server alike."""

from __future__ import annotations

from dataclasses import replace

import pytest
import redis

from shared.errors import UnavailableError
from shared.ingest import Ingests
from shared.job import JobStatus
from shared.keys import key
from shared.scheduler import FairScheduler
from shared.store import JobStore, job_key
from tests.unit.helpers import created, make_job

BULK = "predq.bulk"


def _scheduled(store: JobStore, scheduler: FairScheduler, owner: str, chunks: int) -> str:
    job = created(store, rows=chunks * 4, owner=owner, chunk_rows=4)
    scheduler.add(job, job.chunks_total)
    return job.job_id


def test_chunks_go_round_robin_across_owners_then_their_jobs(any_store: JobStore, any_redis: redis.Redis) -> None:
    scheduler = FairScheduler(any_redis, BULK, 3600)
    a1, a2 = (_scheduled(any_store, scheduler, "alice", 3) for _ in range(2))
    b1 = _scheduled(any_store, scheduler, "bob", 2)
    assert scheduler.waiting() == 8

    taken = scheduler.take(window=100)

    assert taken == [(a1, 0), (b1, 0), (a2, 0), (b1, 1), (a1, 1), (a2, 1), (a1, 2), (a2, 2)]
    assert scheduler.waiting() == 0
    assert scheduler.take(window=100) == []
    assert [any_store.get(job_id).chunks_dispatched for job_id in (a1, a2, b1)] == [3, 3, 2]


def test_take_fills_the_lane_only_up_to_the_window(any_store: JobStore, any_redis: redis.Redis) -> None:
    scheduler = FairScheduler(any_redis, BULK, 3600)
    job_id = _scheduled(any_store, scheduler, "alice", 5)
    any_redis.rpush(BULK, b"a message already waiting")

    assert scheduler.take(window=3) == [(job_id, 0), (job_id, 1)]
    any_redis.rpush(BULK, b"chunk 0", b"chunk 1")  # as the lifecycle sends what it took
    assert scheduler.take(window=3) == []
    any_redis.delete(BULK)
    assert scheduler.take(window=3) == [(job_id, 2), (job_id, 3), (job_id, 4)]


def test_an_ended_job_leaves_the_schedule_with_its_chunks(any_store: JobStore, any_redis: redis.Redis) -> None:
    scheduler = FairScheduler(any_redis, BULK, 3600)
    cancelled = _scheduled(any_store, scheduler, "alice", 4)
    kept = _scheduled(any_store, scheduler, "alice", 1)
    any_store.end_job(cancelled, JobStatus.CANCELLED)

    assert scheduler.take(window=100) == [(kept, 0)]
    assert scheduler.waiting() == 0


def test_a_job_whose_record_expired_is_skipped(any_store: JobStore, any_redis: redis.Redis) -> None:
    scheduler = FairScheduler(any_redis, BULK, 3600)
    gone = _scheduled(any_store, scheduler, "alice", 2)
    kept = _scheduled(any_store, scheduler, "bob", 1)
    any_redis.delete(job_key(gone))

    assert scheduler.take(window=100) == [(kept, 0)]


def test_every_scheduler_key_expires(any_store: JobStore, any_redis: redis.Redis) -> None:
    scheduler = FairScheduler(any_redis, BULK, 3600)
    _scheduled(any_store, scheduler, "alice", 3)
    scheduler.take(window=1)
    for name in any_redis.scan_iter(match=key("sched", "*")):
        assert 0 < any_redis.ttl(name) <= 3600, name


def test_a_body_still_being_read_keeps_its_turn_while_nothing_is_ready(any_store: JobStore,
                                                                       any_redis: redis.Redis) -> None:
    scheduler = FairScheduler(any_redis, BULK, 3600)
    reading = make_job(rows=40, chunk_rows=4)
    Ingests(any_redis, 3600, BULK).open_hidden(reading, ready=1)
    scheduler.add(reading, 1)

    assert scheduler.take(window=10) == [(reading.job_id, 0)]
    assert scheduler.take(window=10) == []  # nothing more stored yet: it stays in line
    scheduler.more_ready(reading.job_id, 2)
    assert scheduler.take(window=10) == [(reading.job_id, 1), (reading.job_id, 2)]
    assert scheduler.waiting() == 0


def test_a_bulk_job_is_recorded_and_scheduled_in_one_transaction(any_store: JobStore, any_redis: redis.Redis) -> None:
    scheduler = FairScheduler(any_redis, BULK, 3600)
    job = replace(make_job(rows=12, chunk_rows=4, owner="alice"), bulk=True)
    any_store.create_record(job, 10, also=lambda pipe: scheduler.add(job, job.chunks_total, pipe))
    assert any_store.find(job.job_id) is not None
    assert scheduler.waiting() == 3
    assert [index for _, index in scheduler.take(10)] == [0, 1, 2]


def test_a_bulk_job_refused_for_a_full_queue_is_neither_recorded_nor_scheduled(any_store: JobStore,
                                                                             any_redis: redis.Redis) -> None:
    scheduler = FairScheduler(any_redis, BULK, 3600)
    created(any_store, rows=4, owner="bob", chunk_rows=4)  # the one place of a queue of one
    job = replace(make_job(rows=12, chunk_rows=4, owner="alice"), bulk=True)
    with pytest.raises(UnavailableError):
        any_store.create_record(job, 1, also=lambda pipe: scheduler.add(job, job.chunks_total, pipe))
    assert any_store.find(job.job_id) is None
    assert scheduler.waiting() == 0 and scheduler.take(10) == []


def test_scheduling_a_job_without_a_record_does_nothing(any_redis: redis.Redis) -> None:
    scheduler = FairScheduler(any_redis, BULK, 3600)
    scheduler.add(replace(make_job(rows=8, chunk_rows=4, owner="alice"), bulk=True), 2)
    assert scheduler.waiting() == 0 and scheduler.take(10) == []
