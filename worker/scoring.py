"""Scoring one chunk's rows with the exact model artifact its job names."""

from __future__ import annotations

import logging
import re
import socket
from typing import Any

import pyarrow as pa
from celery.exceptions import SoftTimeLimitExceeded

from shared.errors import ChunkFailedError
from shared.job import Job
from shared.outputs import result_table
from shared.registry import ModelEntry, ModelRegistry, job_entry, load_estimator
from shared.scoring import model_input, passthrough_columns, score
from shared.settings import Settings

log = logging.getLogger(__name__)

URL = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://\S*")
"""A URL in a library's message (a Redis or storage URL may carry a password and a host): masked whole."""
PATH = re.compile(r"(?:[A-Za-z]:)?(?:[/\\][\w.@+-]+){2,}")
"""Something that looks like a file path (two or more separated parts)."""


class ModelScorer:
    """The lifecycle's Scorer in a worker: any failure of the model is a ChunkFailedError (retrying cannot help)."""

    def __init__(self, registry: ModelRegistry, settings: Settings) -> None:
        self.registry = registry
        self.soft_time_limit = settings.chunk_soft_time_limit

    def __call__(self, job: Job, X: pa.Table) -> pa.Table:
        entry = job_entry(self.registry, job.model)
        estimator = self._estimator_for(entry)
        try:
            answer = score(estimator, job.method, model_input(estimator, X, entry.schema))
            return result_table(job.method, answer, job.classes, passthrough_columns(X, entry.schema))
        except SoftTimeLimitExceeded:
            raise ChunkFailedError(f"scoring took longer than CHUNK_SOFT_TIME_LIMIT ({self.soft_time_limit}s); "
                                   "use smaller chunks") from None
        except Exception as exc:
            log.exception("scoring a chunk of job %s failed", job.job_id)
            raise ChunkFailedError(f"{job.method} raised {type(exc).__name__}: {public_text(exc)}") from exc

    def _estimator_for(self, entry: ModelEntry) -> Any:
        try:
            return load_estimator(entry)
        except Exception as exc:
            log.exception("loading model %s v%s failed", entry.name, entry.version)
            raise ChunkFailedError(f"model {entry.name} v{entry.version} cannot be loaded: {public_text(exc)}") from exc


def public_text(exc: BaseException) -> str:
    """An exception's first line for clients, file paths masked: a job's problem must not show the host's
    layout (the worker's log keeps the whole traceback)."""
    lines = str(exc).strip().splitlines()
    text = PATH.sub("<path>", URL.sub("<url>", lines[0] if lines else ""))
    host = socket.gethostname()
    return (re.sub(rf"\b{re.escape(host)}\b", "<host>", text) if host else text)[:300]
