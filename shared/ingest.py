"""Submissions in progress: known to Redis with a heartbeat of the process reading them.

A body's chunks are stored as they are validated, and a bulk body's chunks are scored while the rest of it is
still read, under a hidden job record (no GET, listing or metric shows it) that becomes the job on acceptance.
Every submission in progress stamps itself in INGESTING every few seconds from a thread of the process that
owns it; when that process dies (an out-of-memory kill, a deploy), the stamps stop, and the sweeper drops
everything the submission left (`reclaim_abandoned`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Iterator
from typing import Any, cast

import redis

from shared import scripts
from shared.job import Job, JobStatus
from shared.keys import PREFIX, key
from shared.scheduler import SCHEDULED
from shared.store import done_key, job_key

log = logging.getLogger(__name__)

INGESTING = key("ingesting")
"""Sorted set: job id of each submission in progress -> its owner process's last heartbeat (Unix seconds)."""

BEAT_SECONDS = 5.0
ABANDONED_AFTER_SECONDS = 30.0
"""A submission whose heartbeat is older than this belongs to a process that died."""

UNKNOWN = 2**31 - 1
"""Rows and chunks of a hidden job whose body is still being read."""


def submission_key(job_id: str) -> str:
    return key("ingest", job_id)


class Ingests:
    """The Redis side of submissions in progress."""

    def __init__(self, client: redis.Redis, ttl_seconds: int, bulk_queue: str) -> None:
        self.redis = client
        self.ttl = ttl_seconds
        self.bulk_queue = bulk_queue
        self._accept = client.register_script(scripts.ACCEPT_HIDDEN)
        self._drop = client.register_script(scripts.DROP_UNACCEPTED)

    def stored(self, job_id: str, chunks: int) -> None:
        """The submission has stored `chunks` input chunks so far (and is alive)."""
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.zadd(INGESTING, {job_id: time.time()})
            pipe.expire(INGESTING, self.ttl)
            pipe.hset(submission_key(job_id), "chunks", chunks)
            pipe.expire(submission_key(job_id), self.ttl)
            pipe.execute()

    def open_hidden(self, job: Job, ready: int) -> None:
        """The record under which a bulk body's chunks are scored before it is accepted."""
        fields = {**job.to_hash(), "hidden": 1, "rows": UNKNOWN, "chunks_total": UNKNOWN, "ready": ready}
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(job_key(job.job_id), items=[part for pair in fields.items() for part in pair])
            pipe.expire(job_key(job.job_id), self.ttl)
            pipe.execute()

    def accept_hidden(self, job: Job, order_keys: list[str], max_active: int) -> tuple[JobStatus, int] | None:
        """Make the hidden job visible as `job` says (its rows and chunks); its status and the rows scored
        meanwhile, or None when the queue is full. Raises KeyError when the record is gone."""
        answer = cast(list[Any], self._accept(
            keys=[job_key(job.job_id), *order_keys, SCHEDULED],
            args=[job.job_id, int(time.time() * 1e6), self.ttl, max_active, job.chunks_total, job.rows]))
        if int(answer[0]) == -1:
            raise KeyError(job.job_id)
        if int(answer[0]) == 0:
            return None
        status = answer[1].decode() if isinstance(answer[1], bytes) else str(answer[1])
        return JobStatus(status), int(answer[2])

    def forget(self, job_id: str) -> None:
        """An accepted submission is no longer in progress."""
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.zrem(INGESTING, job_id)
            pipe.delete(submission_key(job_id))
            pipe.execute()

    def drop(self, job_id: str, abandoned_before: float | None = None) -> int:
        """Remove every trace of a submission never accepted (now, or if its heartbeat is older than
        `abandoned_before`); the input chunks dropped."""
        cutoff = "+inf" if abandoned_before is None else repr(abandoned_before)
        keys = [INGESTING, submission_key(job_id), job_key(job_id), done_key(job_id), SCHEDULED, self.bulk_queue]
        return int(self._drop(keys=keys, args=[job_id, f"{PREFIX}:", cutoff]))

    def reclaim_abandoned(self, now: float | None = None) -> dict[str, int]:
        """Drop the submissions whose process stopped beating: {job id: input chunks dropped}."""
        cutoff = (now or time.time()) - ABANDONED_AFTER_SECONDS
        stale = [m.decode() for m in cast(list[bytes], self.redis.zrangebyscore(INGESTING, "-inf", cutoff))]
        dropped = {job_id: self.drop(job_id, cutoff) for job_id in stale}
        for job_id, chunks in dropped.items():
            log.warning("submission %s was abandoned by its process: dropped %d input chunks", job_id, chunks)
        return dropped


class Heartbeat:
    """Stamps this process's submissions in progress every BEAT_SECONDS, from one thread per process."""

    def __init__(self, client: redis.Redis) -> None:
        self.redis = client
        self._ids: set[str] = set()
        self._lock = threading.Lock()
        self._pid = 0

    @contextlib.contextmanager
    def tracking(self, job_id: str) -> Iterator[None]:
        with self._lock:
            self._ids.add(job_id)
            if self._pid != os.getpid():  # a forked child has no thread of its parent's
                self._pid = os.getpid()
                threading.Thread(target=self._beat, name="predq-ingest-heartbeat", daemon=True).start()
        try:
            yield
        finally:
            with self._lock:
                self._ids.discard(job_id)

    def _beat(self) -> None:
        while True:
            time.sleep(BEAT_SECONDS)
            with self._lock:
                ids = list(self._ids)
            if not ids:
                continue
            try:
                now = time.time()
                self.redis.zadd(INGESTING, dict.fromkeys(ids, now), xx=True)
            except Exception as exc:  # Redis away: the next beat comes soon enough
                log.warning("could not stamp submissions in progress: %s", exc)
