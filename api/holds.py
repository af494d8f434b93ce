"""Requests that hold a thread while they wait (long polls, followed streams), capped per key and per process.

Per key across every API process (MAX_HELD_REQUESTS_PER_KEY, leases in Redis), so one key cannot take every
waiting place; per process (MAX_HELD_REQUESTS, a semaphore), so that whatever keys hold, a process keeps
GUNICORN_THREADS - MAX_HELD_REQUESTS threads for short requests and /healthz.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask, current_app, g

from api.auth import current_owner
from api.services import services
from shared.errors import UnavailableError

RENEW_EVERY_SECONDS = 10.0
LEASE_SECONDS = 30.0
"""A followed stream renews its lease while it runs; a killed process's lease lapses within this."""


def init_app(app: Flask, per_process: int, uploads: int) -> None:
    app.extensions["predq_held"] = threading.BoundedSemaphore(per_process)
    app.extensions["predq_uploads"] = threading.BoundedSemaphore(uploads)
    app.teardown_request(_end_upload)


def start_upload() -> None:
    """Take one of this process's MAX_UPLOADS places for the request's body, or 503 at once, before reading it:
    however many clients send bodies (slowly or not), short requests keep threads of their own."""
    uploads: threading.BoundedSemaphore = current_app.extensions["predq_uploads"]
    if not uploads.acquire(blocking=False):
        raise UnavailableError("this API process is reading as many bodies as it takes at once (MAX_UPLOADS); "
                               "retry shortly", retry_after=1)
    g.upload_held = True


def _end_upload(_exc: BaseException | None) -> None:
    if g.pop("upload_held", False):
        current_app.extensions["predq_uploads"].release()


class Hold:
    """One waiting place; `renew` keeps it while a stream runs longer than its lease, `release` frees it."""

    def __init__(self, local: threading.BoundedSemaphore, owner: str, token: str) -> None:
        self.local = local
        self.owner = owner
        self.token = token
        self.renewed = time.monotonic()
        self.released = False

    def renew(self) -> None:
        if time.monotonic() - self.renewed > RENEW_EVERY_SECONDS:
            services().held.renew(self.owner, self.token, LEASE_SECONDS)
            self.renewed = time.monotonic()

    def release(self) -> None:
        if self.released:
            return
        self.released = True
        try:
            services().held.release(self.owner, self.token)
        finally:
            self.local.release()


def take(lease_seconds: float = LEASE_SECONDS) -> Hold | None:
    """A waiting place for the caller's key for up to `lease_seconds`, or None when every one is taken."""
    local: threading.BoundedSemaphore = current_app.extensions["predq_held"]
    if not local.acquire(blocking=False):
        return None
    try:
        owner = current_owner()
        token = services().held.acquire(owner, lease_seconds)
    except BaseException:
        local.release()
        raise
    if token is None:
        local.release()
        return None
    return Hold(local, owner, token)


@contextmanager
def held(lease_seconds: float) -> Iterator[Hold | None]:
    """`take` for the length of a block."""
    hold = take(lease_seconds)
    try:
        yield hold
    finally:
        if hold is not None:
            hold.release()
