"""Every error predq raises, and the one place problem objects (RFC 9457) are built.

    PredqError                      (500) base: anything predq raises derives from it
    ├── BadRequestError             400 a body or query that cannot be parsed or has the wrong shape
    ├── UnauthorizedError           401 no API key, or an unknown one
    ├── NotFoundError               404
    │   ├── JobNotFoundError
    │   └── ModelNotFoundError
    ├── RequestTimeoutError         408 a body sent slower than BODY_MIN_BYTES_PER_SECOND, or stalled
    ├── ConflictError               409 results of an unfinished job, cancelling a finished one
    │   └── JobEndedError           409 a followed job that failed or was cancelled before its last row
    ├── PayloadTooLargeError        413 over the byte or row limit
    │   └── RowLimitError           413 over MAX_ROWS
    ├── UnsupportedMediaTypeError   415
    ├── UnprocessableError          422 a parsed body that does not fit the model
    ├── TooManyRequestsError        429 a per-key quota, the rate limit, or the cap on waiting requests
    ├── UnavailableError            503 Redis down, queue full
    │   └── NotReadyError           503 /readyz: Redis down or no worker alive
    ├── HttpError                   any status werkzeug answers for routing (404 route, 405 method)
    ├── ChunkFailedError            rows a worker cannot score; their job ends failed
    ├── ModelLoadError              a model file that is missing, altered, or unreadable
    ├── SettingsError               a malformed environment variable (also a ValueError)
    ├── EvictingRedisError          Redis may evict keys: workers refuse to start
    ├── UndocumentedRouteError      a route the OpenAPI document cannot describe: the app refuses to build
    └── SmokeError                  a check of `make docker-smoke` that failed
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import kombu.exceptions
import redis.exceptions

MAX_LISTED_ERRORS = 100
"""A validation problem lists at most this many errors."""

BRIEF_CHARS = 60
"""A value a client sent is quoted in a problem's detail up to this many characters."""

TRANSIENT_REDIS_ERRORS: tuple[type[Exception], ...] = (
    redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, redis.exceptions.BusyLoadingError,
    redis.exceptions.ReadOnlyError, kombu.exceptions.OperationalError)
"""Redis (or the broker on it) is away for a while: a restart, a failover, a dataset loading. Retry, or 503."""


def brief(value: Any) -> str:
    """A client's value as a detail quotes it: a short repr for scalars, only the JSON type for containers.

    A detail must stay small whatever was sent (a 30 MB string, a list nested 900 deep would otherwise be
    repr'd whole, or overflow the stack), and must hold no lone surrogate orjson cannot encode (repr escapes it).
    """
    if isinstance(value, dict | list | tuple):
        return f"{'an object' if isinstance(value, dict) else 'an array'} of {len(value)} items"
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**BRIEF_CHARS:
        return "an integer of more than 60 digits"
    text = repr(value[: BRIEF_CHARS + 1] if isinstance(value, str) else value)
    return text if len(text) <= BRIEF_CHARS else text[: BRIEF_CHARS - 3] + "..."


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
    status: int = 500
    title: str = "Internal server error"
    slug: str = "internal"

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


class RequestTimeoutError(PredqError):
    """A body that stalls or trickles: cut off so that it does not hold a thread of the API."""

    status = 408
    title = "Request timeout"
    slug = "request-timeout"


class ConflictError(PredqError):
    status = 409
    title = "Conflict"
    slug = "conflict"


class JobEndedError(ConflictError):
    """A followed job failed or was cancelled: its result stream stops early with `problem`."""

    title = "Job cancelled"
    slug = "job-cancelled"

    def __init__(self, job_id: str, status: str, error: dict[str, Any] | None) -> None:
        super().__init__(f"job {job_id} was {status} before every row was scored")
        self.error = error

    def to_problem(self) -> dict[str, Any]:
        """The failed job's own problem; a cancel's otherwise."""
        return self.error if self.error else super().to_problem()


class PayloadTooLargeError(PredqError):
    status = 413
    title = "Payload too large"
    slug = "payload-too-large"


class RowLimitError(PayloadTooLargeError):
    """More rows than MAX_ROWS (or, for the synchronous route, SYNC_MAX_ROWS)."""


class UnsupportedMediaTypeError(PredqError):
    status = 415
    title = "Unsupported media type"
    slug = "unsupported-media-type"


class UnprocessableError(PredqError):
    status = 422
    title = "Unprocessable batch"
    slug = "unprocessable"


class TooManyRequestsError(PredqError):
    """Past a per-key quota, the rate limit or a cap on held connections; always with Retry-After."""

    status = 429
    title = "Too many requests"
    slug = "too-many-requests"

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail, retry_after=max(1, retry_after))


class UnavailableError(PredqError):
    status = 503
    title = "Service unavailable"
    slug = "unavailable"


class NotReadyError(UnavailableError):
    title = "Not ready"
    slug = "not-ready"

    def __init__(self, checks: dict[str, Any]) -> None:
        super().__init__("Redis is down" if checks.get("redis") == "down" else "no worker is alive",
                         retry_after=5, extra={"checks": checks})


class HttpError(PredqError):
    """What werkzeug answers by itself (an unknown route, a method a route does not take), as a problem."""

    def __init__(self, status: int, title: str, detail: str) -> None:
        super().__init__(detail or title)
        self.status = status
        self.title = title
        self.slug = f"http-{status}"


class ChunkFailedError(PredqError):
    """Rows that cannot be scored; their job ends failed with `for_rows`'s problem."""

    title = "Rows could not be scored"
    slug = "chunk-failed"

    def for_rows(self, index: int, start: int, stop: int) -> dict[str, Any]:
        """The problem a job failed at chunk `index` (rows [start, stop)) carries."""
        detail = f"rows {start} to {stop - 1} (chunk {index}) could not be scored: {self.detail}"
        return {**ChunkFailedError(detail).to_problem(), "rows": {"start": start, "stop": stop}}


class OutputFailedError(PredqError):
    """A job by reference whose every row was scored but whose manifest could not be written."""

    title = "The job's output could not be completed"
    slug = "output-failed"


class ModelLoadError(PredqError):
    """A model file that is missing, altered, or unreadable."""


class SettingsError(PredqError, ValueError):
    """A malformed environment variable; the message names it."""


class EvictingRedisError(PredqError):
    """Redis runs with a maxmemory-policy other than noeviction."""


class UndocumentedRouteError(PredqError):
    """A route whose view carries no `@documented` operation."""


class SmokeError(PredqError):
    """A check of the Docker smoke run that failed; the message says which."""
