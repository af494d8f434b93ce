"""Every error the client raises, in one tree.

    PredqError
    ├── UnreachableError        no answer: connection refused, DNS, a broken connection, timeouts
    │   └── UnexpectedAnswerError  a 2xx answer that is not what the contract says (not a predq service?)
    ├── ProblemError            the service answered with an RFC 9457 problem (`.problem`)
    │   ├── RefusedError        a 4xx: the request itself is wrong; retrying it will not help
    │   │   ├── NotFoundError   404: unknown job (or another key's), model or version
    │   │   ├── ConflictError   409: results of an unfinished job, cancel of a finished one, key reuse
    │   │   └── RateLimitedError 429 still answered when the retry deadline ran out
    │   └── ServerError         a 5xx
    │       └── UnavailableError 503 still answered when the retry deadline ran out
    ├── JobEndedError           a job ended other than `succeeded` where success was needed
    ├── WaitTimeoutError        a job was still live when the caller's wait timeout ran out
    └── BodyError               an upload body the client cannot send (unknown format, unreadable)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class FieldError:
    """One entry of a problem's `errors[]`: the row (from 0), the column, and what is wrong."""

    message: str
    row: int | None = None
    column: str | None = None


@dataclass(frozen=True)
class Problem:
    """An RFC 9457 problem object as the service sends it."""

    status: int
    title: str
    detail: str = ""
    type: str = "about:blank"
    errors: tuple[FieldError, ...] = ()
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_json(cls, doc: dict[str, Any], status: int) -> Problem:
        errors = tuple(FieldError(str(e.get("message", "")), e.get("row"), e.get("column"))
                       for e in doc.get("errors") or [] if isinstance(e, dict))
        return cls(status=int(doc.get("status", status)), title=str(doc.get("title", "")),
                   detail=str(doc.get("detail", "")), type=str(doc.get("type", "about:blank")),
                   errors=errors, raw=doc)


class PredqError(Exception):
    """The root of every error predq_client raises."""


class UnreachableError(PredqError):
    """The service gave no answer (within the retry deadline)."""


class UnexpectedAnswerError(UnreachableError):
    """A 2xx answer that is not JSON, or lacks what the contract promises: the URL may not be a predq service."""


class ProblemError(PredqError):
    """The service answered with a problem; `problem` holds it whole."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(f"{problem.status} {problem.title}: {problem.detail}".rstrip(": "))
        self.problem = problem

    @property
    def status(self) -> int:
        return self.problem.status

    @property
    def errors(self) -> tuple[FieldError, ...]:
        return self.problem.errors


class RefusedError(ProblemError):
    """A 4xx answer."""


class NotFoundError(RefusedError):
    """404."""


class ConflictError(RefusedError):
    """409."""


class RateLimitedError(RefusedError):
    """429 answered past the retry deadline."""


class ServerError(ProblemError):
    """A 5xx answer."""


class UnavailableError(ServerError):
    """503 answered past the retry deadline."""


class JobEndedError(PredqError):
    """The job ended `failed` or `cancelled` where a succeeded job was needed; `job` is its resource."""

    def __init__(self, job_id: str, status: str, error: Problem | None) -> None:
        reason = f": {error.detail}" if error is not None and error.detail else ""
        super().__init__(f"job {job_id} ended {status}{reason}")
        self.job_id, self.status, self.error = job_id, status, error


class WaitTimeoutError(PredqError):
    """The job was still queued or running when the wait's timeout ran out."""


class BodyError(PredqError):
    """The body to upload cannot be sent as given."""


_BY_STATUS: dict[int, type[ProblemError]] = {404: NotFoundError, 409: ConflictError, 429: RateLimitedError,
                                             503: UnavailableError}


def error_for(problem: Problem) -> ProblemError:
    """The most specific exception for a problem's status."""
    kind = _BY_STATUS.get(problem.status) or (RefusedError if problem.status < 500 else ServerError)
    return kind(problem)
