"""One log line per request, and the request id: X-Request-ID taken (or made), returned, and logged."""

from __future__ import annotations

import logging
import re
import time
import uuid

from flask import Flask, Response, g, request

from shared import logs

log = logging.getLogger("api.requests")
REQUEST_ID = "X-Request-ID"
VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
"""A client's request id is kept when it looks like one; anything else is replaced, not logged."""


def init_app(app: Flask) -> None:
    app.before_request(_begin)
    app.after_request(_end)
    app.teardown_request(lambda _exc: logs.clear())


def _begin() -> None:
    g.request_started = time.perf_counter()
    given = request.headers.get(REQUEST_ID, "")
    g.request_id = given if VALID_REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
    logs.clear()
    logs.bind(request_id=g.request_id)
    if request.view_args and "job_id" in request.view_args:
        logs.bind(job_id=request.view_args["job_id"])


def _end(response: Response) -> Response:
    request_id = g.get("request_id") or uuid.uuid4().hex
    response.headers[REQUEST_ID] = request_id
    route = request.url_rule.rule if request.url_rule is not None else "<unmatched>"
    seconds = time.perf_counter() - g.get("request_started", time.perf_counter())
    log.info("%s %s %d", request.method, route, response.status_code,
             extra={"method": request.method, "route": route, "status": response.status_code,
                    "duration_ms": round(seconds * 1000, 2)})
    return response
