"""Worker liveness: each worker process stamps itself and the chunks it holds.

The sweeper trusts these stamps to tell a chunk that is running from one whose
worker died; /readyz and /metrics count the fresh ones.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import cast

import orjson
import redis

from shared.keys import key

WORKERS = key("workers")
"""Sorted set: worker id -> time of its last stamp."""

HEARTBEAT_SECONDS = 2.0
"""How often a worker stamps itself."""

ALIVE_WITHIN_SECONDS = 4 * HEARTBEAT_SECONDS
"""A worker whose last stamp is older than this counts as gone."""

Chunk = tuple[str, int]


def held_key(worker_id: str) -> str:
    return key("worker", worker_id, "held")


def stamp(client: redis.Redis, worker_id: str, held: Iterable[Chunk]) -> None:
    """Record that `worker_id` is alive and holds (is running or has reserved) `held`."""
    with client.pipeline(transaction=True) as pipe:
        pipe.zadd(WORKERS, {worker_id: time.time()})
        pipe.expire(WORKERS, int(ALIVE_WITHIN_SECONDS * 100))
        pipe.set(held_key(worker_id), orjson.dumps(sorted(held)), ex=int(ALIVE_WITHIN_SECONDS) + 1)
        pipe.zremrangebyscore(WORKERS, "-inf", time.time() - ALIVE_WITHIN_SECONDS * 50)
        pipe.execute()


def forget(client: redis.Redis, worker_id: str) -> None:
    with client.pipeline(transaction=True) as pipe:
        pipe.zrem(WORKERS, worker_id)
        pipe.delete(held_key(worker_id))
        pipe.execute()


def alive_ids(client: redis.Redis) -> list[str]:
    fresh = client.zrangebyscore(WORKERS, time.time() - ALIVE_WITHIN_SECONDS, "+inf")
    return [w.decode() for w in cast(list[bytes], fresh)]


def alive(client: redis.Redis) -> int:
    """Worker nodes (Celery node names) with a recent stamp; a restarted node counts once."""
    return len({worker_id.split("|", 1)[0] for worker_id in alive_ids(client)})


def held_chunks(client: redis.Redis) -> set[Chunk] | None:
    """Every chunk a live worker holds; None when some live worker's stamp cannot be read (be careful)."""
    ids = alive_ids(client)
    if not ids:
        return set()
    found: set[Chunk] = set()
    for raw in cast(list[bytes | None], client.mget([held_key(w) for w in ids])):
        if raw is None:
            return None
        found.update((str(job), int(index)) for job, index in orjson.loads(raw))
    return found
