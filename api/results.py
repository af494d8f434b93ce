"""GET /jobs/<id>/results: paged JSON, or every row streamed as CSV or NDJSON."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import orjson
from flask import Response, request, stream_with_context

from api.declarations import FOLLOW, FORMATS, OFFSET, RESULTS_LIMIT
from api.holds import Hold, take
from api.responses import json_response
from shared.errors import BadRequestError, ConflictError, JobEndedError, TooManyRequestsError
from shared.job import Job, JobStatus
from shared.resource import result_values
from shared.scoring import to_json_values
from shared.services import Services

FOLLOW_POLL_SECONDS = 0.05


def results_response(svc: Services, job: Job) -> Response:
    fmt = _format()
    follow = FOLLOW.read(request.args)
    if follow and fmt == "json":
        raise BadRequestError("?follow=true streams rows: ask for ?format=csv or ?format=ndjson")
    live = job.status in (JobStatus.QUEUED, JobStatus.RUNNING)
    if job.status is not JobStatus.SUCCEEDED and not (follow and live):
        raise ConflictError(f"job {job.job_id} is {job.status.value}; results exist once it has succeeded"
                            + (" (or stream them with ?follow=true)" if live else ""))
    if fmt == "json":
        return _json_page(svc, job)
    if follow and live:
        hold = take()
        if hold is None:
            raise TooManyRequestsError("every place for a followed stream is taken (MAX_HELD_REQUESTS_PER_KEY, "
                                       "MAX_HELD_REQUESTS); retry later, or poll the job", retry_after=2)
        chunks = _held(hold, _follow_chunks(svc, job, hold))
    else:
        chunks = _stored_chunks(svc, job)
    body = _ndjson(chunks) if fmt == "ndjson" else _csv(job, chunks)
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


def _stored_chunks(svc: Services, job: Job) -> Iterator[np.ndarray]:
    for index in range(job.chunks_total):
        yield svc.store.read_chunk_result(job, index)


def _held(hold: Hold, chunks: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    """`chunks`, giving the stream's place back when it ends, however it ends (a client gone included)."""
    try:
        yield from chunks
    finally:
        hold.release()


def _follow_chunks(svc: Services, job: Job, hold: Hold) -> Iterator[np.ndarray]:
    """Each chunk's results in order, as soon as it is scored; JobEndedError if the job ends otherwise."""
    for index in range(job.chunks_total):
        while not svc.store.chunk_is_done(job.job_id, index):
            hold.renew()
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


def _ndjson(chunks: Iterator[np.ndarray]) -> Iterator[bytes]:
    try:
        for chunk in chunks:
            values = to_json_values(chunk)
            yield b"".join(orjson.dumps(v) + b"\n" for v in values)
    except JobEndedError as ended:
        yield orjson.dumps({"error": ended.to_problem()}) + b"\n"


def csv_header(job: Job, width: int) -> list[str]:
    if job.method == "predict_proba":
        return [str(c) for c in job.classes or []]
    if job.method == "decision_function":
        return ["decision"] if width == 0 else [f"decision_{i}" for i in range(width)]
    return ["prediction"]


def _csv(job: Job, chunks: Iterator[np.ndarray]) -> Iterator[str]:
    header_sent = False
    try:
        for chunk in chunks:
            out = io.StringIO()
            writer = csv.writer(out, lineterminator="\n")
            if not header_sent:
                writer.writerow(csv_header(job, chunk.shape[1] if chunk.ndim == 2 else 0))
                header_sent = True
            rows = chunk.tolist()
            writer.writerows(rows if chunk.ndim == 2 else ([v] for v in rows))
            yield out.getvalue()
    except JobEndedError:
        return
