"""A worker refuses to run where it would lose work: an evicting Redis, a visibility timeout too short."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from scripts.embedded_redis import EmbeddedRedis
from shared.settings import REPO_ROOT

pytestmark = pytest.mark.integration

CELERY = str(Path(sys.executable).parent / "celery")


@pytest.fixture
def private_redis() -> Iterator[EmbeddedRedis]:
    server = EmbeddedRedis().start()
    yield server
    server.stop()


def start_worker(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run a worker node until it exits by itself (at most 60 s)."""
    return subprocess.run([CELERY, "--app", "worker", "worker", "--concurrency", "1", "--loglevel", "INFO"],
                          cwd=REPO_ROOT, env={**os.environ, "PYTHONPATH": str(REPO_ROOT), **env},
                          capture_output=True, text=True, timeout=60)


def test_a_worker_refuses_to_start_against_an_evicting_redis(private_redis: EmbeddedRedis) -> None:
    redis.Redis.from_url(private_redis.url).config_set("maxmemory-policy", "allkeys-lru")
    done = start_worker({"REDIS_URL": private_redis.url})
    assert done.returncode != 0
    assert "maxmemory-policy allkeys-lru" in done.stderr


def test_a_worker_refuses_a_visibility_timeout_below_four_chunk_time_limits(private_redis: EmbeddedRedis) -> None:
    done = start_worker({"REDIS_URL": private_redis.url, "CHUNK_TIME_LIMIT": "90", "VISIBILITY_TIMEOUT": "300"})
    assert done.returncode != 0
    assert "VISIBILITY_TIMEOUT" in done.stderr
