"""What the command prints on stdout (results, JSON) and stderr (messages, problems)."""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO

from rich.console import Console
from rich.table import Table

from predq_client.errors import Problem, ProblemError
from predq_client.resources import Job

MAX_ERROR_ROWS = 100
"""The service lists at most this many errors; the table shows them all."""


def emit_json(doc: Any, stream: TextIO | None = None) -> None:
    print(json.dumps(doc, indent=2, sort_keys=False), file=stream or sys.stdout, flush=True)


def say(message: str) -> None:
    """A message for the person at the terminal (stderr, so stdout stays clean for data)."""
    print(message, file=sys.stderr, flush=True)


def job_line(job: Job) -> str:
    p = job.progress
    model = job.model.get("name", "?")
    version = job.model.get("version", "?")
    rate = f", {p.rows_per_second:,.0f} rows/s" if p.rows_per_second is not None else ""
    return f"job {job.job_id} {job.status}: {p.rows_done:,}/{p.rows_total:,} rows, model {model} v{version}{rate}"


def print_job(job: Job, as_json: bool) -> None:
    if as_json:
        emit_json(job.raw)
        return
    print(job_line(job), flush=True)
    if job.error is not None:
        print_problem(job.error, sys.stdout)


def print_problem(problem: Problem, stream: TextIO | None = None) -> None:
    """The problem's title and detail, then its errors[] as a table of row, column and message."""
    out = stream or sys.stderr
    print(f"{problem.status} {problem.title}: {problem.detail}".rstrip(": "), file=out, flush=True)
    if not problem.errors:
        return
    table = Table("row", "column", "message", box=None, pad_edge=False)
    for error in problem.errors[:MAX_ERROR_ROWS]:
        table.add_row("" if error.row is None else str(error.row), error.column or "", error.message)
    print_table(table, out)


def report_refusal(error: ProblemError, as_json: bool) -> None:
    if as_json:
        emit_json(error.problem.raw or {"status": error.status, "title": error.problem.title,
                                        "detail": error.problem.detail})
    print_problem(error.problem)


def print_jobs(jobs: list[Job], as_json: bool) -> None:
    if as_json:
        emit_json([job.raw for job in jobs])
        return
    table = Table("job_id", "status", "model", "rows", "done", "created_at", box=None, pad_edge=False)
    for job in jobs:
        table.add_row(job.job_id, job.status, f"{job.model.get('name', '?')} v{job.model.get('version', '?')}",
                      f"{job.rows:,}", f"{job.progress.rows_done:,}", str(job.raw.get("created_at", "")))
    print_table(table, sys.stdout)


def print_models(models: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        emit_json(models)
        return
    table = Table("name", "version", "task", "features", "methods", box=None, pad_edge=False)
    for model in models:
        name = model["name"] + (" (default)" if model.get("default") else "")
        features = ", ".join(model.get("features", []))
        table.add_row(name, str(model.get("version")), str(model.get("task", "")),
                      features if len(features) <= 60 else features[:57] + "…", ", ".join(model.get("methods", [])))
    print_table(table, sys.stdout)


def print_table(table: Table, stream: TextIO) -> None:
    """The table without the padding rich puts after the last column (it lands in logs and diffs)."""
    console = console_for(stream)
    with console.capture() as captured:
        console.print(table)
    stream.write("".join(line.rstrip() + "\n" for line in captured.get().splitlines()))
    stream.flush()


def console_for(stream: TextIO) -> Console:
    """A rich console on `stream`: colours only on a terminal, and never wrapped narrower than a table needs."""
    terminal = stream.isatty()
    return Console(file=stream, force_terminal=terminal, no_color=not terminal, width=None if terminal else 200,
                   highlight=False)
