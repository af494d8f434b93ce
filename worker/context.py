"""What a worker process talks to, built lazily after the fork (sockets do not survive one)."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from celery import Celery

from shared.metrics import MetricsRecorder
from shared.queue import CeleryChunkQueue, ChunkQueue
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
    node: str = "worker"
    queue: ChunkQueue | None = None


def build_context(settings: Settings, node: str, app: Celery) -> WorkerContext:
    client = connect(settings.redis_url)
    return WorkerContext(settings=settings, store=JobStore(client, settings.result_ttl_seconds),
                         registry=ModelRegistry(settings.model_dir, settings.default_model),
                         metrics=MetricsRecorder(client, settings.result_ttl_seconds), node=node,
                         queue=CeleryChunkQueue(app))


@functools.cache
def process_context(node: str) -> WorkerContext:
    """This process's context; `node` is the Celery node name (w1@host) that metrics credit."""
    from worker.celery_app import app, settings

    return build_context(settings, node, app)
