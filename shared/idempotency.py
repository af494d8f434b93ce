"""Idempotency keys: one job per (owner, key), whatever the number of concurrent retries."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import orjson
import redis

from shared.errors import BadRequestError, ConflictError
from shared.keys import key

MAX_KEY_LENGTH = 255


def fingerprint(parts: Iterable[bytes]) -> str:
    """A digest of everything that makes two submissions the same request."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(hashlib.sha256(part).digest())
    return digest.hexdigest()


class IdempotencyStore:
    def __init__(self, client: redis.Redis, ttl_seconds: int) -> None:
        self.redis = client
        self.ttl = ttl_seconds

    @staticmethod
    def _key(owner: str, idempotency_key: str) -> str:
        if not idempotency_key or len(idempotency_key) > MAX_KEY_LENGTH or not idempotency_key.isprintable():
            raise BadRequestError(f"Idempotency-Key is 1 to {MAX_KEY_LENGTH} printable characters")
        return key("idem", owner, hashlib.sha256(idempotency_key.encode()).hexdigest())

    def claim(self, owner: str, idempotency_key: str, print_: str, job_id: str) -> str | None:
        """Reserve the key for `job_id`: None when reserved now, else the job made the first time.

        The same key with another fingerprint is a 409."""
        name = self._key(owner, idempotency_key)
        record = orjson.dumps({"fingerprint": print_, "job_id": job_id})
        if self.redis.set(name, record, nx=True, ex=self.ttl):
            return None
        existing = self.redis.get(name)
        if existing is None:  # expired between the two calls: try once more
            return self.claim(owner, idempotency_key, print_, job_id)
        held = orjson.loads(existing)
        if held["fingerprint"] != print_:
            raise ConflictError("this Idempotency-Key was used with another request body; use a new key")
        return str(held["job_id"])

    def release(self, owner: str, idempotency_key: str) -> None:
        """Free a key whose submission was refused after it was claimed."""
        self.redis.delete(self._key(owner, idempotency_key))
