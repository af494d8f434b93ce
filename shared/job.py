"""A job as the store keeps it: status, progress and the artifact that scores it."""

from __future__ import annotations

import bisect
import enum
from dataclasses import dataclass, field
from typing import Any

import orjson


class JobStatus(str, enum.Enum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED})


@dataclass(frozen=True)
class Job:
    """One job's record; times are Unix seconds."""

    job_id: str
    owner: str
    status: JobStatus
    model: dict[str, str]
    method: str
    rows: int
    chunk_rows: int
    chunks_total: int
    rows_done: int
    chunks_done: int
    created_at: float
    started_at: float | None
    finished_at: float | None
    error: dict[str, Any] | None
    metadata: dict[str, Any]
    classes: list[Any] | None
    callback_url: str | None = None
    callbacks: list[dict[str, Any]] = field(default_factory=list)
    bulk: bool = False
    """In the bulk lane: its chunks are handed to workers a few at a time, in fair order (shared.scheduler)."""
    chunks_dispatched: int = 0
    """Chunks handed to a lane so far; the others wait in the scheduler, and no sweeper calls them lost
    (`dispatched_at_acceptance`)."""
    request_id: str | None = None
    """The X-Request-ID of the submission, carried into the job's chunk logs."""
    passthrough: list[str] = field(default_factory=list)
    source: dict[str, Any] | None = None
    """A job by reference: its input in storage (`uri`, `format`, `files`, a CSV `header`); None for a body."""
    output: dict[str, Any] | None = None
    """Where a job by reference writes its results (`uri`, and `path` as its filesystem takes it)."""
    offsets: list[int] | None = None
    """Each chunk's first row, then the row count, where chunks differ in size (a Parquet file's row groups)."""

    @classmethod
    def from_hash(cls, fields: dict[bytes, bytes]) -> Job:
        """The job a Redis hash holds (HGETALL's answer)."""
        h = {k.decode(): v for k, v in fields.items()}

        def opt_float(name: str) -> float | None:
            return float(h[name]) if h.get(name) else None

        def opt_json(name: str) -> Any:
            return orjson.loads(h[name]) if h.get(name) else None

        return cls(job_id=h["job_id"].decode(), owner=h["owner"].decode(), status=JobStatus(h["status"].decode()),
                   model=orjson.loads(h["model"]), method=h["method"].decode(), rows=int(h["rows"]),
                   chunk_rows=int(h["chunk_rows"]), chunks_total=int(h["chunks_total"]),
                   rows_done=int(h.get("rows_done", 0)), chunks_done=int(h.get("chunks_done", 0)),
                   created_at=float(h["created_at"]), started_at=opt_float("started_at"),
                   finished_at=opt_float("finished_at"), error=opt_json("error"),
                   metadata=opt_json("metadata") or {}, classes=opt_json("classes"),
                   callback_url=h["callback_url"].decode() if h.get("callback_url") else None,
                   callbacks=opt_json("callbacks") or [], bulk=h.get("lane") == b"bulk",
                   chunks_dispatched=int(h.get("dispatched", 0)),
                   request_id=h["request_id"].decode() if h.get("request_id") else None,
                   passthrough=opt_json("passthrough") or [], source=opt_json("source"),
                   output=opt_json("output"), offsets=opt_json("offsets"))

    def to_hash(self) -> dict[str, str | bytes | int | float]:
        """The fields a new job's hash starts with."""
        out: dict[str, str | bytes | int | float] = {
            "job_id": self.job_id, "owner": self.owner, "status": self.status.value,
            "model": orjson.dumps(self.model), "method": self.method, "rows": self.rows,
            "chunk_rows": self.chunk_rows, "chunks_total": self.chunks_total, "rows_done": 0,
            "chunks_done": 0, "created_at": repr(self.created_at), "metadata": orjson.dumps(self.metadata),
            "lane": "bulk" if self.bulk else "small", "dispatched": self.chunks_dispatched,
        }
        if self.classes is not None:
            out["classes"] = orjson.dumps(self.classes)
        if self.callback_url:
            out["callback_url"] = self.callback_url
        if self.passthrough:
            out["passthrough"] = orjson.dumps(self.passthrough)
        if self.request_id:
            out["request_id"] = self.request_id
        for name in ("source", "output", "offsets"):
            if getattr(self, name) is not None:
                out[name] = orjson.dumps(getattr(self, name))
        return out

    def chunk_bounds(self, index: int) -> tuple[int, int]:
        """The [start, stop) rows of chunk `index`."""
        if self.offsets is not None:
            return self.offsets[index], self.offsets[index + 1]
        start = index * self.chunk_rows
        return start, min(start + self.chunk_rows, self.rows)

    def chunk_of(self, row: int) -> int:
        """The chunk that holds `row`."""
        if self.offsets is not None:
            return bisect.bisect_right(self.offsets, row) - 1
        return row // self.chunk_rows

    def rows_per_second(self, now: float) -> float | None:
        if not self.chunks_done or self.started_at is None:
            return None
        elapsed = max((self.finished_at or now) - self.started_at, 1e-6)
        return self.rows_done / elapsed

    def eta_seconds(self, now: float) -> float | None:
        if self.status.terminal:
            return 0.0
        rate = self.rows_per_second(now)
        if rate is None:
            return None
        return (self.rows - self.rows_done) / rate


def dispatched_at_acceptance(bulk: bool, chunks: int) -> int:
    """A small job's chunks all go to the small lane as it is accepted; a bulk job's wait in the fair scheduler."""
    return 0 if bulk else chunks
