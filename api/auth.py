"""API keys: who is calling, and which jobs are theirs."""

from __future__ import annotations

import hashlib
import hmac

from flask import g, request

from api.services import services
from shared import logs
from shared.errors import UnauthorizedError

PUBLIC_OWNER = "public"
"""The owner of every job when no API keys are configured."""


def require_key() -> None:
    """Before a /jobs or /models request: check the bearer key and remember its owner."""
    keys = services().api_keys
    if not keys:
        g.owner = PUBLIC_OWNER
        logs.bind(api_key_id=PUBLIC_OWNER)
        return
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise UnauthorizedError("this route needs Authorization: Bearer <API key>")
    if not any(hmac.compare_digest(token.encode(), k.encode()) for k in keys):
        raise UnauthorizedError("unknown API key")
    g.owner = owner_of(token)
    logs.bind(api_key_id=logs.key_id(g.owner))


def owner_of(token: str) -> str:
    """The owner id of an API key: what jobs, quotas and callback secrets are keyed by (never the key)."""
    return hashlib.sha256(token.encode()).hexdigest()[:32]


def current_owner() -> str:
    owner: str = g.owner
    return owner
