"""Checking the `Predq-Signature` header of a job-end callback, for webhook receivers."""

from __future__ import annotations

import hashlib
import hmac
import time

DEFAULT_TOLERANCE_SECONDS = 300
"""A signature older (or newer) than this is refused, so a captured callback cannot be replayed later."""


def verify_signature(body: bytes, header: str, secret: str, *, tolerance_seconds: float | None =
                     DEFAULT_TOLERANCE_SECONDS, now: float | None = None) -> bool:
    """True when `header` (`t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`) signs `body` with `secret`.

    Pass the body exactly as received (bytes, before any JSON parsing); `tolerance_seconds=None` skips
    the timestamp check.
    """
    parts = [item.split("=", 1) for item in header.split(",") if "=" in item]
    stamps = [value.strip() for key, value in parts if key.strip() == "t"]
    signatures = [value.strip() for key, value in parts if key.strip() == "v1"]
    if len(stamps) != 1 or not stamps[0].isdigit() or not signatures:
        return False
    at = int(stamps[0])
    if tolerance_seconds is not None and abs((time.time() if now is None else now) - at) > tolerance_seconds:
        return False
    expected = hmac.new(secret.encode(), f"{at}.".encode() + body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, candidate) for candidate in signatures)
