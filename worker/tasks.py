"""The Celery tasks: ids in, one lifecycle call, a word out."""

from __future__ import annotations

from celery import Celery, Task

from shared.callbacks import TIMEOUT_SECONDS
from shared.queue import DELIVER_CALLBACK, SCORE_CHUNK
from worker.callbacks import deliver
from worker.runtime import WorkerRuntime

CALLBACK_TASK_SECONDS = int(TIMEOUT_SECONDS) + 5


def register_tasks(app: Celery, runtime: WorkerRuntime) -> None:
    @app.task(name=SCORE_CHUNK, bind=True)
    def score_chunk(task: Task, job_id: str, index: int) -> str:
        """Score one chunk; safe to run any number of times."""
        lifecycle = runtime.services().lifecycle
        outcome = lifecycle.run_chunk(job_id, index, runtime.scorer(), task.request.hostname or runtime.node)
        return str(outcome.value)

    # A callback's POST times out after callbacks.TIMEOUT_SECONDS; the task limits stop anything else in it
    # (a resolver that hangs) from holding the worker longer.
    @app.task(name=DELIVER_CALLBACK, bind=True, soft_time_limit=CALLBACK_TASK_SECONDS,
              time_limit=CALLBACK_TASK_SECONDS + 5)
    def deliver_callback(task: Task, job_id: str, attempt: int) -> str:
        """POST a finished job to its callback_url; the next attempt is a new message."""
        return deliver(runtime.services(), job_id, attempt)
