"""What the `predq` command's exit status says happened."""

from __future__ import annotations

from enum import IntEnum

from predq_client.errors import (
    BodyError,
    PredqError,
    RefusedError,
    ServerError,
    UnreachableError,
    WaitTimeoutError,
)


class ExitCode(IntEnum):
    SUCCEEDED = 0
    """The command did what it was asked; a job it waited for succeeded."""
    FAILED = 1
    """The job ended `failed`."""
    USAGE = 2
    """A bad option or argument (a missing input file included); click's own code for usage errors."""
    CANCELLED = 3
    """The job ended `cancelled`."""
    REFUSED = 4
    """The service refused the request (a 4xx: unknown model or job, a body that does not fit, …)."""
    UNREACHABLE = 5
    """No answer from the service, an answer that is not predq's, or 503s (and other 5xx) past the retry deadline."""
    TIMED_OUT = 6
    """The job was still live when --timeout ran out (it goes on)."""
    LOCAL_FILE = 7
    """A local file could not be read or written."""
    INTERNAL = 70
    """A bug in predq_client (EX_SOFTWARE); the message says what."""
    INTERRUPTED = 130
    """Ctrl-C (128 + SIGINT)."""


JOB_STATUS_CODES = {"succeeded": ExitCode.SUCCEEDED, "failed": ExitCode.FAILED, "cancelled": ExitCode.CANCELLED}


def for_job_status(status: str) -> ExitCode:
    return JOB_STATUS_CODES.get(status, ExitCode.TIMED_OUT)


def for_error(error: BaseException) -> ExitCode:
    """The exit code for an error that ended the command."""
    if isinstance(error, RefusedError):
        return ExitCode.REFUSED
    if isinstance(error, ServerError | UnreachableError):
        return ExitCode.UNREACHABLE
    if isinstance(error, WaitTimeoutError):
        return ExitCode.TIMED_OUT
    if isinstance(error, BodyError):
        return ExitCode.USAGE
    if isinstance(error, OSError):
        return ExitCode.LOCAL_FILE
    if isinstance(error, KeyboardInterrupt):
        return ExitCode.INTERRUPTED
    if isinstance(error, PredqError):
        return ExitCode.FAILED
    return ExitCode.INTERNAL
