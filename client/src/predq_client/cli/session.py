"""The steps the commands share: wait with a progress bar (Ctrl-C asks to cancel), write results."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import click

from predq_client.cli.display import Display
from predq_client.cli.exitcodes import ExitCode, for_job_status
from predq_client.cli.output import print_job, say
from predq_client.client import Client
from predq_client.errors import ConflictError
from predq_client.resources import Job


class Exit(Exception):
    """Stop the command with `code`; the message, if any, has been printed."""

    def __init__(self, code: ExitCode) -> None:
        super().__init__(code.name)
        self.code = code


@dataclass
class Session:
    client: Client
    display: Display
    as_json: bool

    def wait(self, job: Job, timeout: float | None) -> Job:
        """Wait for the job with its progress bar; Ctrl-C asks whether to cancel it."""
        stage = self.display.stage("job", f"job {job.job_id[:8]}")
        try:
            stage.update(job.progress.rows_done, job.progress.rows_total or None, job)
            final = self.client.wait(job.job_id, timeout=timeout, on_progress=lambda current: stage.update(
                current.progress.rows_done, current.progress.rows_total or None, current))
        except KeyboardInterrupt:
            stage.close()
            raise Exit(self.interrupted(job.job_id)) from None
        stage.close()
        return final

    def interrupted(self, job_id: str) -> ExitCode:
        """Ask (on a terminal) whether to cancel the job; the exit code for what was done."""
        if not sys.stdin.isatty():
            say(f"interrupted; job {job_id} goes on (`predq wait {job_id}` picks it up)")
            return ExitCode.INTERRUPTED
        try:
            cancel = click.confirm(f"\nCancel job {job_id}?", default=False, err=True)
        except (KeyboardInterrupt, click.Abort):
            cancel = False
        if not cancel:
            say(f"job {job_id} goes on (`predq wait {job_id}` picks it up)")
            return ExitCode.INTERRUPTED
        try:
            job = self.client.cancel(job_id)
        except ConflictError as exc:  # it ended while we asked
            say(f"job {job_id} had already ended: {exc.problem.detail}")
            return for_job_status(self.client.job(job_id).status)
        say(f"job {job_id} cancelled")
        return for_job_status(job.status)

    def finish(self, job: Job, out: Path | None, out_format: str | None) -> ExitCode:
        """Report the ended job, write its results when it succeeded and `out` is given; the exit code."""
        if job.status == "succeeded" and out is not None:
            self.write(job, out, out_format)
        print_job(job, self.as_json)  # a failed job's problem (the rows it could not score) comes with it
        if job.status == "succeeded" and out is not None and not self.as_json:
            say(f"wrote {job.rows:,} results to {out}")
        return for_job_status(job.status)

    def write(self, job: Job, out: Path, out_format: str | None) -> None:
        stage = self.display.stage("rows", f"writing {out.name}")
        try:
            self.client.write_results(job.job_id, out, format=out_format,
                                      on_rows=lambda done, total: stage.update(done, total))
        finally:
            stage.close()
