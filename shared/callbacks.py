"""Job-end callbacks: the signed POST of the job resource to the job's callback_url."""

from __future__ import annotations

import hashlib
import hmac
import time
import urllib.error
import urllib.request

MAX_ATTEMPTS = 5
"""Deliveries tried before a callback is given up (the job lists each one)."""

TIMEOUT_SECONDS = 10.0


def signature(body: bytes, secret: str, at: int) -> str:
    """The Predq-Signature header: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`."""
    mac = hmac.new(secret.encode(), f"{at}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={at},v1={mac}"


def backoff_seconds(attempt: int) -> int:
    """Wait before attempt `attempt + 1`: 2, 4, 8, 16 s."""
    return int(2**attempt)


def post(url: str, body: bytes, secret: str) -> int:
    """POST `body` to `url`, signed; the HTTP status, or 0 when no answer came."""
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json", "User-Agent": "predq-callback",
        "Predq-Signature": signature(body, secret, int(time.time()))})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except (urllib.error.URLError, OSError):
        return 0
