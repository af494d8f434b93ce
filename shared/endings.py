"""What follows a job's move to a terminal status, done once by whoever made the move."""

from __future__ import annotations

import logging
import time

from shared.job import Job, JobStatus
from shared.metrics import MetricsRecorder, record_job_end
from shared.queue import ChunkQueue

log = logging.getLogger(__name__)

LIVE = (JobStatus.QUEUED.value, JobStatus.RUNNING.value)


def ended_now(before: str) -> bool:
    """Whether `JobStore.end_job`'s answer says this call made the job terminal."""
    return before in LIVE


def job_ended(metrics: MetricsRecorder, queue: ChunkQueue | None, job: Job, status: JobStatus) -> None:
    """Count the job's end and queue its callback; a lost announcement never fails what ended it."""
    seconds = time.time() - job.created_at
    record_job_end(metrics, job.model, status.value, seconds)
    log.info("job %s", status.value, extra={"job_id": job.job_id, "model": job.model["name"], "status": status.value,
                                            "rows": job.rows, "duration_s": round(seconds, 3),
                                            "rows_per_second": round(job.rows / max(seconds, 1e-6), 1)})
    if job.callback_url is None or queue is None:
        return
    try:
        queue.callback(job.job_id)
    except Exception as exc:
        log.warning("could not queue the callback of job %s: %s", job.job_id, exc)
