"""Every error predq answers with, each carrying its HTTP status.

    PredqError                      (500)
    ├── BadRequestError             400 a body or query that cannot be parsed or has the wrong shape
    ├── UnauthorizedError           401 no API key, or an unknown one
    ├── NotFoundError               404
    │   ├── JobNotFoundError
    │   └── ModelNotFoundError
    ├── ConflictError               409 results of an unfinished job, cancelling a finished one
    ├── PayloadTooLargeError        413 over the byte or row limit
    ├── UnsupportedMediaTypeError   415
    ├── UnprocessableError          422 a parsed body that does not fit the model
    └── UnavailableError            503 Redis down, queue full
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

MAX_LISTED_ERRORS = 100
"""A validation problem lists at most this many errors."""


@dataclass(frozen=True)
class FieldError:
    """One validation error: `row` counts from 0, `column` is a feature name."""

    message: str
    row: int | None = None
    column: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.row is not None:
            out["row"] = self.row
        if self.column is not None:
            out["column"] = self.column
        out["message"] = self.message
        return out


class PredqError(Exception):
    status: ClassVar[int] = 500
    title: ClassVar[str] = "Internal server error"
    slug: ClassVar[str] = "internal"

    def __init__(self, detail: str, errors: list[FieldError] | None = None,
                 retry_after: int | None = None, extra: dict[str, Any] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors
        self.retry_after = retry_after
        self.extra = extra or {}

    def to_problem(self) -> dict[str, Any]:
        """The RFC 9457 problem object for this error."""
        body: dict[str, Any] = {"type": f"/problems/{self.slug}", "title": self.title,
                                "status": self.status, "detail": self.detail}
        if self.errors is not None:
            body["errors"] = [e.to_dict() for e in self.errors[:MAX_LISTED_ERRORS]]
        body.update(self.extra)
        return body


class BadRequestError(PredqError):
    status = 400
    title = "Bad request"
    slug = "bad-request"


class UnauthorizedError(PredqError):
    status = 401
    title = "Unauthorized"
    slug = "unauthorized"


class NotFoundError(PredqError):
    status = 404
    title = "Not found"
    slug = "not-found"


class JobNotFoundError(NotFoundError):
    title = "Job not found"
    slug = "job-not-found"


class ModelNotFoundError(NotFoundError):
    title = "Model not found"
    slug = "model-not-found"


class ConflictError(PredqError):
    status = 409
    title = "Conflict"
    slug = "conflict"


class PayloadTooLargeError(PredqError):
    status = 413
    title = "Payload too large"
    slug = "payload-too-large"


class UnsupportedMediaTypeError(PredqError):
    status = 415
    title = "Unsupported media type"
    slug = "unsupported-media-type"


class UnprocessableError(PredqError):
    status = 422
    title = "Unprocessable batch"
    slug = "unprocessable"


class UnavailableError(PredqError):
    status = 503
    title = "Service unavailable"
    slug = "unavailable"
