"""Job-end callbacks: the signed POST of the job resource to the job's callback_url."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import ipaddress
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from shared.callback_http import pinned_connection

MAX_ATTEMPTS = 5
"""Deliveries tried before a callback is given up (the job lists each one)."""

TIMEOUT_SECONDS = 5.0
"""A receiver that has not answered by then counts as no answer (retried with backoff)."""

MAX_URL_LENGTH = 2048
"""A longer callback_url is never requested."""

MIN_SECRET_LENGTH = 32
"""CALLBACK_SECRET must be at least this long when callbacks are allowed (predq refuses to start otherwise)."""


@dataclass(frozen=True)
class Destination:
    """A callback URL together with the one address its host was checked at. The POST connects to `address`
    and nowhere else: resolving the name a second time could answer a private address (DNS rebinding)."""

    scheme: str
    host: str
    port: int
    target: str
    """The path and query sent in the request line."""
    address: str


class CallbackRefusedError(Exception):
    """A callback URL predq will not POST to; the message says why (shown in the worker's log only)."""


Resolver = Callable[..., list[tuple[Any, ...]]]
"""socket.getaddrinfo's shape: what `destination` resolves hosts with."""


def destination(url: str, private_hosts: frozenset[str], resolve: Resolver = socket.getaddrinfo) -> Destination:
    """Where predq will POST `url`: its host resolved once, every address checked, the first one pinned.

    Refused (CallbackRefusedError) when too long, not http(s), or when the host resolves to an address that is not
    public (loopback, private, link-local such as the cloud metadata service, reserved) and the host is not in
    CALLBACK_PRIVATE_HOSTS. Checked at each delivery, since DNS answers change."""
    if len(url) > MAX_URL_LENGTH:
        raise CallbackRefusedError(f"the URL is over {MAX_URL_LENGTH} characters")
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or not host:
        raise CallbackRefusedError("the URL is not http(s) or names no host")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        infos = resolve(host, port, proto=socket.IPPROTO_TCP)
    except (OSError, ValueError, UnicodeError):
        raise CallbackRefusedError("its host does not resolve") from None
    addresses = [str(info[4][0]).split("%")[0] for info in infos]
    if not addresses:
        raise CallbackRefusedError("its host does not resolve")
    if host not in private_hosts and not all(ipaddress.ip_address(a).is_global for a in addresses):
        raise CallbackRefusedError("its host resolves to a non-public address (allowed only for hosts in "
                                   "CALLBACK_PRIVATE_HOSTS)")
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Destination(parts.scheme, host, port, target, addresses[0])


def refusal(url: str, private_hosts: frozenset[str]) -> str | None:
    """Why predq will not POST to `url`, or None when it may (see `destination`)."""
    try:
        destination(url, private_hosts)
    except CallbackRefusedError as refused:
        return str(refused)
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


def post(to: Destination, body: bytes, secret: str) -> int:
    """POST `body`, signed, to the checked address of `to`; the HTTP status, or 0 when no answer came.

    A 3xx is the receiver's answer, never followed: following it would let any allowed host point predq's workers
    at any other address."""
    connection = pinned_connection(to.scheme, to.host, to.port, to.address, TIMEOUT_SECONDS)
    try:
        connection.request("POST", to.target, body=body, headers={
            "Content-Type": "application/json", "User-Agent": "predq-callback",
            "Predq-Signature": signature(body, secret, int(time.time()))})
        return int(connection.getresponse().status)
    except (OSError, http.client.HTTPException):
        return 0
    finally:
        connection.close()
