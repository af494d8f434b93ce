"""`create_worker(settings)`: the worker's Celery app, with its tasks and start/stop hooks registered on it."""

from __future__ import annotations

from celery import Celery

from shared import logs
from shared.queue import make_celery
from shared.settings import Settings
from worker.runtime import WorkerRuntime
from worker.signals import connect_signals
from worker.tasks import register_tasks


def create_worker(settings: Settings) -> Celery:
    app = make_celery(settings)
    logs.connect_celery(settings)  # LOG_FORMAT and LOG_LEVEL, not Celery's own logging
    runtime = WorkerRuntime(settings, app)
    register_tasks(app, runtime)
    connect_signals(app, runtime)
    return app
