"""GET /jobs/<id>/results: paged JSON, or every row streamed as CSV, NDJSON or Parquet."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
from flask import Response, request, stream_with_context

from api.declarations import FOLLOW, FORMATS, OFFSET, RESULTS_LIMIT
from api.renderers import csv_body, ndjson_body, parquet_body
from api.responses import json_response
from shared.errors import BadRequestError, ConflictError, JobEndedError
from shared.job import Job, JobStatus
from shared.resource import result_values
from shared.services import Services

FOLLOW_POLL_SECONDS = 0.05


def results_response(svc: Services, job: Job) -> Response:
    fmt = _format()
    follow = FOLLOW.read(request.args)
    if follow and fmt == "json":
        raise BadRequestError("?follow=true streams rows: ask for ?format=csv, ndjson or parquet")
    live = job.status in (JobStatus.QUEUED, JobStatus.RUNNING)
    if job.status is not JobStatus.SUCCEEDED and not (follow and live):
        raise ConflictError(f"job {job.job_id} is {job.status.value}; results exist once it has succeeded"
                            + (" (or stream them with ?follow=true)" if live else ""))
    if fmt == "json":
        return _json_page(svc, job)
    chunks = _follow_chunks(svc, job) if follow else _stored_chunks(svc, job)
    body: Iterator[Any]
    if fmt == "ndjson":
        body = ndjson_body(job, chunks)
    elif fmt == "parquet":
        body = parquet_body(chunks)
    else:
        body = csv_body(chunks)
    return Response(stream_with_context(body), mimetype=FORMATS[fmt], headers={"X-Accel-Buffering": "no"})


def _format() -> str:
    raw = request.args.get("format")
    if raw is not None:
        if raw not in FORMATS:
            raise BadRequestError(f"?format is one of {', '.join(FORMATS)}; got {raw!r}")
        return raw
    best = request.accept_mimetypes.best_match(list(FORMATS.values()), default="application/json")
    return next(name for name, mime in FORMATS.items() if mime == best)


def _json_page(svc: Services, job: Job) -> Response:
    offset = OFFSET.read(request.args)
    limit = RESULTS_LIMIT.read(request.args)
    stop = min(offset + limit, job.rows)
    values = result_values(svc.store, job, offset, stop)
    nxt = f"/jobs/{job.job_id}/results?offset={stop}&limit={limit}" if stop < job.rows else None
    page: dict[str, Any] = {"results": values, "offset": offset, "limit": limit, "total": job.rows, "next": nxt}
    if job.method == "predict_proba":
        page["classes"] = job.classes
    return json_response(page)


def _stored_chunks(svc: Services, job: Job) -> Iterator[pa.Table]:
    for index in range(job.chunks_total):
        yield svc.store.read_chunk_result(job, index)


def _follow_chunks(svc: Services, job: Job) -> Iterator[pa.Table]:
    """Each chunk's results in order, as soon as it is scored; JobEndedError if the job ends otherwise."""
    for index in range(job.chunks_total):
        while not svc.store.chunk_is_done(job.job_id, index):
            current = svc.store.get(job.job_id)
            if current.status in (JobStatus.FAILED, JobStatus.CANCELLED):
                raise _ended(current)
            time.sleep(FOLLOW_POLL_SECONDS)
        chunk = svc.store.find_chunk_result(job, index)
        if chunk is None:
            raise _ended(svc.store.get(job.job_id))
        yield chunk


def _ended(job: Job) -> JobEndedError:
    return JobEndedError(job.job_id, job.status.value, job.error)
