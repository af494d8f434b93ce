"""/jobs: submit, poll, list and cancel."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, request

from api import declarations as spec
from api.auth import current_owner, require_key
from api.holds import held
from api.operations import documented
from api.resources import poll_headers
from api.responses import json_response
from api.results import results_response
from api.services import services
from api.submissions import body_reader, count_rows, open_request_batch
from shared.errors import BadRequestError
from shared.idempotency import fingerprint
from shared.job import Job, JobStatus
from shared.lifecycle import IdempotentRequest
from shared.parsing.streams import LimitedReader
from shared.parsing.submission import Reference
from shared.resource import full_job_resource, job_resource
from shared.services import Services
from shared.sizing import whole_group_rows
from shared.storage.requests import planned_job

bp = Blueprint("jobs", __name__)
bp.before_request(require_key)


@bp.post("/jobs")
@documented(spec.SUBMIT)
def submit_job() -> Response:
    svc = services()
    body = body_reader(svc)
    batch = open_request_batch(svc, body)
    if isinstance(batch, Reference):
        planned = _planner(svc, batch)
        if spec.DRY_RUN.read(request.args):
            return json_response({"valid": True, "rows": planned()[0].rows})
        submitted = svc.lifecycle.submit_stored(current_owner(), planned, _idempotent_request(body))
    elif spec.DRY_RUN.read(request.args):
        return json_response({"valid": True, "rows": count_rows(batch, svc.settings.max_rows)})
    else:
        submitted = svc.lifecycle.submit(current_owner(), batch, _idempotent_request(body))
    if not submitted.created:
        return json_response(job_resource_of(svc, submitted.job))
    headers = {"Location": f"/jobs/{submitted.job.job_id}", **poll_headers(submitted.job)}
    return json_response(job_resource(submitted.job), 202, headers)


def _planner(svc: Services, reference: Reference) -> Callable[[], tuple[Job, list[dict[str, Any]]]]:
    """The job by reference and where its chunks lie, read from storage's metadata when called."""
    def planned() -> tuple[Job, list[dict[str, Any]]]:
        columns = len(reference.model.features)
        job, plan = planned_job(reference, current_owner(), svc.storage,
                                svc.lifecycle.sizer.rows_for(reference.model.ref(), columns),
                                whole_group_rows(svc.settings, columns), svc.settings.small_job_rows)
        return job, plan.segments

    return planned


def _idempotent_request(body: LimitedReader) -> IdempotentRequest | None:
    """The request's Idempotency-Key, with the fingerprint of everything that makes it the same request."""
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None

    def fingerprint_of_request() -> str:
        body.drain()
        return fingerprint([request.query_string, (request.content_type or "").encode(), body.digest.digest()])

    return IdempotentRequest(key, fingerprint_of_request)


def job_resource_of(svc: Services, job: Job) -> dict[str, object]:
    return full_job_resource(svc.store, job, svc.settings.inline_results_max)


@bp.get("/jobs/<job_id>")
@documented(spec.GET)
def get_job(job_id: str) -> Response:
    svc = services()
    wait = spec.WAIT.read(request.args)
    if not wait:
        job = svc.store.get(job_id, current_owner())
        return json_response(job_resource_of(svc, job), headers=poll_headers(job))
    with held(wait + 5) as hold:
        if hold is None:  # every waiting place is taken: the status as it stands now, and when to ask again
            job = svc.store.get(job_id, current_owner())
            headers = {"Retry-After": "1", **poll_headers(job)}
        else:
            job = svc.store.wait(job_id, current_owner(), wait)
            headers = poll_headers(job)
    return json_response(job_resource_of(svc, job), headers=headers)


@bp.delete("/jobs/<job_id>")
@documented(spec.CANCEL)
def cancel_job(job_id: str) -> Response:
    return json_response(job_resource(services().lifecycle.cancel(job_id, current_owner())))


@bp.get("/jobs")
@documented(spec.LIST)
def list_jobs() -> Response:
    svc = services()
    wanted = spec.STATUS.read(request.args)
    status = JobStatus(wanted) if wanted is not None else None
    limit = spec.LIST_LIMIT.read(request.args)
    cursor = _cursor(spec.CURSOR.read(request.args))
    page = svc.store.list_jobs(current_owner(), status, limit, cursor)
    nxt = None
    if page.cursor is not None:
        extra = f"&status={status.value}" if status else ""
        nxt = f"/jobs?cursor={page.cursor}&limit={limit}{extra}"
    return json_response({"jobs": [job_resource(j) for j in page.jobs], "next": nxt})


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
@documented(spec.RESULTS)
def get_results(job_id: str) -> Response:
    svc = services()
    return results_response(svc, svc.store.get(job_id, current_owner()))
