"""The sweeper: finishes what the transport loses.

Every few seconds one worker (whoever holds the lock) looks at every live job.
A chunk that was dispatched to a lane and is not done, not waiting in a lane and
not held by a live worker has lost its message (a killed worker, a message dropped between BRPOP
and its bookkeeping, an enqueue that failed); seen so twice, it is enqueued
again. A job whose input chunks Redis lost ends failed, so no client polls a
job that never ends. A job by reference with every chunk done whose sealer died
(seen so twice) has its manifest written; one that storage keeps refusing ends
failed after SEAL_GIVE_UP_SECONDS.
"""

from __future__ import annotations

import base64
import logging
import time
from typing import cast

import orjson
import pyarrow as pa
import redis

from shared import workers
from shared.job import Job
from shared.keys import key
from shared.queue import SCORE_CHUNK, lane_queues
from shared.services import Services
from shared.storage.locations import storage_reason
from shared.workers import Chunk

log = logging.getLogger(__name__)

LOCK = key("sweeper", "lock")
SUSPECTS = key("sweeper", "suspects")
SWEEP_SECONDS = 3.0
CONFIRM_SECONDS = 5.0
"""A chunk must look orphaned for this long before it is enqueued again (stamps lag by a heartbeat)."""
OFFSET = key("sweeper", "offset")
"""Where the next sweep's turn over the live jobs starts."""
MAX_SWEPT_JOBS = 1_000
"""Live jobs looked at per sweep. With more (MAX_QUEUED_JOBS allows 10,000), sweeps take them in turns from
OFFSET, so one sweep's cost stays bounded and every job is still looked at every few sweeps."""
MAX_QUEUE_VIEW = 20_000
"""Messages of one lane read per sweep. A longer lane is not read (a sweep would parse every message every
few seconds); orphans are looked for again once it is shorter: a lost message waits, none is sent twice."""
SUSPECT_MEMORY_SECONDS = CONFIRM_SECONDS * 10
"""A suspect not seen again for this long (its job left the turn, or ended) is forgotten."""
SEAL_GIVE_UP_SECONDS = 600.0
"""A job with every chunk done whose manifest storage keeps refusing (a bucket gone, a volume full) is tried
again every sweep for this long, then ends failed saying why, so that no client polls it for ever."""


def queued_chunks(client: redis.Redis, queue: str) -> set[Chunk] | None:
    """(job id, chunk) of every message waiting in the Celery queue list; None past MAX_QUEUE_VIEW messages."""
    if int(client.llen(queue)) > MAX_QUEUE_VIEW:
        return None
    found: set[Chunk] = set()
    for raw in cast(list[bytes], client.lrange(queue, 0, MAX_QUEUE_VIEW - 1)):
        args = _message_args(raw)
        if args is not None:
            found.add(args)
    return found


def _message_args(raw: bytes) -> Chunk | None:
    try:
        message = orjson.loads(raw)
        body = message["body"]
        if message.get("properties", {}).get("body_encoding") == "base64":
            body = base64.b64decode(body)
        if message.get("headers", {}).get("task") != SCORE_CHUNK:
            return None
        args = orjson.loads(body)[0]
        return str(args[0]), int(args[1])
    except (ValueError, KeyError, IndexError, TypeError):
        return None


class Sweeper:
    interval = SWEEP_SECONDS

    def __init__(self, services: Services, owner: str) -> None:
        self.settings = services.settings
        self.redis = services.redis
        self.store = services.store
        self.lifecycle = services.lifecycle
        self.owner = owner

    def run_once(self, now: float | None = None) -> dict[str, int]:
        """One sweep, if this worker wins the lock; counts of what it did."""
        if not self.redis.set(LOCK, self.owner, nx=True, ex=max(int(self.interval) - 1, 1)):
            return {}
        held = workers.held_chunks(self.redis)
        if held is None:
            return {}
        views = [queued_chunks(self.redis, queue) for queue in lane_queues(self.settings).values()]
        if any(view is None for view in views):  # a lane too long to read: nothing can be called lost now
            report = {"resent": 0, "failed": 0, "forgotten": 0, "unviewed": 1}
        else:
            report = self._sweep(held.union(*cast(list[set[Chunk]], views)), now or time.time())
        report["dispatched"] = self.lifecycle.dispatch()
        report["reclaimed"] = len(self.lifecycle.ingests.reclaim_abandoned(now))
        return report

    def _sweep(self, waiting: set[Chunk], now: float) -> dict[str, int]:
        report = {"resent": 0, "failed": 0, "forgotten": 0}
        before = self._suspects()
        turn = self._turn()
        # Suspects of jobs outside this turn are kept (they are confirmed when their turn comes), for a while.
        suspects = {name: first for name, first in before.items()
                    if name.rpartition(":")[0] not in turn and now - first < SUSPECT_MEMORY_SECONDS}
        for job_id in turn:
            job = self.store.find(job_id)
            if job is None or job.status.terminal:
                self.store.forget_active(job_id)
                report["forgotten"] += 1
                continue
            if job.output is not None and job.chunks_done >= job.chunks_total:
                name = f"{job_id}:seal"
                first = before.get(name, now)
                outcome = self._seal(job, first, now)
                if outcome == "unsealed":
                    suspects[name] = first
                report[outcome] = report.get(outcome, 0) + 1
                continue
            orphans = self._orphans(job, waiting)
            lost = next((i for i in orphans if job.source is None and self._input_lost(job_id, i)), None)
            if lost is not None:
                self.lifecycle.fail_lost_input(job, lost)
                report["failed"] += 1
                continue
            confirmed = []
            for index in orphans:
                name = f"{job_id}:{index}"
                first = before.get(name, now)
                if now - first >= CONFIRM_SECONDS:
                    confirmed.append(index)
                else:
                    suspects[name] = first
            if confirmed:
                self.lifecycle.resend(job, confirmed)
                report["resent"] += len(confirmed)
        self._save_suspects(suspects)
        return report

    def _seal(self, job: Job, first: float, now: float) -> str:
        """Seal a job whose last chunk's worker died before it did: once the job has looked so for CONFIRM_SECONDS
        (that worker may be writing the manifest now), each sweep tries; storage that refuses for
        SEAL_GIVE_UP_SECONDS fails the job. What was done, in a word for the sweep's report."""
        if now - first < CONFIRM_SECONDS:
            return "unsealed"
        try:
            self.lifecycle.seal(job)
        except (OSError, pa.ArrowException) as exc:  # one job's storage must not stop the sweep of every other
            log.warning("could not write the manifest of job %s: %s", job.job_id, exc)
            if now - first < SEAL_GIVE_UP_SECONDS:
                return "unsealed"
            self.lifecycle.fail_unsealed(job, storage_reason(exc, job.output["path"] if job.output else ""))
            return "failed"
        return "sealed"

    def _turn(self) -> set[str]:
        """The live jobs this sweep looks at: MAX_SWEPT_JOBS from OFFSET, wrapping to the oldest at the end."""
        offset = int(cast(bytes | None, self.redis.get(OFFSET)) or 0)
        ids = self.store.active_job_ids(offset, MAX_SWEPT_JOBS)
        if not ids and offset:
            offset, ids = 0, self.store.active_job_ids(0, MAX_SWEPT_JOBS)
        following = offset + len(ids) if len(ids) == MAX_SWEPT_JOBS else 0
        self.redis.set(OFFSET, following, ex=int(SUSPECT_MEMORY_SECONDS))
        return set(ids)

    def _input_lost(self, job_id: str, index: int) -> bool:
        """No input and not done, read in that order: a chunk recorded meanwhile (which drops its input in the
        same step as it joins the done set) is never taken for lost."""
        return not self.store.input_exists(job_id, index) and not self.store.chunk_is_done(job_id, index)

    def _orphans(self, job: Job, waiting: set[Chunk]) -> list[int]:
        done = self.store.done_chunks(job.job_id)
        # Chunks not yet dispatched wait in the fair scheduler: not lost.
        return [i for i in range(job.chunks_dispatched) if i not in done and (job.job_id, i) not in waiting]

    def _suspects(self) -> dict[str, float]:
        raw = cast(dict[bytes, bytes], self.redis.hgetall(SUSPECTS))
        return {k.decode(): float(v) for k, v in raw.items()}

    def _save_suspects(self, suspects: dict[str, float]) -> None:
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(SUSPECTS)
            if suspects:
                pipe.hset(SUSPECTS, items=[part for pair in suspects.items() for part in pair])
                pipe.expire(SUSPECTS, int(SUSPECT_MEMORY_SECONDS))
            pipe.execute()
