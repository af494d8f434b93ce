"""Celery workers: `celery --app worker worker` takes chunks and scores them."""

from worker.celery_app import app

__all__ = ["app"]
