"""Every request: no API key in the URL, the per-key rate limit (shared by every API process), and on every
answer the headers that stop a browser from running or sniffing what it gets."""

from __future__ import annotations

import hmac

from flask import Flask, Response, request

from api.auth import owner_of
from api.services import services
from shared.errors import BadRequestError

KEY_PARAMETERS = frozenset({"api_key", "apikey", "key", "access_token"})
"""Query parameters that would carry a key in a URL, where it ends up in access logs and browser history."""

UNLIMITED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
"""Probes and scrapes are never rate limited: a busy client must not make the service look dead."""


API_CONTENT_SECURITY_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
"""JSON, CSV and problems never need to run or load anything; the pages (/docs, /ui) set their own policy."""


def init_app(app: Flask) -> None:
    app.before_request(_guard)
    app.after_request(_security_headers)


def _security_headers(response: Response) -> Response:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Content-Security-Policy", API_CONTENT_SECURITY_POLICY)
    return response


def _guard() -> None:
    if KEY_PARAMETERS.intersection(k.lower() for k in request.args):
        raise BadRequestError("API keys go in the Authorization header, never in the URL (remove "
                              f"{', '.join(sorted(KEY_PARAMETERS))} from the query string)")
    if request.path in UNLIMITED_PATHS:
        return
    limiter = services().rate_limiter
    if limiter.enabled:
        limiter.take(identity())


def identity() -> str:
    """Who a limit counts against: the owner of a known API key, else the client's address.

    With keys configured, a request without a known key is counted by address (it will be a 401, or it is a
    page that needs no key), so that unknown keys cannot each get a fresh bucket."""
    keys = services().api_keys
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    if keys and scheme.lower() == "bearer" and token and any(
            hmac.compare_digest(token.encode(), k.encode()) for k in keys):
        return "key:" + owner_of(token)
    return "addr:" + (request.remote_addr or "unknown")
