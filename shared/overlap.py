"""A body's submission while it is read: known to Redis as in progress, and scored as it arrives once big."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from shared import logs
from shared.batch import Batch
from shared.ingest import Ingests
from shared.job import Job, JobStatus, dispatched_at_acceptance
from shared.scheduler import FairScheduler
from shared.store import ChunkWriter


@dataclass(frozen=True)
class OverlapContext:
    """What an overlapped submission uses of the lifecycle's parts."""

    ingests: Ingests
    scheduler: FairScheduler
    dispatch: Callable[[], None]
    """Tops the bulk lane up; never raises (a failed dispatch is repeated by the sweeper)."""
    small_job_rows: int


class Overlap:
    """One submission while its body is read: known to Redis as in progress, and once it passes
    SMALL_JOB_ROWS rows, scored as it arrives under a hidden record that its acceptance makes the job."""

    def __init__(self, context: OverlapContext, owner: str, batch: Batch, job_id: str, chunk_rows: int) -> None:
        self.context = context
        self.chunk_rows = chunk_rows
        self.owner = owner
        self.batch = batch
        self.job_id = job_id
        self.created_at = time.time()
        self.writer: ChunkWriter | None = None
        self.started = False
        self.ready = 0

    def job(self, rows: int, chunks: int) -> Job:
        """The job as its acceptance records it."""
        classes = list(self.batch.model.classes) if self.batch.model.classes is not None else None
        bulk = self.started or rows > self.context.small_job_rows
        return Job(job_id=self.job_id, owner=self.owner, status=JobStatus.QUEUED, model=self.batch.model.ref(),
                   method=self.batch.method, rows=rows, chunk_rows=self.chunk_rows,
                   chunks_total=chunks, rows_done=0, chunks_done=0, created_at=self.created_at, started_at=None,
                   finished_at=None, error=None, metadata=self.batch.metadata, classes=classes,
                   callback_url=self.batch.callback_url, bulk=bulk,
                   chunks_dispatched=dispatched_at_acceptance(bulk, chunks), request_id=logs.current("request_id"),
                   passthrough=list(self.batch.passthrough))

    def storing(self, chunks: int) -> None:
        """Announced before the write, so a process that dies mid-write leaves nothing the sweeper misses."""
        self.context.ingests.stored(self.job_id, chunks)

    def stored(self, chunks: int) -> None:
        rows = self.writer.rows if self.writer is not None else 0
        if not self.started and rows <= self.context.small_job_rows:
            return
        scheduler = self.context.scheduler
        if not self.started:
            hidden = self.job(rows, chunks)
            self.context.ingests.open_hidden(hidden, chunks)
            scheduler.add(hidden, chunks)
            self.started = True
        else:
            scheduler.more_ready(self.job_id, chunks - self.ready)
        self.ready = chunks
        self.context.dispatch()
