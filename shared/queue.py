"""The Celery app both sides build, and the chunk queue the API sends to."""

from __future__ import annotations

from typing import Protocol

from celery import Celery

from shared.settings import Settings

SCORE_CHUNK = "predq.score_chunk"
"""The API sends chunks by task name, so it never imports worker code."""

DELIVER_CALLBACK = "predq.deliver_callback"
"""Posts a finished job to its callback_url; sent once per terminal transition."""


def make_celery(settings: Settings) -> Celery:
    """A Celery app for `settings`: JSON only, late acks, one prefetched chunk at a time."""
    app = Celery("predq", broker=settings.redis_url, set_as_current=False)
    transport = {"visibility_timeout": settings.visibility_timeout}
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
        task_default_queue=settings.queue_name,
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
    """Where the API puts chunk messages: Celery in production, a recorder in unit tests."""

    def enqueue(self, job_id: str, chunks: int) -> None: ...

    def resend(self, job_id: str, indexes: list[int]) -> None: ...

    def callback(self, job_id: str, attempt: int = 1, countdown: float = 0) -> None: ...


class CeleryChunkQueue:
    """One Celery task message per chunk, carrying only ids."""

    def __init__(self, app: Celery) -> None:
        self.app = app

    def enqueue(self, job_id: str, chunks: int) -> None:
        self.resend(job_id, list(range(chunks)))

    def resend(self, job_id: str, indexes: list[int]) -> None:
        with self.app.producer_or_acquire() as producer:
            for index in indexes:
                self.app.send_task(SCORE_CHUNK, args=[job_id, index], producer=producer)

    def callback(self, job_id: str, attempt: int = 1, countdown: float = 0) -> None:
        self.app.send_task(DELIVER_CALLBACK, args=[job_id, attempt], countdown=countdown or None)
