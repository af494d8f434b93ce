"""The life of a job and of its chunks: every transition, and what follows each.

    submit ─► queued ─► running ─► succeeded      (the chunk that completes the job)
                 │          ├────► failed         (a chunk that cannot be scored, a poison chunk, lost input)
                 └──────────┴────► cancelled      (DELETE /jobs/<id>)

The store's Lua scripts make each move atomic and decide who made it; this module calls them, and does once
what follows a move (metrics, the callback, dropping refused data). The API's views and the worker's tasks
parse their input, make one call here, and render the answer.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol, TypeVar

import pyarrow as pa

from shared import logs, workers
from shared.batch import Batch, limited_blocks
from shared.errors import ChunkFailedError, ConflictError, JobNotFoundError, OutputFailedError, UnavailableError
from shared.idempotency import IdempotencyStore
from shared.ingest import Heartbeat, Ingests
from shared.job import Job, JobStatus
from shared.metrics import MetricsRecorder, record_job_end
from shared.overlap import Overlap, OverlapContext
from shared.queue import ChunkQueue, Lane
from shared.quotas import KeyQuotas
from shared.resource import job_resource
from shared.retry import patiently
from shared.scheduler import FairScheduler
from shared.settings import Settings
from shared.sizing import ChunkSizer
from shared.storage.chunks import StoredChunks
from shared.store import ChunkWriter, JobStore, new_job_id
from shared.transitions import ChunkFinish, ChunkStart, Ending

log = logging.getLogger(__name__)
T = TypeVar("T")

IDEMPOTENT_WAIT_SECONDS = 5.0
"""How long a retry waits for the job that a concurrent first request is still creating."""


class Scorer(Protocol):
    """Scores one chunk's rows (a table: the model's columns, then pass-through ones) for `job`: its result
    table; raises ChunkFailedError when they cannot be scored."""

    def __call__(self, job: Job, X: pa.Table) -> pa.Table: ...


@dataclass(frozen=True)
class IdempotentRequest:
    key: str
    fingerprint: Callable[[], str]
    """The request's fingerprint, asked for once its body has been read whole."""


@dataclass(frozen=True)
class Submitted:
    job: Job
    created: bool
    """False when an Idempotency-Key named a job made by an earlier request."""


class Lifecycle:
    """Every move of a job and its chunks, for the API, the workers and the sweeper alike."""

    def __init__(self, settings: Settings, store: JobStore, queue: ChunkQueue, metrics: MetricsRecorder,
                 idempotency: IdempotencyStore, scheduler: FairScheduler, ingests: Ingests, heartbeat: Heartbeat,
                 sizer: ChunkSizer, stored: StoredChunks, redis_patience: float = 0.0,
                 quotas: KeyQuotas | None = None) -> None:
        self.settings = settings
        self.store = store
        self.queue = queue
        self.scheduler = scheduler
        self.ingests = ingests
        self.heartbeat = heartbeat
        self.sizer = sizer
        self.stored = stored
        """The storage of jobs by reference: their inputs, parts and manifests."""
        self.metrics = metrics
        self.idempotency = idempotency
        self.redis_patience = redis_patience
        """Seconds a chunk's transitions wait for Redis to come back (workers); 0 answers at once (the API)."""
        self.quotas = quotas
        """Per-key unfinished jobs and rows: reserved at acceptance, given back by `_ended`."""

    # ------------------------------------------------------------------ submission
    def submit(self, owner: str, batch: Batch, idempotent: IdempotentRequest | None = None) -> Submitted:
        """Store a batch's chunks as they are validated, then record and enqueue its job.

        A refused batch leaves nothing behind; an Idempotency-Key that names an earlier job answers that job."""
        self._check_room(owner, idempotent)
        job_id = new_job_id()
        chunk_rows = self.sizer.rows_for(batch.model.ref(), len(batch.model.features))
        overlap = Overlap(OverlapContext(self.ingests, self.scheduler, self._dispatch_quietly,
                                         self.settings.small_job_rows), owner, batch, job_id, chunk_rows)
        writer = ChunkWriter(self.store, job_id, chunk_rows, list(batch.model.features),
                             before_store=overlap.storing, after_store=overlap.stored)
        overlap.writer = writer
        with self.heartbeat.tracking(job_id):
            try:
                for X in limited_blocks(batch.blocks, self.settings.max_rows):
                    writer.add(X)
                writer.finish()
                job = overlap.job(writer.rows, writer.chunks)
                earlier = self._admit(job, owner, idempotent, lambda: self._accept(job, overlap.started))
                if earlier is not None:
                    self._drop_unaccepted(writer)
                    return Submitted(self._wait_for_record(earlier, owner), created=False)
                return Submitted(job, created=True)
            except BaseException:
                self._drop_unaccepted(writer)
                raise

    def submit_stored(self, owner: str, planned: Callable[[], tuple[Job, list[dict[str, Any]]]],
                      idempotent: IdempotentRequest | None = None) -> Submitted:
        """Record and enqueue a job by reference: `planned()` gives it and its chunks' `segments` (where each lies
        in storage), once the key and the queue have room (a full key costs no reads of storage)."""
        self._check_room(owner, idempotent)
        job, segments = planned()

        def accept() -> None:  # the plan first: a chunk dispatched once the job is recorded finds where it lies
            self.store.put_plan(job.job_id, segments)
            self._accept(job, overlapped=False)

        try:
            earlier = self._admit(job, job.owner, idempotent, accept)
        except BaseException:
            self.store.drop_plan(job.job_id)
            raise
        if earlier is not None:  # a retry: its first job's plan stands, and none was written for this one
            return Submitted(self._wait_for_record(earlier, job.owner), created=False)
        return Submitted(job, created=True)

    def _check_room(self, owner: str, idempotent: IdempotentRequest | None) -> None:
        if idempotent is None:  # a retry must reach its first job, full queue or not
            self.store.check_capacity(self.settings.max_queued_jobs)
            if self.quotas is not None:  # refused before its body is read: a full key costs no upload
                self.quotas.check(owner)

    def _admit(self, job: Job, owner: str, idempotent: IdempotentRequest | None,
               accept: Callable[[], None]) -> str | None:
        """Claim the Idempotency-Key, reserve the key's quota and accept the job; the id of the earlier job an
        Idempotency-Key names instead, if any (then nothing is accepted)."""
        if idempotent is not None:
            earlier = self.idempotency.claim(owner, idempotent.key, idempotent.fingerprint(), job.job_id)
            if earlier is not None:
                return earlier
        try:
            self._reserve(job)
            try:
                accept()
            except Exception:
                self._release(job)
                raise
        except Exception:
            if idempotent is not None:
                self.idempotency.release(owner, idempotent.key)
            raise
        return None

    def _reserve(self, job: Job) -> None:
        """Count the job against its key's quotas (atomically, in Redis), or 429 with nothing kept."""
        if self.quotas is not None:
            self.quotas.reserve(job.owner, job.job_id, job.rows)

    def _release(self, job: Job) -> None:
        """Give the job's place back; idempotent, so an end seen twice frees one place, not two."""
        if self.quotas is None:
            return
        try:
            self.quotas.release(job.owner, job.job_id)
        except Exception as exc:  # the place lapses with its key's TTL; the job's move must not fail for it
            log.warning("could not release the quota of job %s: %s", job.job_id, exc)

    def _drop_unaccepted(self, writer: ChunkWriter) -> None:
        """A refused body leaves nothing: its chunks, anything scored for it meanwhile, its hidden record."""
        writer.abort()
        self.ingests.drop(writer.job_id)

    def _accept(self, job: Job, overlapped: bool) -> None:
        """Record the job and put its chunks in line; a failure to do so leaves no live job behind.

        A small job's chunks all go to the small lane; a bulk job's were scheduled as its body was read."""
        if overlapped:
            self._accept_overlapped(job)
        else:
            self._accept_stored(job)
        self.ingests.forget(job.job_id)
        try:
            self.metrics.count("predq_jobs_submitted", model=job.model["name"])
        except Exception as exc:  # the job exists and will run: a lost count must not turn it into an error
            log.warning("could not count job %s: %s", job.job_id, exc)
        logs.bind(job_id=job.job_id, model=job.model["name"])
        log.info("job accepted", extra={"rows": job.rows, "chunks": job.chunks_total, "method": job.method,
                                        "chunk_rows": job.chunk_rows})

    def _accept_stored(self, job: Job) -> None:
        """Record a job whose chunks are all stored, and put them in line: all at once in the small lane, or in
        the fair scheduler for the bulk lane."""
        if job.bulk:  # recorded and put in the scheduler's line in one transaction: never one without the other
            try:
                self.store.create_record(job, self.settings.max_queued_jobs,
                                         also=lambda pipe: self.scheduler.add(job, job.chunks_total, pipe))
            except UnavailableError:
                raise  # refused whole (the queue is full): nothing was written
            except Exception:
                self._discard_quietly(job)  # a command of the transaction failed: no half-accepted job stays
                raise
            self._dispatch_quietly()
            return
        self.store.create_record(job, self.settings.max_queued_jobs)
        try:
            self.queue.send(Lane.SMALL, [(job.job_id, index) for index in range(job.chunks_total)])
        except Exception:
            log.exception("enqueuing job %s failed; discarding it", job.job_id)
            self._discard_quietly(job)
            raise

    def _accept_overlapped(self, job: Job) -> None:
        """The hidden job becomes `job`; rows scored while its body was read count from now on."""
        try:
            accepted = self.ingests.accept_hidden(job, self.store.listing_keys(job.owner),
                                                  self.settings.max_queued_jobs)
        except KeyError:
            raise UnavailableError("the submission was dropped while it was read (was its process thought "
                                   "dead?); submit it again", retry_after=1) from None
        if accepted is None:
            raise self.store.queue_full(self.settings.max_queued_jobs)
        status, rows_done = accepted
        if rows_done:
            self.metrics.count("predq_rows_scored", rows_done, model=job.model["name"])
        if status.terminal:
            self._ended(job, status)
        self._dispatch_quietly()

    def _discard_quietly(self, job: Job) -> None:
        """Best effort: with Redis down the job stays, and the sweeper enqueues its chunks once Redis is back."""
        try:
            self.store.discard(job)
        except Exception as exc:
            log.warning("could not discard job %s (%s); the sweeper will finish it", job.job_id, exc)

    def _wait_for_record(self, job_id: str, owner: str) -> Job:
        deadline = time.monotonic() + IDEMPOTENT_WAIT_SECONDS
        while True:
            try:
                return self.store.get(job_id, owner)
            except JobNotFoundError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    # ------------------------------------------------------------------ cancel
    def cancel(self, job_id: str, owner: str | None) -> Job:
        """Cancel a queued or running job of `owner`: 404 when there is none, 409 when it is already over."""
        job = self.store.get(job_id, owner)
        ending = self.store.cancel(job)
        if ending.status is None:
            raise JobNotFoundError(f"no job {job_id}")
        if not ending.by_this_call:
            raise ConflictError(f"job {job_id} is already {ending.status.value}; only a queued or running job "
                                "can be cancelled")
        self._ended(job, JobStatus.CANCELLED)
        return self.store.get(job_id)

    # ------------------------------------------------------------------ chunks
    def run_chunk(self, job_id: str, index: int, scorer: Scorer, node: str) -> ChunkStart | ChunkFinish:
        """Score chunk `index` of `job_id` unless it is done or its job is over; safe to run any number of times."""
        now = time.time()
        start = self._patiently(lambda: self.store.start_chunk(job_id, index, self.settings.max_chunk_attempts, now))
        if start not in (ChunkStart.RUN, ChunkStart.POISON):
            log.info("chunk %s/%d not run: %s", job_id, index, start.value)
            return start
        job = self._patiently(lambda: self.store.record(job_id))
        logs.bind(job_id=job_id, chunk=index, model=job.model["name"], api_key_id=logs.key_id(job.owner),
                  request_id=job.request_id)
        if job.started_at == now:  # this start moved the job from queued to running
            log.info("job started", extra={"rows": job.rows, "chunks": job.chunks_total})
        if start is ChunkStart.POISON:
            self.fail(job, index, f"it was tried {self.settings.max_chunk_attempts} times (MAX_CHUNK_ATTEMPTS) "
                                  "and each attempt died or was cut short")
            return start
        try:
            return self._score_and_record(job, index, scorer, node)
        except ChunkFailedError as exc:
            self.fail(job, index, exc.detail)
            return ChunkFinish.FAILED
        finally:
            self._dispatch_quietly()  # this worker is free: the bulk lane gets its next chunk in fair order

    def _score_and_record(self, job: Job, index: int, scorer: Scorer, node: str) -> ChunkFinish:
        began = time.perf_counter()
        X = self._read_input(job, index)
        if X is None:
            if self._patiently(lambda: self.store.chunk_is_done(job.job_id, index)):
                return ChunkFinish.DUPLICATE  # another delivery recorded it (and dropped its input) meanwhile
            raise ChunkFailedError("the chunk's input is no longer in Redis")
        started = time.perf_counter()
        result = scorer(job, X)
        elapsed = time.perf_counter() - started
        if job.output is not None:
            self._write_part(job, index, result)
        outcome = self._patiently(lambda: self.store.finish_chunk(job, index, result))
        log.debug("chunk %s", outcome.value, extra={"rows": len(X), "seconds": round(elapsed, 4)})
        if outcome.counted:
            self.metrics.record(counts=[("predq_rows_scored", len(X), {"model": job.model["name"]}),
                                        ("predq_chunks_scored", 1, {"worker": node})],
                                observations=[("predq_chunk_duration_seconds", elapsed)])
        if outcome.counted or outcome is ChunkFinish.HELD:
            self._observe_cost(job, time.perf_counter() - began, len(X))
        if outcome is ChunkFinish.FINISHED:
            self._ended(job, JobStatus.SUCCEEDED)
        elif outcome is ChunkFinish.COMPLETE:
            self.seal(job)
        return outcome

    def _read_input(self, job: Job, index: int) -> pa.Table | None:
        """The chunk's rows: from Redis, or from storage for a job by reference."""
        if job.source is None:
            return self._patiently(lambda: self.store.read_input(job.job_id, index))
        segment = self._patiently(lambda: self.store.plan_segment(job.job_id, index))
        return None if segment is None else self.stored.read_input(job, index, segment)

    def _write_part(self, job: Job, index: int, result: pa.Table) -> None:
        try:
            self.stored.write_part(job, index, result)
        except (OSError, pa.ArrowException) as exc:  # retried: the chunk's message is redelivered
            raise UnavailableError(f"could not write part {index} of job {job.job_id}: {exc}") from exc

    def seal(self, job: Job) -> Ending:
        """A job by reference with every chunk recorded: its manifest is written, then the job succeeds. Run again
        by the sweeper when the worker that should have done it died."""
        now = time.time()
        done = replace(job, status=JobStatus.SUCCEEDED, rows_done=job.rows, chunks_done=job.chunks_total,
                       finished_at=now)
        self.stored.write_manifest(done, job_resource(done))
        ending = self._patiently(lambda: self.store.end_job(job.job_id, JobStatus.SUCCEEDED, now=now))
        if ending.by_this_call:
            self._ended(job, JobStatus.SUCCEEDED)
        elif ending.status is not JobStatus.SUCCEEDED:  # cancelled meanwhile: a manifest claims success
            self.stored.withdraw_manifest(job)
        return ending

    def _observe_cost(self, job: Job, seconds: float, rows: int) -> None:
        """The whole chunk (read, score, record) sizes the model's next chunks; a lost sample costs nothing."""
        try:
            self.sizer.observe(job.model, seconds, rows)
        except Exception as exc:
            log.debug("could not record the cost of a chunk: %s", exc)

    def fail(self, job: Job, index: int, reason: str) -> Ending:
        """End a live job failed at chunk `index`, naming its rows and `reason`."""
        return self._end_failed(job, ChunkFailedError(reason).for_rows(index, *job.chunk_bounds(index)))

    def _end_failed(self, job: Job, problem: dict[str, Any]) -> Ending:
        ending = self._patiently(lambda: self.store.end_job(job.job_id, JobStatus.FAILED, problem))
        if ending.by_this_call:
            self._ended(job, JobStatus.FAILED)
        return ending

    # ------------------------------------------------------------------ the bulk lane
    def dispatch(self) -> int:
        """Top the bulk lane up from the fair scheduler: two waiting messages per live worker at most."""
        window = 2 * max(workers.alive(self.store.redis), 1)
        chunks = self.scheduler.take(window)
        self.queue.send(Lane.BULK, chunks)
        return len(chunks)

    def _dispatch_quietly(self) -> None:
        """A failed dispatch loses nothing: the sweeper dispatches again, and resends what was taken."""
        try:
            self.dispatch()
        except Exception as exc:
            log.warning("could not dispatch bulk chunks: %s", exc)

    # ------------------------------------------------------------------ the sweeper's repairs
    def resend(self, job: Job, indexes: list[int]) -> None:
        """Enqueue again chunks whose messages were lost (they run at most once all the same)."""
        log.warning("job %s: chunks %s lost their messages; enqueuing them again", job.job_id, indexes)
        self.queue.send(Lane.BULK if job.bulk else Lane.SMALL, [(job.job_id, index) for index in indexes])

    def fail_unsealed(self, job: Job, reason: str) -> Ending:
        """End failed a job by reference whose manifest could not be written, saying why."""
        return self._end_failed(job, OutputFailedError("every row was scored, but the manifest could not be written "
                                                       f"to the output: {reason}").to_problem())

    def fail_lost_input(self, job: Job, index: int) -> Ending:
        return self.fail(job, index, "its input is no longer in Redis (was Redis restarted without persistence?)")

    # ------------------------------------------------------------------ after a job's end
    def _ended(self, job: Job, status: JobStatus) -> None:
        """Count the job's end, free its quota and queue its callback, once, by whoever ended it; never
        fails the move."""
        self._release(job)
        seconds = time.time() - job.created_at
        log.info("job %s", status.value, extra={"job_id": job.job_id, "model": job.model["name"],
                                                "status": status.value, "rows": job.rows,
                                                "duration_s": round(seconds, 3),
                                                "rows_per_second": round(job.rows / max(seconds, 1e-6), 1)})
        try:
            record_job_end(self.metrics, job.model, status.value, seconds)
        except Exception as exc:
            log.warning("could not count the end of job %s: %s", job.job_id, exc)
        if job.callback_url is None:
            return
        try:
            self.queue.callback(job.job_id)
        except Exception as exc:
            log.warning("could not queue the callback of job %s: %s", job.job_id, exc)

    def _patiently(self, call: Callable[[], T]) -> T:
        return patiently(call, self.redis_patience)
