"""What the API's views use, built once per app from its settings."""

from __future__ import annotations

from dataclasses import dataclass

import redis
from flask import current_app

from shared.idempotency import IdempotencyStore
from shared.metrics import MetricsRecorder
from shared.queue import CeleryChunkQueue, ChunkQueue, make_celery
from shared.redis_client import connect
from shared.registry import ModelRegistry
from shared.settings import Settings
from shared.store import JobStore


@dataclass(frozen=True)
class Services:
    settings: Settings
    redis: redis.Redis
    store: JobStore
    registry: ModelRegistry
    queue: ChunkQueue
    metrics: MetricsRecorder
    idempotency: IdempotencyStore
    api_keys: frozenset[str]


def build_services(settings: Settings, client: redis.Redis | None = None, queue: ChunkQueue | None = None) -> Services:
    client = client or connect(settings.redis_url)
    ttl = settings.result_ttl_seconds
    return Services(settings=settings, redis=client, store=JobStore(client, ttl),
                    registry=ModelRegistry(settings.model_dir, settings.default_model),
                    queue=queue or CeleryChunkQueue(make_celery(settings)), metrics=MetricsRecorder(client, ttl),
                    idempotency=IdempotencyStore(client, ttl), api_keys=settings.api_key_set())


def services() -> Services:
    """The services of the app handling this request."""
    found: Services = current_app.extensions["predq"]
    return found
