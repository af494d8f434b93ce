"""Scoring one chunk of one job: read it, score it, record it once."""

from __future__ import annotations

import logging
import time
from typing import Any

from shared.job import Job, JobStatus
from shared.metrics import record_job_end
from shared.registry import ModelEntry, load_estimator
from shared.scoring import score
from worker.context import WorkerContext

log = logging.getLogger(__name__)


class ChunkFailedError(RuntimeError):
    """A chunk that cannot be scored; its job ends failed."""


def run_chunk(ctx: WorkerContext, job_id: str, index: int) -> str:
    """Score chunk `index` of `job_id` unless it is done or its job is over; what happened, in a word."""
    verdict = ctx.store.start_chunk(job_id, index)
    if verdict != "run":
        log.info("chunk %s/%d not run: %s", job_id, index, verdict)
        return verdict
    job = ctx.store.get(job_id)
    try:
        return _score_and_record(ctx, job, index)
    except ChunkFailedError as exc:
        fail_job(ctx, job, index, str(exc))
        return "failed"


def _score_and_record(ctx: WorkerContext, job: Job, index: int) -> str:
    X = ctx.store.read_input(job.job_id, index)
    if X is None:
        raise ChunkFailedError("the chunk's input is no longer in Redis")
    estimator = _estimator_for(ctx, job)
    started = time.perf_counter()
    try:
        result = score(estimator, job.method, X)
    except Exception as exc:  # the model's own failure: retrying the same rows cannot help
        log.exception("scoring chunk %s/%d failed", job.job_id, index)
        raise ChunkFailedError(f"{job.method} raised {type(exc).__name__}: {exc}") from exc
    elapsed = time.perf_counter() - started
    outcome = ctx.store.finish_chunk(job, index, result)
    if outcome in ("recorded", "finished"):
        ctx.metrics.count("predq_rows_scored", len(X), model=job.model["name"])
        ctx.metrics.observe("predq_chunk_duration_seconds", elapsed)
        ctx.metrics.count("predq_chunks_scored", worker=ctx.node)
    if outcome == "finished":
        record_job_end(ctx.metrics, job.model, JobStatus.SUCCEEDED.value, time.time() - job.created_at)
    return outcome


def _estimator_for(ctx: WorkerContext, job: Job) -> Any:
    entry = _entry_for(ctx, job)
    try:
        return load_estimator(entry)
    except Exception as exc:
        raise ChunkFailedError(f"model {entry.name} v{entry.version} cannot be loaded: {exc}") from exc


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


def failure_problem(job: Job, index: int, reason: str) -> dict[str, Any]:
    """The problem object a failed job carries, naming the rows it could not score."""
    start, stop = job.chunk_bounds(index)
    return {"type": "/problems/chunk-failed", "title": "Rows could not be scored", "status": 500,
            "detail": f"rows {start} to {stop - 1} (chunk {index}) could not be scored: {reason}",
            "rows": {"start": start, "stop": stop}}


def fail_job(ctx: WorkerContext, job: Job, index: int, reason: str) -> None:
    before = ctx.store.end_job(job.job_id, JobStatus.FAILED, failure_problem(job, index, reason))
    if before in (JobStatus.QUEUED.value, JobStatus.RUNNING.value):
        record_job_end(ctx.metrics, job.model, JobStatus.FAILED.value, time.time() - job.created_at)
