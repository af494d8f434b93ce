"""The Celery tasks: thin wrappers that hand ids to the chunk runner."""

from __future__ import annotations

from celery import Task

from shared.queue import SCORE_CHUNK
from worker.celery_app import app
from worker.chunks import run_chunk
from worker.context import process_context


@app.task(name=SCORE_CHUNK, bind=True)
def score_chunk(self: Task, job_id: str, index: int) -> str:
    """Score one chunk; safe to run any number of times."""
    return run_chunk(process_context(self.request.hostname or "worker"), job_id, index)
