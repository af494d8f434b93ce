"""What one worker process talks to, built on first use in each process (sockets do not survive a fork)."""

from __future__ import annotations

import os
import threading

from celery import Celery

from shared.queue import CeleryChunkQueue
from shared.services import Services, build_services
from shared.settings import Settings
from worker.scoring import ModelScorer

REDIS_PATIENCE_SECONDS = 45.0
"""How long a chunk's transitions wait for Redis to come back (below the soft time limit)."""


class WorkerRuntime:
    def __init__(self, settings: Settings, app: Celery) -> None:
        self.settings = settings
        self.app = app
        self.stopping = threading.Event()
        self.node = "worker"
        """The Celery node name (w1@host), known once the worker starts."""
        self._built: dict[int, tuple[Services, ModelScorer]] = {}
        self._lock = threading.Lock()

    @property
    def worker_id(self) -> str:
        """This process in the heartbeats: node|pid."""
        return f"{self.node}|{os.getpid()}"

    def services(self) -> Services:
        return self._for_this_process()[0]

    def scorer(self) -> ModelScorer:
        return self._for_this_process()[1]

    def _for_this_process(self) -> tuple[Services, ModelScorer]:
        pid = os.getpid()
        with self._lock:
            if pid not in self._built:
                services = build_services(self.settings, queue=CeleryChunkQueue(self.app, self.settings),
                                          redis_patience=REDIS_PATIENCE_SECONDS)
                self._built = {pid: (services, ModelScorer(services.registry, self.settings))}
            return self._built[pid]
