"""The Celery app both sides build, and the two lanes chunk messages wait in.

Workers take from the small lane first (kombu's `priority` queue order), so a small job waits for at most
the chunks already being scored; the bulk lane is fed a few chunks at a time, round-robin across API keys
and their jobs, by `shared.scheduler`.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import Protocol

from celery import Celery
from kombu.entity import Queue

from shared.settings import Settings
from shared.workers import Chunk

SCORE_CHUNK = "predq.score_chunk"
"""The API sends chunks by task name, so it never imports worker code."""

DELIVER_CALLBACK = "predq.deliver_callback"
"""Posts a finished job to its callback_url; sent once per terminal transition."""

class Lane(str, enum.Enum):
    SMALL = "small"
    """Jobs of at most SMALL_JOB_ROWS rows: every chunk enqueued at once, taken first."""
    BULK = "bulk"
    """Bigger jobs: their chunks enter this lane a few at a time, in fair order."""


def lane_queues(settings: Settings) -> dict[Lane, str]:
    """The Celery queue of each lane, in the order workers take from them."""
    return {Lane.SMALL: settings.queue_name, Lane.BULK: f"{settings.queue_name}.bulk"}


def callback_queue(settings: Settings) -> str:
    """Callbacks' own queue: taken after both lanes, or only by a dedicated callback worker
    (`celery --app worker worker --queues <QUEUE_NAME>.callbacks`, scoring workers then with
    `--queues <QUEUE_NAME>,<QUEUE_NAME>.bulk`), so a slow receiver never delays a chunk."""
    return f"{settings.queue_name}.callbacks"


def make_celery(settings: Settings) -> Celery:
    """A Celery app for `settings`: JSON only, late acks, one prefetched chunk at a time, lanes in order."""
    app = Celery("predq", broker=settings.redis_url, set_as_current=False)
    queues = lane_queues(settings)
    # 'priority': every BRPOP lists the small lane first, where kombu's default would rotate the order.
    transport = {"visibility_timeout": settings.visibility_timeout, "queue_order_strategy": "priority"}
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_soft_time_limit=settings.chunk_soft_time_limit,
        task_time_limit=settings.chunk_time_limit,
        task_default_queue=queues[Lane.SMALL],
        task_queues=[Queue(queues[Lane.SMALL]), Queue(queues[Lane.BULK]),  # type: ignore[no-untyped-call]
                     Queue(callback_queue(settings))],  # type: ignore[no-untyped-call]
        broker_transport_options=transport,
        visibility_timeout=settings.visibility_timeout,
        broker_connection_retry_on_startup=True,
        worker_cancel_long_running_tasks_on_connection_loss=True,
        worker_soft_shutdown_timeout=8.0,
        # Off unless WORKER_MONITORING=1 (Flower, `celery inspect`): fewer Redis keys and messages.
        worker_enable_remote_control=bool(settings.worker_monitoring),
        worker_send_task_events=bool(settings.worker_monitoring),
        worker_hijack_root_logger=False,
    )
    if settings.worker_concurrency:
        app.conf.worker_concurrency = settings.worker_concurrency
    return app


class ChunkQueue(Protocol):
    """Where chunk messages go: Celery in production, a recorder in unit tests."""

    def send(self, lane: Lane, chunks: Sequence[Chunk]) -> None: ...

    def callback(self, job_id: str, attempt: int = 1, countdown: float = 0) -> None: ...


class CeleryChunkQueue:
    """One Celery task message per chunk, carrying only ids."""

    def __init__(self, app: Celery, settings: Settings) -> None:
        self.app = app
        self.queues = lane_queues(settings)
        self.callbacks = callback_queue(settings)

    def send(self, lane: Lane, chunks: Sequence[Chunk]) -> None:
        if not chunks:
            return
        with self.app.producer_or_acquire() as producer:
            for job_id, index in chunks:
                self.app.send_task(SCORE_CHUNK, args=[job_id, index], queue=self.queues[lane], producer=producer)

    def callback(self, job_id: str, attempt: int = 1, countdown: float = 0) -> None:
        self.app.send_task(DELIVER_CALLBACK, args=[job_id, attempt], countdown=countdown or None,
                           queue=self.callbacks)
