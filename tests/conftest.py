"""Shared fixtures: small real models in a temporary store, fake Redis for unit tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import fakeredis
import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from api import create_app
from scripts import make_models
from shared.queue import Lane
from shared.registry import ModelRegistry, write_model
from shared.services import Services, build_services
from shared.settings import Settings
from shared.store import JobStore
from shared.workers import Chunk
from worker.runtime import REDIS_PATIENCE_SECONDS
from worker.scoring import ModelScorer

UNIT_CHUNK_ROWS = 4
"""Tiny chunks, so a handful of rows already spans several chunks."""


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """iris (two versions), diabetes and breast-cancer, fitted as the demo fits them."""
    root = tmp_path_factory.mktemp("models")
    for name, version, build in make_models.DEMO_MODELS:
        if name.startswith("bench-") or name == "churn":  # the typed model's tests add it where they need it
            continue
        write_model(root, name, version, *build()[:3])
    return root


@pytest.fixture
def settings(model_dir: Path) -> Settings:
    return Settings.from_env({"MODEL_DIR": str(model_dir), "CHUNK_ROWS": str(UNIT_CHUNK_ROWS),
                              "TARGET_CHUNK_SECONDS": "0", "REDIS_URL": "redis://fake.invalid:6379/0"})


@pytest.fixture
def redis_client() -> redis.Redis:
    return fakeredis.FakeRedis(server=fakeredis.FakeServer())


@pytest.fixture
def store(redis_client: redis.Redis, settings: Settings) -> JobStore:
    return JobStore(redis_client, settings.result_ttl_seconds)


@pytest.fixture
def registry(settings: Settings) -> ModelRegistry:
    return ModelRegistry(settings.model_dir, settings.default_model)


class RecordingQueue:
    """A chunk queue that keeps the messages, so a test can run them as a worker would."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, int]] = []
        self.lanes: list[Lane] = []
        self.callbacks: list[tuple[str, int, float]] = []

    def send(self, lane: Lane, chunks: Sequence[Chunk]) -> None:
        self.messages.extend(chunks)
        self.lanes.extend(lane for _ in chunks)

    def callback(self, job_id: str, attempt: int = 1, countdown: float = 0) -> None:
        self.callbacks.append((job_id, attempt, countdown))


@pytest.fixture
def queue() -> RecordingQueue:
    return RecordingQueue()


def chunk_runner(services: Services, queue: RecordingQueue) -> Callable[[], list[str]]:
    """Runs every chunk message `queue` recorded through the lifecycle, as a worker would; their outcomes."""
    worker = build_services(services.settings, services.redis, queue, REDIS_PATIENCE_SECONDS, services.store)
    scorer = ModelScorer(worker.registry, worker.settings)

    def run() -> list[str]:
        outcomes = [worker.lifecycle.run_chunk(job_id, index, scorer, "test-worker").value
                    for job_id, index in queue.messages]
        queue.messages.clear()
        return outcomes

    return run


@pytest.fixture
def services(settings: Settings, redis_client: redis.Redis, queue: RecordingQueue) -> Services:
    return build_services(settings, redis_client, queue)


@pytest.fixture
def app(services: Services) -> Flask:
    return create_app(services=services)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def run_queued(services: Services, queue: RecordingQueue) -> Callable[[], list[str]]:
    """Run every recorded chunk message as a worker would; their outcomes."""
    return chunk_runner(services, queue)


@pytest.fixture
def no_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("REDIS_URL", "MODEL_DIR", "CHUNK_ROWS"):
        monkeypatch.delenv(name, raising=False)
    yield
