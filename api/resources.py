"""The job resource, as GET /jobs/<id> and friends render it."""

from __future__ import annotations

import math
import time
from typing import Any

from api.timefmt import rfc3339
from shared.job import Job

MAX_RETRY_AFTER = 30


def job_links(job_id: str) -> dict[str, str]:
    return {"self": f"/jobs/{job_id}", "results": f"/jobs/{job_id}/results"}


def job_resource(job: Job, results: list[Any] | None = None) -> dict[str, Any]:
    """The job as clients see it; `results` inline when given."""
    now = time.time()
    rate = job.rows_per_second(now)
    eta = job.eta_seconds(now)
    body: dict[str, Any] = {
        "job_id": job.job_id,
        "status": job.status.value,
        "model": job.model,
        "method": job.method,
        "rows": job.rows,
        "progress": {"rows_done": job.rows_done, "rows_total": job.rows, "chunks_done": job.chunks_done,
                     "chunks_total": job.chunks_total,
                     "rows_per_second": round(rate, 1) if rate is not None else None,
                     "eta_seconds": round(eta, 3) if eta is not None else None},
        "created_at": rfc3339(job.created_at),
        "started_at": rfc3339(job.started_at),
        "finished_at": rfc3339(job.finished_at),
        "error": job.error,
        "metadata": job.metadata,
        "links": job_links(job.job_id),
    }
    if job.method == "predict_proba" and job.classes is not None:
        body["classes"] = job.classes
    if results is not None:
        body["results"] = results
    return body


def poll_headers(job: Job) -> dict[str, str]:
    """Retry-After while a job is live: about a tenth of its expected remaining time."""
    if job.status.terminal:
        return {}
    eta = job.eta_seconds(time.time())
    seconds = 1 if eta is None else min(max(math.ceil(eta / 10), 1), MAX_RETRY_AFTER)
    return {"Retry-After": str(seconds)}
