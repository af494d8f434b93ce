"""Refusing a Redis that may evict keys: queue lists and job records must never vanish."""

from __future__ import annotations

import logging

import redis

from shared.errors import EvictingRedisError

log = logging.getLogger(__name__)


def check_no_eviction(client: redis.Redis) -> None:
    """Raise unless Redis's maxmemory-policy is noeviction; warn when it cannot be read.

    Read from INFO memory, not CONFIG GET: predq's Redis users may not run CONFIG (scripts/redis_acl.py)."""
    try:
        policy = client.info("memory").get("maxmemory_policy")
    except redis.exceptions.ResponseError as exc:  # INFO refused, as on some managed Redis
        log.warning("cannot read Redis's maxmemory-policy (%s); make sure it is noeviction", exc)
        return
    if isinstance(policy, bytes):
        policy = policy.decode()
    if policy not in (None, "noeviction"):
        raise EvictingRedisError(f"Redis runs with maxmemory-policy {policy}: it may evict queued chunks and "
                                 "job records. Set maxmemory-policy noeviction.")


def memory_gauges(client: redis.Redis) -> dict[str, tuple[str, float]]:
    """Redis's memory use and limit as Prometheus gauges (name -> (help, value)); none where INFO is refused."""
    try:
        info = client.info("memory")
    except redis.exceptions.ResponseError as exc:  # INFO disabled (some managed Redis, the fake Redis)
        log.debug("cannot read Redis's memory figures: %s", exc)
        return {}
    return {"predq_redis_memory_used_bytes": ("Bytes Redis has allocated (INFO used_memory).",
                                              float(info.get("used_memory", 0))),
            "predq_redis_maxmemory_bytes": ("Redis's maxmemory; 0 means no limit.", float(info.get("maxmemory", 0)))}
