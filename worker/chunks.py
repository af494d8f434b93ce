"""Scoring one chunk of one job: read it, score it, record it once."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from typing import Any, TypeVar

import redis
from celery.exceptions import SoftTimeLimitExceeded

from shared.endings import ended_now, job_ended
from shared.job import Job, JobStatus
from shared.outputs import result_table
from shared.registry import ModelEntry, load_estimator
from shared.scoring import model_input, passthrough_columns, score
from worker.context import WorkerContext

log = logging.getLogger(__name__)
T = TypeVar("T")

REDIS_RETRY_SECONDS = 45.0
"""How long a chunk waits for Redis to come back before giving up (below the soft time limit)."""

PATH = re.compile(r"(?:[A-Za-z]:)?(?:[/\\][\w.@+-]+){2,}")
"""Something that looks like a file path (two or more separated parts)."""

TRANSIENT = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, redis.exceptions.BusyLoadingError)


class ChunkFailedError(RuntimeError):
    """A chunk that cannot be scored; its job ends failed."""


def patiently(call: Callable[[], T], seconds: float = REDIS_RETRY_SECONDS) -> T:
    """`call()`, retried while Redis is unreachable (a restart), for at most `seconds`."""
    deadline = time.monotonic() + seconds
    pause = 0.1
    while True:
        try:
            return call()
        except TRANSIENT as exc:
            if time.monotonic() > deadline:
                raise
            log.warning("Redis unavailable (%s); retrying in %.1fs", exc, pause)
            time.sleep(pause)
            pause = min(pause * 2, 2.0)


def run_chunk(ctx: WorkerContext, job_id: str, index: int) -> str:
    """Score chunk `index` of `job_id` unless it is done or its job is over; what happened, in a word."""
    attempts = ctx.settings.max_chunk_attempts
    verdict = patiently(lambda: ctx.store.start_chunk(job_id, index, attempts))
    if verdict not in ("run", "poison"):
        log.info("chunk %s/%d not run: %s", job_id, index, verdict)
        return verdict
    job = patiently(lambda: ctx.store.get(job_id))
    if verdict == "poison":
        fail_job(ctx, job, index, f"it was tried {attempts} times (MAX_CHUNK_ATTEMPTS) and each attempt "
                                  "died or was cut short")
        return "poison"
    try:
        return _score_and_record(ctx, job, index)
    except ChunkFailedError as exc:
        fail_job(ctx, job, index, str(exc))
        return "failed"


def _score_and_record(ctx: WorkerContext, job: Job, index: int) -> str:
    table = patiently(lambda: ctx.store.read_input(job.job_id, index))
    if table is None:
        if patiently(lambda: ctx.store.chunk_is_done(job.job_id, index)):
            return "duplicate"  # another delivery of this chunk recorded it (and dropped its input) meanwhile
        raise ChunkFailedError("the chunk's input is no longer in Redis")
    entry = _entry_for(ctx, job)
    estimator = _estimator_for(entry)
    started = time.perf_counter()
    try:
        X = model_input(estimator, table, entry.schema)
        result = result_table(job.method, score(estimator, job.method, X), job.classes,
                              passthrough_columns(table, entry.schema))
    except SoftTimeLimitExceeded:
        raise ChunkFailedError(f"scoring took longer than CHUNK_SOFT_TIME_LIMIT "
                               f"({ctx.settings.chunk_soft_time_limit}s); use smaller chunks") from None
    except Exception as exc:  # the model's own failure: retrying the same rows cannot help
        log.exception("scoring chunk %s/%d failed", job.job_id, index)
        raise ChunkFailedError(f"{job.method} raised {type(exc).__name__}: {_public(exc)}") from exc
    elapsed = time.perf_counter() - started
    outcome = patiently(lambda: ctx.store.finish_chunk(job, index, result))
    if outcome in ("recorded", "finished"):
        ctx.metrics.record(counts=[("predq_rows_scored", table.num_rows, {"model": job.model["name"]}),
                                   ("predq_chunks_scored", 1, {"worker": ctx.node})],
                           observations=[("predq_chunk_duration_seconds", elapsed)])
    if outcome == "finished":
        job_ended(ctx.metrics, ctx.queue, job, JobStatus.SUCCEEDED)
    return outcome


def _public(exc: BaseException) -> str:
    """An exception's first line for clients, file paths masked: the job's problem must not leak the host's layout."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return PATH.sub("<path>", text)[:300]


def _estimator_for(entry: ModelEntry) -> Any:
    try:
        return load_estimator(entry)
    except Exception as exc:
        log.exception("loading model %s v%s failed", entry.name, entry.version)
        raise ChunkFailedError(f"model {entry.name} v{entry.version} cannot be loaded "
                               f"({type(exc).__name__}; the worker's log has the details)") from exc


def _entry_for(ctx: WorkerContext, job: Job) -> ModelEntry:
    name, version, sha = job.model["name"], int(job.model["version"]), job.model["sha256"]
    try:
        entry = ctx.registry.get(name, version)
    except Exception as exc:
        raise ChunkFailedError(f"model {name} v{version} is not in this worker's MODEL_DIR") from exc
    if entry.sha256 != sha:
        raise ChunkFailedError(f"model {name} v{version} in this worker's MODEL_DIR is another file "
                               f"(SHA-256 {entry.sha256}, the job needs {sha})")
    return entry


def fail_job(ctx: WorkerContext, job: Job, index: int, reason: str) -> None:
    before = patiently(lambda: ctx.store.end_job(job.job_id, JobStatus.FAILED, job.failure(index, reason)))
    if ended_now(before):
        job_ended(ctx.metrics, ctx.queue, job, JobStatus.FAILED)
