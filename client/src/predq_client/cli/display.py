"""Progress on stderr: rich progress bars on a terminal, plain periodic lines anywhere else.

Three stages, each its own display: the upload (bytes), the job (rows, rows/s and ETA from the job
resource) and the download (rows written).
"""

from __future__ import annotations

import sys
import time
from typing import Protocol, TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from predq_client.resources import Job

PLAIN_EVERY_SECONDS = 5.0
"""Plain output prints a progress line at most this often (and always the first and the last)."""


class Stage(Protocol):
    def update(self, done: int, total: int | None, job: Job | None = None) -> None: ...

    def close(self) -> None: ...


def size_text(n_bytes: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n_bytes >= scale:
            return f"{n_bytes / scale:,.1f} {unit}"
    return f"{n_bytes} bytes"


def rate_text(job: Job | None) -> str:
    rate = job.progress.rows_per_second if job else None
    return f"{rate:,.0f} rows/s" if rate is not None else "– rows/s"


def eta_text(job: Job | None) -> str:
    eta = job.progress.eta_seconds if job else None
    if eta is None:
        return "ETA –"
    minutes, seconds = divmod(round(eta), 60)
    return f"ETA {minutes // 60}:{minutes % 60:02d}:{seconds:02d}"


class RichStage:
    """One rich progress bar; `kind` is bytes (upload), job or rows (download)."""

    def __init__(self, console: Console, kind: str, label: str) -> None:
        columns: list[TextColumn | BarColumn | DownloadColumn | TransferSpeedColumn | TimeRemainingColumn |
                      MofNCompleteColumn] = [TextColumn("{task.description}"), BarColumn()]
        if kind == "bytes":
            columns += [DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn()]
        elif kind == "job":
            columns += [MofNCompleteColumn(), TextColumn("rows {task.fields[status]}"),
                        TextColumn("{task.fields[rate]}"), TextColumn("{task.fields[eta]}")]
        else:
            columns += [MofNCompleteColumn(), TextColumn("rows")]
        self.progress = Progress(*columns, console=console, transient=False)
        self.task: TaskID = self.progress.add_task(label, total=None, status="", rate="", eta="")
        self.progress.start()

    def update(self, done: int, total: int | None, job: Job | None = None) -> None:
        if job is None:
            self.progress.update(self.task, completed=done, total=total)
        else:
            self.progress.update(self.task, completed=done, total=total, status=job.status, rate=rate_text(job),
                                 eta=eta_text(job))

    def close(self) -> None:
        self.progress.refresh()
        self.progress.stop()


class PlainStage:
    """Progress as a plain line now and then: for logs, pipes and CI."""

    def __init__(self, stream: TextIO, kind: str, label: str) -> None:
        self.stream, self.kind, self.label = stream, kind, label
        self.last_line = ""
        self.printed_at: float | None = None
        self.pending = ""

    def update(self, done: int, total: int | None, job: Job | None = None) -> None:
        self.pending = self._line(done, total, job)
        now = time.monotonic()
        if self.printed_at is None or now - self.printed_at >= PLAIN_EVERY_SECONDS:
            self._print(now)

    def close(self) -> None:
        if self.pending and self.pending != self.last_line:
            self._print(time.monotonic())

    def _print(self, now: float) -> None:
        print(self.pending, file=self.stream, flush=True)
        self.last_line, self.printed_at = self.pending, now

    def _line(self, done: int, total: int | None, job: Job | None) -> str:
        if self.kind == "bytes":
            of = f" of {size_text(total)} ({100 * done / max(total, 1):.0f}%)" if total else ""
            return f"{self.label}: {size_text(done)}{of}"
        of = f"/{total:,}" if total is not None else ""
        if job is not None:
            return f"{self.label}: {job.status}, {done:,}{of} rows, {rate_text(job)}, {eta_text(job)}"
        return f"{self.label}: {done:,}{of} rows"


class Display:
    """Makes the stages: rich ones when stderr is a terminal, plain ones otherwise."""

    def __init__(self, stream: TextIO | None = None, quiet: bool = False) -> None:
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.terminal = self.stream.isatty()
        self.console = Console(file=self.stream, force_terminal=self.terminal) if self.terminal else None

    def stage(self, kind: str, label: str) -> Stage:
        if self.quiet:
            return SilentStage()
        if self.console is not None:
            return RichStage(self.console, kind, label)
        return PlainStage(self.stream, kind, label)


class SilentStage:
    def update(self, done: int, total: int | None, job: Job | None = None) -> None:
        pass

    def close(self) -> None:
        pass
