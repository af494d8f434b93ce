"""Fair share for the bulk lane: waiting chunks are handed out round-robin across API keys, then across each
key's jobs, a few at a time, so that one key's hundred big jobs do not hold back another key's one.

A bulk job's chunks wait here, not in Celery's queue; `take` moves the next ones into the bulk lane until it
holds a small window of messages. A chunk counts as dispatched once taken (the job's `dispatched` field): if
its message is then lost, the sweeper sees a dispatched chunk that is neither queued, held nor done, and sends
it again.
"""

from __future__ import annotations

from typing import cast

import redis
from redis.client import Pipeline

from shared import scripts
from shared.job import Job
from shared.keys import PREFIX, key
from shared.store import job_key
from shared.workers import Chunk

OWNERS = key("sched", "owners")
"""The ring of owners with chunks waiting (each at most once: OWNER_SET)."""
OWNER_SET = key("sched", "owners", "set")
SCHEDULED = key("sched", "chunks")
"""How many chunks wait in the scheduler, for /metrics."""


def owner_ring(owner: str) -> str:
    """The ring of an owner's jobs with chunks waiting (the Lua script builds the same name)."""
    return key("sched", "owner", owner)


class FairScheduler:
    def __init__(self, client: redis.Redis, bulk_queue: str, ttl_seconds: int) -> None:
        self.redis = client
        self.bulk_queue = bulk_queue
        self.ttl = ttl_seconds
        self._schedule = client.register_script(scripts.SCHEDULE_JOB)
        self._take = client.register_script(scripts.TAKE_CHUNKS)

    def add(self, job: Job, ready: int, client: redis.Redis | Pipeline | None = None) -> None:
        """Put a bulk job in line behind its owner's other jobs, with its first `ready` chunks stored; in
        `client`'s transaction when given (the job's record must exist when it runs)."""
        self._schedule(keys=[OWNERS, OWNER_SET, owner_ring(job.owner), SCHEDULED, job_key(job.job_id)],
                       args=[job.job_id, job.owner, ready, self.ttl], client=client)

    def more_ready(self, job_id: str, chunks: int) -> None:
        """`chunks` more chunks of a body still being read are stored and may be dispatched."""
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.hincrby(job_key(job_id), "ready", chunks)
            pipe.incrby(SCHEDULED, chunks)
            pipe.expire(SCHEDULED, self.ttl)
            pipe.execute()

    def take(self, window: int) -> list[Chunk]:
        """The next chunks in fair order, as many as the bulk lane has room for below `window` messages."""
        turns = 4 * window + 64
        flat = cast(list[bytes | int], self._take(keys=[OWNERS, OWNER_SET, SCHEDULED, self.bulk_queue],
                                                  args=[window, f"{PREFIX}:", self.ttl, turns]))
        return [(_text(flat[i]), int(flat[i + 1])) for i in range(0, len(flat), 2)]

    def waiting(self) -> int:
        """Chunks of accepted bulk jobs not yet handed to the bulk lane."""
        return max(int(self.redis.get(SCHEDULED) or 0), 0)


def _text(value: bytes | int) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
