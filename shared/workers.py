"""Worker liveness: each worker node stamps a sorted set; readiness counts the fresh stamps."""

from __future__ import annotations

import time

import redis

from shared.keys import key

WORKERS = key("workers")
HEARTBEAT_SECONDS = 5.0
"""How often a worker node stamps itself."""

ALIVE_WITHIN_SECONDS = 3 * HEARTBEAT_SECONDS
"""A node whose last stamp is older than this counts as gone."""


def stamp(client: redis.Redis, node: str, ttl_seconds: int) -> None:
    with client.pipeline(transaction=False) as pipe:
        pipe.zadd(WORKERS, {node: time.time()})
        pipe.expire(WORKERS, ttl_seconds)
        pipe.execute()


def forget(client: redis.Redis, node: str) -> None:
    client.zrem(WORKERS, node)


def alive(client: redis.Redis) -> int:
    """Worker nodes that stamped themselves recently."""
    return int(client.zcount(WORKERS, time.time() - ALIVE_WITHIN_SECONDS, "+inf"))
