"""The service's resources as typed, read-only objects (each keeps the whole JSON as `raw`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from predq_client.errors import Problem, UnexpectedAnswerError

TERMINAL = frozenset({"succeeded", "failed", "cancelled"})
"""Statuses a job never leaves."""


@dataclass(frozen=True)
class Progress:
    rows_done: int = 0
    rows_total: int = 0
    chunks_done: int = 0
    chunks_total: int = 0
    rows_per_second: float | None = None
    """Null until the first chunk is scored."""
    eta_seconds: float | None = None
    """Null until the first chunk is scored; 0 once the job is terminal."""

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Progress:
        return cls(int(doc.get("rows_done", 0)), int(doc.get("rows_total", 0)), int(doc.get("chunks_done", 0)),
                   int(doc.get("chunks_total", 0)), doc.get("rows_per_second"), doc.get("eta_seconds"))


@dataclass(frozen=True)
class Job:
    """A job resource: `GET /jobs/<id>`."""

    job_id: str
    status: str
    rows: int
    method: str
    progress: Progress
    model: dict[str, Any] = field(default_factory=dict)
    error: Problem | None = None
    classes: list[Any] | None = None
    results: list[Any] | None = None
    """Inline results of a small succeeded job; None otherwise (page through `Client.results`)."""
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    @classmethod
    def from_json(cls, doc: Any) -> Job:
        try:
            return cls._from_json(doc)
        except (KeyError, TypeError, ValueError, AttributeError):
            raise UnexpectedAnswerError(f"the service answered something that is not a job resource: "
                                        f"{str(doc)[:200]}") from None

    @classmethod
    def _from_json(cls, doc: dict[str, Any]) -> Job:
        error = doc.get("error")
        return cls(job_id=str(doc["job_id"]), status=str(doc["status"]), rows=int(doc.get("rows", 0)),
                   method=str(doc.get("method", "predict")), progress=Progress.from_json(doc.get("progress") or {}),
                   model=dict(doc.get("model") or {}), classes=doc.get("classes"), results=doc.get("results"),
                   error=Problem.from_json(error, int(error.get("status", 500))) if isinstance(error, dict) else None,
                   raw=doc)
