"""Redis clients built one way for every process."""

from __future__ import annotations

import redis


def connect(url: str, timeout: float = 5.0) -> redis.Redis:
    """A client that fails fast when Redis is down, instead of hanging a request."""
    return redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout,
                                health_check_interval=30)
