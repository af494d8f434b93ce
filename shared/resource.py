"""The job resource, as the API answers it and as callbacks deliver it."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from shared.job import Job, JobStatus
from shared.outputs import json_values
from shared.storage.parts import MANIFEST, part_names
from shared.store import JobStore


def rfc3339(seconds: float | None) -> str | None:
    """RFC 3339 in UTC with milliseconds and Z."""
    if seconds is None:
        return None
    moment = datetime.fromtimestamp(seconds, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


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
        "chunk_rows": job.chunk_rows,
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
    if job.passthrough:
        body["passthrough"] = job.passthrough
    if job.callback_url is not None:
        body["callbacks"] = job.callbacks
    if job.source is not None:
        body["input"] = {"uri": job.source["uri"], "format": job.source["format"]}
    if job.output is not None:
        done = job.status is JobStatus.SUCCEEDED
        body["output"] = {"uri": job.output["uri"],
                          "files": [*part_names(job.chunks_total), MANIFEST] if done else []}
    if results is not None:
        body["results"] = results
    return body


def result_values(store: JobStore, job: Job, start: int, stop: int) -> list[Any]:
    """Result rows [start, stop) as JSON values."""
    return [v for part in store.read_results(job, start, stop)
            for v in json_values(part, job.method, len(job.passthrough))]


def full_job_resource(store: JobStore, job: Job, inline_max: int) -> dict[str, Any]:
    """The resource with results inline when the job succeeded with at most `inline_max` rows."""
    if job.status is JobStatus.SUCCEEDED and job.rows <= inline_max:
        return job_resource(job, result_values(store, job, 0, job.rows))
    return job_resource(job)
