"""Job-end callbacks: the signed POST of the job resource to the job's callback_url."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import socket
import time
import urllib.error
import urllib.request
from urllib.parse import urlsplit

MAX_ATTEMPTS = 5
"""Deliveries tried before a callback is given up (the job lists each one)."""

TIMEOUT_SECONDS = 5.0
"""A receiver that has not answered by then counts as no answer (retried with backoff)."""

MAX_URL_LENGTH = 2048
"""A longer callback_url is never requested."""

MIN_SECRET_LENGTH = 32
"""CALLBACK_SECRET must be at least this long when callbacks are allowed (predq refuses to start otherwise)."""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A receiver's 3xx is its answer (not taken, retried): following it would let any allowed host point
    predq's workers at any other address."""

    def redirect_request(self, *_: object, **__: object) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def refusal(url: str, private_hosts: frozenset[str]) -> str | None:
    """Why predq will not POST to `url` (None when it may): too long, or its host resolves to an address that
    is not public (loopback, private, link-local such as the cloud metadata service, reserved) and the host is
    not in CALLBACK_PRIVATE_HOSTS. Checked at each delivery, since DNS answers change."""
    if len(url) > MAX_URL_LENGTH:
        return f"the URL is over {MAX_URL_LENGTH} characters"
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if not host:
        return "the URL names no host"
    if host in private_hosts:
        return None
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (OSError, ValueError, UnicodeError):
        return "its host does not resolve"
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if not address.is_global:
            return "its host resolves to a non-public address (allowed only for hosts in CALLBACK_PRIVATE_HOSTS)"
    return None


def key_secret(callback_secret: str, owner: str) -> str:
    """The signing secret of one API key's callbacks: HMAC-SHA256 of its owner id (the key's hash, the one
    jobs carry) keyed by CALLBACK_SECRET. A receiver of one key cannot forge another key's callbacks; an
    operator prints it with `python -m scripts.callback_secret KEY`."""
    return hmac.new(callback_secret.encode(), owner.encode(), hashlib.sha256).hexdigest()


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
        with _OPENER.open(request, timeout=TIMEOUT_SECONDS) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except (urllib.error.URLError, OSError):
        return 0
