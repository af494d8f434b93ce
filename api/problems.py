"""Every error leaves as application/problem+json; the unexpected ones leak nothing."""

from __future__ import annotations

import logging

import redis.exceptions
from flask import Flask, Response
from werkzeug.exceptions import HTTPException

from api.responses import problem_response
from shared.errors import TRANSIENT_REDIS_ERRORS, HttpError, PredqError, UnavailableError

log = logging.getLogger(__name__)


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(PredqError, problem_response)
    app.register_error_handler(HTTPException, _http_problem)
    for error in TRANSIENT_REDIS_ERRORS:
        app.register_error_handler(error, _redis_down)
    app.register_error_handler(redis.exceptions.ResponseError, _redis_refused)
    app.register_error_handler(Exception, _unexpected)


def _http_problem(exc: HTTPException) -> Response:
    response = problem_response(HttpError(exc.code or 500, exc.name, exc.description or exc.name))
    for name, value in exc.get_headers():
        if name.lower() == "allow":
            response.headers["Allow"] = value
    return response


def _redis_down(exc: Exception) -> Response:
    log.warning("Redis is unavailable: %s", exc)
    return problem_response(UnavailableError("the job store (Redis) is unavailable; retry shortly", retry_after=2))


def _redis_refused(exc: redis.exceptions.ResponseError) -> Response:
    if isinstance(exc, redis.exceptions.OutOfMemoryError) or "OOM" in str(exc) or "MISCONF" in str(exc):
        log.warning("Redis refused a write: %s", exc)
        return problem_response(UnavailableError("the job store (Redis) is full; retry later", retry_after=10))
    return _unexpected(exc)


def _unexpected(exc: Exception) -> Response:
    log.exception("unexpected error", exc_info=exc)
    return problem_response(PredqError("an unexpected error occurred; it has been logged"))
