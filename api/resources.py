"""HTTP details of the job resource: the poll interval a live job suggests."""

from __future__ import annotations

import math
import time

from shared.job import Job

MAX_RETRY_AFTER = 30


def poll_headers(job: Job) -> dict[str, str]:
    """Retry-After while a job is live: about a tenth of its expected remaining time."""
    if job.status.terminal:
        return {}
    eta = job.eta_seconds(time.time())
    seconds = 1 if eta is None else min(max(math.ceil(eta / 10), 1), MAX_RETRY_AFTER)
    return {"Retry-After": str(seconds)}
