"""One HTTP round trip with predq's retry rules: 429 and 503 wait for `Retry-After`, within a deadline.

A request that never reached the service (connection refused, DNS) is always safe to send again; one
that may have reached it is sent again only when the caller says so (`replayable`): reads, and
submissions that carry an Idempotency-Key.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from predq_client.errors import Problem, ProblemError, UnexpectedAnswerError, UnreachableError, error_for

RETRIED_STATUSES = frozenset({429, 503})
"""Statuses that say "not now": the same request may succeed after `Retry-After`."""

DEFAULT_RETRY_SECONDS = 60.0
"""How long one call keeps retrying 429s, 503s and unreachable moments before it gives up."""

MAX_BACKOFF_SECONDS = 10.0
"""The longest pause between retries when the service names no Retry-After."""

Content = Callable[[], bytes | Iterable[bytes]]
"""A body as a function: each attempt gets a fresh one, so a retry resends it whole."""


@dataclass
class RetryPolicy:
    """How long to keep retrying, and the clock and sleep to do it with (a test passes fakes)."""

    deadline_seconds: float = DEFAULT_RETRY_SECONDS
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic


@dataclass
class Request:
    method: str
    path: str
    params: Mapping[str, Any] | None = None
    json: Any = None
    content: Content | None = None
    headers: dict[str, str] = field(default_factory=dict)
    replayable: bool = True
    timeout: float | None = None


class Transport:
    """An httpx.Client bound to the service's root URL and API key, sending with retries."""

    def __init__(self, url: str, api_key: str | None, *, timeout: float, retry: RetryPolicy,
                 transport: httpx.BaseTransport | None = None, user_agent: str = "predq-client") -> None:
        headers = {"User-Agent": user_agent}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self.retry = retry
        self.http = httpx.Client(base_url=url.rstrip("/"), headers=headers, transport=transport,
                                 timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)))

    def close(self) -> None:
        self.http.close()

    def send(self, request: Request) -> httpx.Response:
        """The answer to `request`: 2xx, else ProblemError; UnreachableError when nothing answered in time."""
        deadline = self.retry.clock() + self.retry.deadline_seconds
        attempt = 0
        while True:
            attempt += 1
            try:
                answer = self._once(request)
            except httpx.TransportError as exc:
                nothing_sent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
                pause = backoff_seconds(attempt)
                if not (nothing_sent or request.replayable) or not self._may_wait(pause, deadline):
                    raise UnreachableError(f"{request.method} {self.http.base_url}{request.path}: "
                                           f"{describe_transport_error(exc)}") from exc
                self.retry.sleep(pause)
                continue
            if answer.status_code in RETRIED_STATUSES:
                pause = retry_after_seconds(answer, attempt)
                if self._may_wait(pause, deadline):
                    self.retry.sleep(pause)
                    continue
            if answer.status_code >= 400:
                raise problem_error(answer)
            return answer

    def document(self, request: Request) -> Any:
        """The answer's JSON document (see `send`)."""
        return json_of(self.send(request))

    def _may_wait(self, pause: float, deadline: float) -> bool:
        return self.retry.clock() + pause <= deadline

    def _once(self, request: Request) -> httpx.Response:
        content = request.content() if request.content is not None else None
        timeout = request.timeout if request.timeout is not None else httpx.USE_CLIENT_DEFAULT
        return self.http.request(request.method, request.path, params=request.params, json=request.json,
                                 content=content, headers=request.headers, timeout=timeout)


def json_of(answer: httpx.Response) -> Any:
    """A 2xx answer's JSON; UnexpectedAnswerError when it is not JSON (a proxy's page, another service)."""
    try:
        return answer.json()
    except ValueError:
        kind = answer.headers.get("Content-Type", "no Content-Type")
        raise UnexpectedAnswerError(f"{answer.request.method} {answer.request.url} answered {answer.status_code} "
                                    f"with {kind}, not JSON: is this a predq service?") from None


def retry_after_seconds(answer: httpx.Response, attempt: int) -> float:
    """The answer's Retry-After (seconds or an HTTP date), else an exponential backoff."""
    raw = answer.headers.get("Retry-After", "").strip()
    if raw.isdigit():
        return float(raw)
    if raw:
        try:
            return max(0.0, parsedate_to_datetime(raw).timestamp() - time.time())
        except (TypeError, ValueError):
            pass
    return backoff_seconds(attempt)


def backoff_seconds(attempt: int) -> float:
    return float(min(0.5 * 2 ** (attempt - 1), MAX_BACKOFF_SECONDS))


def problem_error(answer: httpx.Response) -> ProblemError:
    """The exception for an error answer, carrying its problem object (or one made from the status line)."""
    answer.read()
    try:
        doc = answer.json()
    except ValueError:
        doc = None
    if not isinstance(doc, dict):
        text = answer.text.strip()[:300]
        doc = {"status": answer.status_code, "title": answer.reason_phrase, "detail": text}
    return error_for(Problem.from_json(doc, answer.status_code))


def describe_transport_error(exc: httpx.TransportError) -> str:
    kind = {httpx.ConnectError: "cannot connect", httpx.ConnectTimeout: "connection timed out",
            httpx.ReadTimeout: "no answer in time", httpx.RemoteProtocolError: "the connection broke"}
    label = next((text for cls, text in kind.items() if isinstance(exc, cls)), "the connection failed")
    return f"{label} ({exc})" if str(exc) else label
