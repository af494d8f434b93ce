"""The worker's Celery app, configured only from the environment."""

from __future__ import annotations

from shared.queue import make_celery
from shared.settings import Settings

settings = Settings.from_env()
app = make_celery(settings)

import worker.signals  # noqa: E402  (connects the heartbeat to this app's start and stop)
import worker.tasks  # noqa: E402,F401  (registers the tasks on `app`)
