"""The one factory: every process (API, worker, sweeper, tests) builds its service objects here."""

from __future__ import annotations

from dataclasses import dataclass

import redis

from shared.idempotency import IdempotencyStore
from shared.ingest import Heartbeat, Ingests
from shared.lifecycle import Lifecycle
from shared.metrics import MetricsRecorder
from shared.queue import CeleryChunkQueue, ChunkQueue, Lane, lane_queues, make_celery
from shared.quotas import KeyQuotas, QuotaLimits
from shared.redis_client import connect
from shared.registry import ModelRegistry, set_cache_size
from shared.scheduler import FairScheduler
from shared.settings import Settings
from shared.sizing import ChunkSizer
from shared.storage.chunks import StoredChunks
from shared.storage.locations import StoragePolicy, StorageSettings
from shared.store import JobStore
from shared.throttle import HeldRequests, RateLimiter


@dataclass(frozen=True)
class Services:
    settings: Settings
    redis: redis.Redis
    store: JobStore
    registry: ModelRegistry
    storage: StoragePolicy
    queue: ChunkQueue
    metrics: MetricsRecorder
    idempotency: IdempotencyStore
    lifecycle: Lifecycle
    api_keys: frozenset[str]
    rate_limiter: RateLimiter
    held: HeldRequests


def build_services(settings: Settings, client: redis.Redis | None = None, queue: ChunkQueue | None = None,
                   redis_patience: float = 0.0, store: JobStore | None = None) -> Services:
    """The service objects for `settings`.

    `client` and `queue` default to a new Redis connection and a Celery producer; workers pass their own
    Celery app's queue and a `redis_patience` that rides out a Redis restart. `store` replaces the job store
    (tests that stall a delivery)."""
    client = client or connect(settings.redis_url)
    ttl = settings.result_ttl_seconds
    registry = ModelRegistry(settings.model_dir, settings.default_model)
    storage = StoragePolicy(StorageSettings.parse(settings.storage_roots, settings.storage_allowed_prefixes,
                                                  settings.s3_endpoint_url, settings.s3_region))
    stored = StoredChunks(storage, registry, settings.max_string_bytes)
    store = store or JobStore(client, ttl, parts=stored)
    queue = queue or CeleryChunkQueue(make_celery(settings), settings)
    metrics = MetricsRecorder(client, ttl)
    idempotency = IdempotencyStore(client, ttl)
    scheduler = FairScheduler(client, lane_queues(settings)[Lane.BULK], ttl)
    ingests = Ingests(client, ttl, lane_queues(settings)[Lane.BULK])
    quotas = KeyQuotas(client, QuotaLimits(settings.max_queued_jobs_per_key, settings.max_rows_in_flight_per_key), ttl)
    lifecycle = Lifecycle(settings, store, queue, metrics, idempotency, scheduler, ingests,
                          Heartbeat(client), ChunkSizer(client, settings), stored, redis_patience, quotas=quotas)
    set_cache_size(settings.model_cache_size)
    return Services(settings=settings, redis=client, store=store,
                    registry=registry, storage=storage, queue=queue,
                    metrics=metrics, idempotency=idempotency, lifecycle=lifecycle, api_keys=settings.api_key_set(),
                    rate_limiter=RateLimiter(client, settings.rate_limit_per_key),
                    held=HeldRequests(client, settings.max_held_requests_per_key))
