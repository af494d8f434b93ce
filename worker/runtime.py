"""What one worker process talks to, built on first use in each process (sockets do not survive a fork)."""

from __future__ import annotations

import os
import threading

from celery import Celery

from shared.queue import CeleryChunkQueue, make_celery
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
        """What tasks use, in the pool process that runs them."""
        return self._for_this_process()[0]

    def background_services(self) -> Services:
        """What the sweeper thread of the main process uses: a Celery app of its own to publish with.

        The main process's app belongs to its consumer's event loop, which is not thread-safe: a resend
        published through it from another thread can leave the consumer taking no more messages."""
        return build_services(self.settings, queue=CeleryChunkQueue(make_celery(self.settings), self.settings),
                              redis_patience=REDIS_PATIENCE_SECONDS)

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
