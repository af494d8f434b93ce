"""/jobs: submit, poll, list and cancel."""

from __future__ import annotations

import logging
import math
import time

from flask import Blueprint, Response, request

from api import params
from api.auth import current_owner, require_key
from api.resources import poll_headers
from api.responses import json_response
from api.results import results_response
from api.services import Services, services
from api.submissions import body_reader, count_rows, open_request_batch
from shared.endings import job_ended
from shared.errors import BadRequestError, ConflictError, JobNotFoundError
from shared.idempotency import fingerprint
from shared.job import Job, JobStatus
from shared.parsing.streams import LimitedReader
from shared.parsing.submission import Batch, limited_blocks
from shared.resource import full_job_resource, job_resource
from shared.store import ChunkWriter, new_job_id

log = logging.getLogger(__name__)
bp = Blueprint("jobs", __name__)
bp.before_request(require_key)

MAX_WAIT_SECONDS = 30.0
IDEMPOTENT_WAIT_SECONDS = 5.0
"""How long a retry waits for the job that a concurrent first request is still creating."""


@bp.post("/jobs")
def submit_job() -> Response:
    svc = services()
    dry_run = params.flag(request.args, "dry_run")
    body = body_reader(svc)
    batch = open_request_batch(svc, body)
    if dry_run:
        return json_response({"valid": True, "rows": count_rows(batch, svc.settings.max_rows)})
    if "Idempotency-Key" not in request.headers:  # a retry must reach its first job, full queue or not
        svc.store.check_capacity(svc.settings.max_queued_jobs)
    writer = ChunkWriter(svc.store, new_job_id(), svc.settings.chunk_rows, list(batch.model.features))
    try:
        for X in limited_blocks(batch.blocks, svc.settings.max_rows):
            writer.add(X)
        writer.finish()
        return _create(svc, new_job(svc, batch, writer), body)
    except BaseException:
        writer.abort()
        raise


def _create(svc: Services, job: Job, body: LimitedReader) -> Response:
    """Record and enqueue a job whose chunks are stored, unless its Idempotency-Key names an earlier one."""
    key = request.headers.get("Idempotency-Key")
    if key is not None:
        body.drain()
        print_ = fingerprint([request.query_string, (request.content_type or "").encode(), body.digest.digest()])
        earlier = svc.idempotency.claim(current_owner(), key, print_, job.job_id)
        if earlier is not None:
            svc.store.drop_inputs(job.job_id, job.chunks_total)
            return json_response(job_resource_of(svc, wait_for_record(svc, earlier)))
    try:
        return accepted(svc, job)
    except Exception:
        if key is not None:
            svc.idempotency.release(current_owner(), key)
        raise


def new_job(svc: Services, batch: Batch, writer: ChunkWriter) -> Job:
    classes = list(batch.model.classes) if batch.model.classes is not None else None
    return Job(job_id=writer.job_id, owner=current_owner(), status=JobStatus.QUEUED, model=batch.model.ref(),
               method=batch.method, rows=writer.rows, chunk_rows=writer.chunk_rows, chunks_total=writer.chunks,
               rows_done=0, chunks_done=0, created_at=time.time(), started_at=None, finished_at=None, error=None,
               metadata=batch.metadata, classes=classes, callback_url=batch.callback_url,
               passthrough=list(batch.passthrough))


def accepted(svc: Services, job: Job) -> Response:
    """Record the job, enqueue its chunks, answer 202; a failed enqueue leaves no live job behind."""
    svc.store.create_record(job, svc.settings.max_queued_jobs)
    try:
        svc.queue.enqueue(job.job_id, job.chunks_total)
    except Exception:
        log.exception("enqueuing job %s failed; discarding it", job.job_id)
        _discard_quietly(svc, job)
        raise
    try:
        svc.metrics.count("predq_jobs_submitted", model=job.model["name"])
    except Exception as exc:  # the job exists and will run: a lost count must not turn it into an error
        log.warning("could not count job %s: %s", job.job_id, exc)
    headers = {"Location": f"/jobs/{job.job_id}", **poll_headers(job)}
    return json_response(job_resource(job), 202, headers)


def _discard_quietly(svc: Services, job: Job) -> None:
    """Best effort: with Redis down the job stays, and the sweeper enqueues its chunks once Redis is back."""
    try:
        svc.store.discard(job)
    except Exception as exc:
        log.warning("could not discard job %s (%s); the sweeper will finish it", job.job_id, exc)


def wait_for_record(svc: Services, job_id: str) -> Job:
    deadline = time.monotonic() + IDEMPOTENT_WAIT_SECONDS
    while True:
        try:
            return svc.store.get(job_id, current_owner())
        except JobNotFoundError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def job_resource_of(svc: Services, job: Job) -> dict[str, object]:
    return full_job_resource(svc.store, job, svc.settings.inline_results_max)


@bp.get("/jobs/<job_id>")
def get_job(job_id: str) -> Response:
    svc = services()
    wait = params.seconds(request.args, "wait", MAX_WAIT_SECONDS)
    job = svc.store.wait(job_id, current_owner(), wait) if wait else svc.store.get(job_id, current_owner())
    return json_response(job_resource_of(svc, job), headers=poll_headers(job))


@bp.delete("/jobs/<job_id>")
def cancel_job(job_id: str) -> Response:
    svc = services()
    job = svc.store.get(job_id, current_owner())
    before = svc.store.cancel(job)
    if before == "gone":
        raise JobNotFoundError(f"no job {job_id}")
    if before.startswith("terminal:"):
        raise ConflictError(f"job {job_id} is already {before.split(':', 1)[1]}; only a queued or running job "
                            "can be cancelled")
    job_ended(svc.metrics, svc.queue, job, JobStatus.CANCELLED)
    return json_response(job_resource(svc.store.get(job_id)))


@bp.get("/jobs")
def list_jobs() -> Response:
    svc = services()
    status = _status_filter(request.args.get("status"))
    limit = params.integer(request.args, "limit", 50, 1, 500)
    cursor = _cursor(request.args.get("cursor"))
    page = svc.store.list_jobs(current_owner(), status, limit, cursor)
    nxt = None
    if page.cursor is not None:
        extra = f"&status={status.value}" if status else ""
        nxt = f"/jobs?cursor={page.cursor}&limit={limit}{extra}"
    return json_response({"jobs": [job_resource(j) for j in page.jobs], "next": nxt})


def _status_filter(raw: str | None) -> JobStatus | None:
    if raw is None:
        return None
    try:
        return JobStatus(raw)
    except ValueError:
        raise BadRequestError(f"?status is one of {', '.join(s.value for s in JobStatus)}; got {raw!r}") from None


def _cursor(raw: str | None) -> float | None:
    if raw is None:
        return None
    try:
        cursor = float(raw)
    except ValueError:
        cursor = math.nan
    if not math.isfinite(cursor):
        raise BadRequestError(f"?cursor is the value of a next link, got {raw!r}")
    return cursor


@bp.get("/jobs/<job_id>/results")
def get_results(job_id: str) -> Response:
    svc = services()
    return results_response(svc, svc.store.get(job_id, current_owner()))
