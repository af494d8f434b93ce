"""The Celery tasks: thin wrappers that hand ids to the chunk runner."""

from __future__ import annotations

from celery import Task

from shared.queue import DELIVER_CALLBACK, SCORE_CHUNK
from worker.callbacks import deliver
from worker.celery_app import app
from worker.chunks import run_chunk
from worker.context import process_context


@app.task(name=DELIVER_CALLBACK, bind=True)
def deliver_callback(self: Task, job_id: str, attempt: int) -> str:
    """POST a finished job to its callback_url; the next attempt is a new message."""
    return deliver(process_context(self.request.hostname or "worker"), job_id, attempt)


@app.task(name=SCORE_CHUNK, bind=True)
def score_chunk(self: Task, job_id: str, index: int) -> str:
    """Score one chunk; safe to run any number of times."""
    return run_chunk(process_context(self.request.hostname or "worker"), job_id, index)
