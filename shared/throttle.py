"""The per-key rate limit (a token bucket) and the cap on requests a key holds open, both shared in Redis.

Why one Lua script rather than flask-limiter: flask-limiter's Redis storage offers fixed and sliding windows
(moving-window needs a sorted set entry per request), not the token bucket the contract describes ("bursts of
twice the rate"); its key function, exemptions and 429 body would all need overriding to answer predq's
problem+json with an exact Retry-After; and it would be one more pinned dependency in the API image. The
bucket below is 15 lines, one round trip per request, O(1) memory per key (one hash with a TTL), and reads
the clock from Redis so that every API process, on any host, refills the same bucket at the same pace.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import redis

from shared.errors import TooManyRequestsError
from shared.keys import key

TOKEN_BUCKET = """
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.6f', tokens), 'at', string.format('%.6f', now))
redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 1)
return string.format('%.6f', wait)
"""
"""KEYS: the bucket; ARGV: rate per second, burst. "0.000000" when a token was taken, else seconds until one."""

ACQUIRE_SLOT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[3])) + 1)
return 1
"""
"""KEYS: the key's held requests; ARGV: token, cap, lease seconds. A lease that is not released (its process
was killed) lapses by itself, so a crash never leaves a key locked out."""


def bucket_key(identity: str) -> str:
    return key("rate", identity)


def held_key(identity: str) -> str:
    return key("held", identity)


class RateLimiter:
    """RATE_LIMIT_PER_KEY requests per second for each identity (a key's owner, or a client address)."""

    def __init__(self, client: redis.Redis, rate: int) -> None:
        self.redis = client
        self.rate = rate
        self._take = client.register_script(TOKEN_BUCKET)

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def take(self, identity: str) -> None:
        """Take one token for `identity`, or raise TooManyRequestsError with the seconds until the next one."""
        if not self.enabled:
            return
        raw = self._take(keys=[bucket_key(identity)], args=[self.rate, 2 * self.rate])
        wait = float(raw.decode() if isinstance(raw, bytes) else raw)
        if wait > 0:
            raise TooManyRequestsError(f"over the rate limit of {self.rate} requests per second "
                                       "(RATE_LIMIT_PER_KEY); slow down", retry_after=math.ceil(wait))


class HeldRequests:
    """Caps the long polls and followed streams one key holds open at once, across every API process."""

    def __init__(self, client: redis.Redis, per_key: int) -> None:
        self.redis = client
        self.per_key = per_key
        self._acquire = client.register_script(ACQUIRE_SLOT)

    def acquire(self, identity: str, lease_seconds: float) -> str | None:
        """A token holding one of `identity`'s places for `lease_seconds`, or None when all are taken."""
        token = uuid.uuid4().hex
        got = self._acquire(keys=[held_key(identity)], args=[token, self.per_key, lease_seconds])
        return token if got else None

    def renew(self, identity: str, token: str, lease_seconds: float) -> None:
        self.redis.zadd(held_key(identity), {token: self._now() + lease_seconds}, xx=True)
        self.redis.expire(held_key(identity), int(lease_seconds) + 1)

    def release(self, identity: str, token: str) -> None:
        self.redis.zrem(held_key(identity), token)

    def _now(self) -> float:
        seconds, micros = self.redis.time()
        return float(seconds) + micros / 1e6

    @contextmanager
    def slot(self, identity: str, lease_seconds: float) -> Iterator[bool]:
        """Whether `identity` may hold one more request for up to `lease_seconds`; released afterwards."""
        token = self.acquire(identity, lease_seconds)
        try:
            yield token is not None
        finally:
            if token is not None:
                self.release(identity, token)
