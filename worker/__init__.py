"""Celery workers: `celery --app worker worker` takes chunks and scores them.

Importing this package builds nothing: Celery's `--app worker` asks for `worker.app`, and only then is the
app made, by `worker.app_factory.create_worker`, from the environment.
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    if name == "app":
        from shared.settings import Settings
        from worker.app_factory import create_worker

        app = create_worker(Settings.from_env())
        globals()["app"] = app
        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
