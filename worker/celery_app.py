"""The worker's Celery app, configured only from the environment."""

from __future__ import annotations

from shared import logs
from shared.queue import make_celery
from shared.settings import Settings

settings = Settings.from_env()
app = make_celery(settings)
logs.connect_celery(settings)  # LOG_FORMAT and LOG_LEVEL, not Celery's own logging

import worker.signals  # noqa: E402  (connects the heartbeat to this app's start and stop)
import worker.tasks  # noqa: E402,F401  (registers the tasks on `app`)
