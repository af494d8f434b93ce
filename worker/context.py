"""What a worker process talks to, built lazily after the fork (sockets do not survive one)."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from shared.metrics import MetricsRecorder
from shared.redis_client import connect
from shared.registry import ModelRegistry
from shared.settings import Settings
from shared.store import JobStore


@dataclass(frozen=True)
class WorkerContext:
    settings: Settings
    store: JobStore
    registry: ModelRegistry
    metrics: MetricsRecorder


def build_context(settings: Settings) -> WorkerContext:
    client = connect(settings.redis_url)
    return WorkerContext(settings=settings, store=JobStore(client, settings.result_ttl_seconds),
                         registry=ModelRegistry(settings.model_dir, settings.default_model),
                         metrics=MetricsRecorder(client, settings.result_ttl_seconds))


@functools.cache
def process_context() -> WorkerContext:
    from worker.celery_app import settings

    return build_context(settings)
