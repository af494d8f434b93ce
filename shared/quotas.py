"""Per-key quotas: unfinished jobs (MAX_QUEUED_JOBS_PER_KEY) and rows in them (MAX_ROWS_IN_FLIGHT_PER_KEY).

A job reserves its place when it is accepted and gives it back when it ends (`Lifecycle._ended`) or its
acceptance fails. Each key's reservations are a sorted set of job ids (score: the job's rows) and a running
row total; both scripts below are atomic, so two processes accepting at once cannot both take the last place,
and a release is idempotent (only the call that removes the job id subtracts its rows), so a job ended twice
by mistake cannot free another job's place. Both keys carry the result TTL: a reservation leaked by a process
killed between reserving and accepting is forgotten within a day at worst.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis

from shared.errors import TooManyRequestsError
from shared.keys import key

RESERVE = """
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 1 end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return -1 end
local rows = tonumber(redis.call('GET', KEYS[2]) or '0')
if rows + tonumber(ARGV[2]) > tonumber(ARGV[4]) then return -2 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('INCRBY', KEYS[2], ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[5])
redis.call('EXPIRE', KEYS[2], ARGV[5])
return 1
"""
"""KEYS: the key's job set, its row total; ARGV: job id, rows, max jobs, max rows, ttl. 1 reserved (or
already), -1 too many jobs, -2 too many rows."""

RELEASE = """
local rows = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not rows then return 0 end
redis.call('ZREM', KEYS[1], ARGV[1])
if redis.call('DECRBY', KEYS[2], math.floor(tonumber(rows))) <= 0 then redis.call('DEL', KEYS[2]) end
return 1
"""
"""KEYS: the key's job set, its row total; ARGV: job id. 1 released, 0 nothing held."""

QUOTA_RETRY_AFTER = 5
"""Seconds a refused client waits: a place frees when one of its own jobs ends."""


def jobs_key(owner: str) -> str:
    return key("quota", owner, "jobs")


def rows_key(owner: str) -> str:
    return key("quota", owner, "rows")


@dataclass(frozen=True)
class QuotaLimits:
    max_jobs: int
    max_rows: int


class KeyQuotas:
    """The unfinished jobs and rows in flight of each API key, kept in Redis for every API process."""

    def __init__(self, client: redis.Redis, limits: QuotaLimits, ttl_seconds: int) -> None:
        self.redis = client
        self.limits = limits
        self.ttl = ttl_seconds
        self._reserve = client.register_script(RESERVE)
        self._release = client.register_script(RELEASE)

    def check(self, owner: str) -> None:
        """Before a body is read: refuse at once a key that already holds its every job place."""
        if int(self.redis.zcard(jobs_key(owner))) >= self.limits.max_jobs:
            raise self._too_many_jobs()

    def reserve(self, owner: str, job_id: str, rows: int) -> None:
        """Count `job_id` and its rows against `owner`, or raise TooManyRequestsError (429) and count nothing."""
        answer = int(self._reserve(keys=[jobs_key(owner), rows_key(owner)],
                                   args=[job_id, rows, self.limits.max_jobs, self.limits.max_rows, self.ttl]))
        if answer == -1:
            raise self._too_many_jobs()
        if answer == -2:
            raise TooManyRequestsError(
                f"this API key's unfinished jobs hold too many rows to accept {rows} more "
                f"(MAX_ROWS_IN_FLIGHT_PER_KEY is {self.limits.max_rows}); retry once some have ended",
                retry_after=QUOTA_RETRY_AFTER)

    def release(self, owner: str, job_id: str) -> bool:
        """Give back what `job_id` held; False when it held nothing (already released, or never reserved)."""
        return bool(self._release(keys=[jobs_key(owner), rows_key(owner)], args=[job_id]))

    def usage(self, owner: str) -> tuple[int, int]:
        """(unfinished jobs, rows in them) counted for `owner`."""
        jobs = int(self.redis.zcard(jobs_key(owner)))
        rows = self.redis.get(rows_key(owner))
        return jobs, int(rows) if rows is not None else 0

    def _too_many_jobs(self) -> TooManyRequestsError:
        return TooManyRequestsError(
            f"this API key has {self.limits.max_jobs} unfinished jobs (MAX_QUEUED_JOBS_PER_KEY); retry once "
            "some have ended", retry_after=QUOTA_RETRY_AFTER)
