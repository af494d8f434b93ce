"""The `predq` command line: submit, status, wait, results, cancel, jobs, models."""

from __future__ import annotations

import itertools
import json
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import click

from predq_client.bodies import CONTENT_TYPES
from predq_client.cli.display import Display
from predq_client.cli.exitcodes import ExitCode
from predq_client.cli.output import emit_json, print_job, print_jobs, print_models, say
from predq_client.cli.session import Exit, Session
from predq_client.client import Client
from predq_client.writers import CsvWriter, NdjsonWriter, columns_for, output_format

F = TypeVar("F", bound=Callable[..., Any])
DEFAULT_URL = "http://localhost:8000"
STDIN_BLOCK_BYTES = 1 << 20

json_option = click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON on stdout.")
timeout_option = click.option("--timeout", type=click.FloatRange(min=0), default=None,
                              help="Seconds to wait for the job before giving up (exit 6; the job goes on).")
out_option = click.option("--out", type=click.Path(dir_okay=False, writable=True, path_type=Path),
                          help="Write the results to this file (.csv, .ndjson or .parquet), complete or not at all.")
out_format_option = click.option("--out-format", type=click.Choice(["csv", "ndjson", "parquet"]),
                                 help="The --out file's format when its extension does not say.")


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--url", envvar="PREDQ_URL", default=DEFAULT_URL, show_default=True,
              help="The service's root URL [env PREDQ_URL].")
@click.option("--api-key", envvar="PREDQ_API_KEY", default=None, help="Bearer API key [env PREDQ_API_KEY].")
@click.option("--retry-seconds", envvar="PREDQ_RETRY_SECONDS", type=click.FloatRange(min=0), default=60.0,
              show_default=True, help="How long each call retries 429/503 answers and an unreachable service.")
@click.option("--quiet", "-q", is_flag=True, help="No progress display.")
@click.version_option(package_name="predq-client", prog_name="predq")
@click.pass_context
def cli(ctx: click.Context, url: str, api_key: str | None, retry_seconds: float, quiet: bool) -> None:
    """Score batches with a predq service: upload, follow the job, download the results."""
    client = Client(url, api_key or None, retry_seconds=retry_seconds)
    ctx.call_on_close(client.close)
    ctx.obj = Session(client, Display(quiet=quiet), as_json=False)


def session_of(ctx: click.Context, as_json: bool) -> Session:
    session: Session = ctx.obj
    session.as_json = as_json
    return session


@cli.command()
@click.argument("path", required=False, type=click.Path(exists=True, dir_okay=False, readable=True, allow_dash=True,
                                                         path_type=Path))
@click.option("--uri", help="Submit by reference: the service reads this URI (s3://…, file://…) itself.")
@click.option("--output-uri", help="With --uri: where the service writes the results (Parquet files).")
@click.option("--model", "-m", help="The model's name (default: the service's default model).")
@click.option("--version", "model_version", help="The model's version (default: its latest).")
@click.option("--method", type=click.Choice(["predict", "predict_proba", "decision_function"]))
@click.option("--format", "body_format", type=click.Choice(sorted(CONTENT_TYPES)),
              help="The input's format when its extension does not say (required for stdin).")
@click.option("--metadata", help="A JSON object echoed back on the job.")
@click.option("--passthrough", help="Comma-separated input columns returned with every result.")
@click.option("--idempotency-key", help="Your own key (default: a fresh one per upload, kept across retries).")
@click.option("--dry-run", is_flag=True, help="Only validate the body; no job is made.")
@click.option("--wait", "wait_for_job", is_flag=True, help="Wait for the job, with its progress (implied by --out).")
@timeout_option
@out_option
@out_format_option
@json_option
@click.pass_context
def submit(ctx: click.Context, path: Path | None, uri: str | None, output_uri: str | None, model: str | None,
           model_version: str | None, method: str | None, body_format: str | None, metadata: str | None,
           passthrough: str | None, idempotency_key: str | None, dry_run: bool, wait_for_job: bool,
           timeout: float | None, out: Path | None, out_format: str | None, as_json: bool) -> None:
    """Submit PATH (CSV, NDJSON, Parquet or JSON; - for stdin), or --uri, as a job."""
    session = session_of(ctx, as_json)
    if (path is None) == (uri is None):
        raise click.UsageError("give either a PATH to upload or --uri, not both and not neither")
    if out is not None:
        output_format(out, out_format)  # a bad --out fails now, not after the job
    columns = [c.strip() for c in passthrough.split(",") if c.strip()] if passthrough else None
    meta = parse_metadata(metadata)
    if uri is not None:
        job = session.client.submit_uri(uri, format=body_format, output_uri=output_uri, model=model,
                                        version=model_version, method=method, metadata=meta, passthrough=columns,
                                        idempotency_key=idempotency_key)
    else:
        assert path is not None
        if model is not None and not dry_run:
            session.client.model(model)  # an unknown model is refused now, not after a long upload
        data: Any = stdin_blocks() if str(path) == "-" else path
        label = "uploading " + ("stdin" if str(path) == "-" else path.name)
        stage = session.display.stage("bytes", label)
        key = idempotency_key or uuid.uuid4().hex  # made here, so that an interrupted upload can name it
        try:
            job = session.client.submit(data, model=model, version=model_version, method=method, format=body_format,
                                        metadata=meta, passthrough=columns, idempotency_key=key,
                                        dry_run=dry_run, on_upload=lambda sent, total: stage.update(sent, total))
        except KeyboardInterrupt:
            stage.close()
            say(f"interrupted during the upload. Had the service already accepted it, the same command with "
                f"--idempotency-key {key} answers with that job instead of making another.")
            raise Exit(ExitCode.INTERRUPTED) from None
        stage.close()
        if dry_run:
            emit_json(job.raw) if as_json else print(f"valid: {job.raw.get('rows', 0):,} rows", flush=True)
            return
    if not (wait_for_job or out is not None):
        print_job(job, as_json)
        return
    if not as_json:
        say(f"job {job.job_id} accepted: {job.rows:,} rows")
    raise Exit(session.finish(session.wait(job, timeout), out, out_format))


@cli.command()
@click.argument("job_id")
@json_option
@click.pass_context
def status(ctx: click.Context, job_id: str, as_json: bool) -> None:
    """Show a job's status and progress."""
    session = session_of(ctx, as_json)
    print_job(session.client.job(job_id), as_json)


@cli.command()
@click.argument("job_id")
@timeout_option
@out_option
@out_format_option
@json_option
@click.pass_context
def wait(ctx: click.Context, job_id: str, timeout: float | None, out: Path | None, out_format: str | None,
         as_json: bool) -> None:
    """Wait for a job to end, with its progress; exit status from how it ended."""
    session = session_of(ctx, as_json)
    if out is not None:
        output_format(out, out_format)
    raise Exit(session.finish(session.wait(session.client.job(job_id), timeout), out, out_format))


@cli.command()
@click.argument("job_id")
@out_option
@click.option("--format", "out_format", type=click.Choice(["csv", "ndjson", "parquet"]),
              help="Output format (default: --out's extension, or csv on stdout).")
@click.pass_context
def results(ctx: click.Context, job_id: str, out: Path | None, out_format: str | None) -> None:
    """Download a succeeded job's results to --out, or to stdout (CSV or NDJSON)."""
    session = session_of(ctx, False)
    if out is not None:
        output_format(out, out_format)
        job = session.client.job(job_id)
        session.write(job, out, out_format)
        say(f"wrote {job.rows:,} results to {out}")
        return
    if out_format == "parquet":
        raise click.UsageError("Parquet goes to a file: add --out FILE.parquet")
    write_to_stdout(session, job_id, out_format or "csv")


@cli.command()
@click.argument("job_id")
@json_option
@click.pass_context
def cancel(ctx: click.Context, job_id: str, as_json: bool) -> None:
    """Cancel a queued or running job."""
    session = session_of(ctx, as_json)
    print_job(session.client.cancel(job_id), as_json)


@cli.command()
@click.option("--status", "job_status", type=click.Choice(["queued", "running", "succeeded", "failed", "cancelled"]))
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True)
@json_option
@click.pass_context
def jobs(ctx: click.Context, job_status: str | None, limit: int, as_json: bool) -> None:
    """List your jobs, newest first."""
    session = session_of(ctx, as_json)
    print_jobs(list(session.client.jobs(job_status, limit)), as_json)


@cli.command()
@json_option
@click.pass_context
def models(ctx: click.Context, as_json: bool) -> None:
    """List the models the service serves."""
    session = session_of(ctx, as_json)
    print_models(session.client.models(), as_json)


def write_to_stdout(session: Session, job_id: str, fmt: str) -> None:
    """Results streamed to stdout as they are downloaded (a broken download resumes at its page)."""
    job = session.client.job(job_id)
    rows = session.client.results(job_id)
    first = next(rows, None)
    if first is None:
        return
    writer = CsvWriter(sys.stdout, columns_for(job.method, job.classes, first)) if fmt == "csv" \
        else NdjsonWriter(sys.stdout)
    writer.write([first])
    for page in batched(rows, 1000):
        writer.write(page)
    sys.stdout.flush()


def batched(values: Iterator[Any], size: int) -> Iterator[list[Any]]:
    while page := list(itertools.islice(values, size)):
        yield page


def parse_metadata(raw: str | None) -> dict[str, Any] | None:
    if raw is None:
        return None
    try:
        doc = json.loads(raw)
    except ValueError as exc:
        raise click.BadParameter(f"not JSON: {exc}", param_hint="--metadata") from None
    if not isinstance(doc, dict):
        raise click.BadParameter("a JSON object, such as '{\"batch\": 42}'", param_hint="--metadata")
    return doc


def stdin_blocks() -> Iterator[bytes]:
    while block := sys.stdin.buffer.read(STDIN_BLOCK_BYTES):
        yield block
