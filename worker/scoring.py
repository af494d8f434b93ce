"""Scoring one chunk's rows with the exact model artifact its job names."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from celery.exceptions import SoftTimeLimitExceeded

from shared.errors import ChunkFailedError
from shared.job import Job
from shared.registry import ModelEntry, ModelRegistry, load_estimator
from shared.scoring import score
from shared.settings import Settings

log = logging.getLogger(__name__)


class ModelScorer:
    """The lifecycle's Scorer in a worker: any failure of the model is a ChunkFailedError (retrying cannot help)."""

    def __init__(self, registry: ModelRegistry, settings: Settings) -> None:
        self.registry = registry
        self.soft_time_limit = settings.chunk_soft_time_limit

    def __call__(self, job: Job, X: np.ndarray) -> np.ndarray:
        estimator = self._estimator_for(job)
        try:
            return score(estimator, job.method, X)
        except SoftTimeLimitExceeded:
            raise ChunkFailedError(f"scoring took longer than CHUNK_SOFT_TIME_LIMIT ({self.soft_time_limit}s); "
                                   "use smaller chunks") from None
        except Exception as exc:
            log.exception("scoring a chunk of job %s failed", job.job_id)
            raise ChunkFailedError(f"{job.method} raised {type(exc).__name__}: {exc}") from exc

    def _estimator_for(self, job: Job) -> Any:
        entry = self._entry_for(job)
        try:
            return load_estimator(entry)
        except Exception as exc:
            raise ChunkFailedError(f"model {entry.name} v{entry.version} cannot be loaded: {exc}") from exc

    def _entry_for(self, job: Job) -> ModelEntry:
        name, version, sha = job.model["name"], int(job.model["version"]), job.model["sha256"]
        try:
            entry = self.registry.get(name, version)
        except Exception as exc:
            raise ChunkFailedError(f"model {name} v{version} is not in this worker's MODEL_DIR") from exc
        if entry.sha256 != sha:
            raise ChunkFailedError(f"model {name} v{version} in this worker's MODEL_DIR is another file "
                                   f"(SHA-256 {entry.sha256}, the job needs {sha})")
        return entry
