"""Unit fixtures on top of tests/conftest.py: apps with other settings, and a real Redis for the store."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import fakeredis
import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from api import create_app
from scripts.embedded_redis import EmbeddedRedis
from shared.registry import ModelRegistry
from shared.services import Services, build_services
from shared.settings import Settings
from shared.store import JobStore
from tests.conftest import UNIT_CHUNK_ROWS, RecordingQueue, chunk_runner


@pytest.fixture(scope="session")
def real_redis_server() -> Iterator[EmbeddedRedis]:
    """A private redis-server on a free port (never 6379); the real-Redis variants skip without one."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not on PATH")
    server = EmbeddedRedis()
    assert server.port != 6379
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["fakeredis", "redis-server"])
def any_redis(request: pytest.FixtureRequest) -> Iterator[redis.Redis]:
    """The same tests against fakeredis and a real Redis, so the fake cannot drift."""
    if request.param == "fakeredis":
        yield fakeredis.FakeRedis(server=fakeredis.FakeServer())
        return
    server: EmbeddedRedis = request.getfixturevalue("real_redis_server")
    client = redis.Redis.from_url(server.url)
    client.flushdb()
    try:
        yield client
    finally:
        client.flushdb()
        client.close()


@pytest.fixture
def any_store(any_redis: redis.Redis) -> JobStore:
    return JobStore(any_redis, 3600)


@dataclass
class Stack:
    """An app, its Redis and its queue, and a way to run the queued chunks as a worker would."""

    settings: Settings
    redis: redis.Redis
    queue: RecordingQueue
    app: Flask
    client: FlaskClient
    store: JobStore
    registry: ModelRegistry
    services: Services

    def run(self) -> list[str]:
        return chunk_runner(self.services, self.queue)()


StackFactory = Callable[..., Stack]


@pytest.fixture
def make_stack(model_dir: Path, redis_client: redis.Redis) -> StackFactory:
    """make_stack({"INLINE_RESULTS_MAX": "5"}) -> a Stack on the test's fake Redis with those settings."""

    def make(env: dict[str, str] | None = None, *, queue: RecordingQueue | None = None,
             client: redis.Redis | None = None) -> Stack:
        values = {"MODEL_DIR": str(model_dir), "CHUNK_ROWS": str(UNIT_CHUNK_ROWS), "TARGET_CHUNK_SECONDS": "0",
                  "REDIS_URL": "redis://fake.invalid:6379/0", **(env or {})}
        settings = Settings.from_env(values)
        rc = client if client is not None else redis_client
        q = queue if queue is not None else RecordingQueue()
        services = build_services(settings, rc, q)
        app = create_app(services=services)
        return Stack(settings, rc, q, app, app.test_client(), services.store, services.registry, services)

    return make


@pytest.fixture
def own_model_dir(model_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the model store, for tests that add or alter versions."""
    copy = tmp_path / "models"
    shutil.copytree(model_dir, copy)
    return copy
