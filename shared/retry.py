"""Riding out a Redis that is away for a moment (a restart, a failover)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from shared.errors import TRANSIENT_REDIS_ERRORS

log = logging.getLogger(__name__)
T = TypeVar("T")


def patiently(call: Callable[[], T], seconds: float) -> T:
    """`call()`, retried while Redis is unreachable, for at most `seconds` (0: once)."""
    deadline = time.monotonic() + seconds
    pause = 0.1
    while True:
        try:
            return call()
        except TRANSIENT_REDIS_ERRORS as exc:
            if time.monotonic() > deadline:
                raise
            log.warning("Redis unavailable (%s); retrying in %.1fs", exc, pause)
            time.sleep(pause)
            pause = min(pause * 2, 2.0)
