"""A job by reference, from its request to the job the lifecycle accepts: URIs checked, input planned."""

from __future__ import annotations

import csv
import time

from shared import logs
from shared.errors import UnprocessableError
from shared.job import Job, JobStatus, dispatched_at_acceptance
from shared.parsing.bodies import header_order
from shared.parsing.csv_typed import check_typed_header
from shared.parsing.parquet import check_columns
from shared.parsing.parquet_typed import check_typed_columns
from shared.parsing.submission import Reference, is_typed
from shared.storage import parts
from shared.storage.locations import Location, StoragePolicy, storage_reason
from shared.storage.plan import InputPlan, input_files, plan_lines, plan_parquet
from shared.store import new_job_id


def planned_job(ref: Reference, owner: str, policy: StoragePolicy, chunk_rows: int, split_rows: int,
                small_job_rows: int) -> tuple[Job, InputPlan]:
    """The job `ref` asks for and where each of its chunks lies; a 422 for a URI the caller may not use or
    the service cannot read, or an input whose columns do not fit the model."""
    source = policy.locate(ref.input_uri, owner, "input")
    output = policy.locate(ref.output_uri, owner, "output") if ref.output_uri is not None else None
    fmt, files = input_files(source, ref.input_format)
    if fmt == "parquet":
        plan = plan_parquet(source, files, chunk_rows, split_rows)
    else:
        plan = plan_lines(source, fmt, files, chunk_rows)
    _check_columns(ref, plan)
    if plan.rows == 0:
        raise UnprocessableError(f"input.uri {ref.input_uri!r} holds no rows")
    if output is not None:
        _check_empty(output)
    bulk = plan.rows > small_job_rows
    chunks = len(plan.segments)
    model = ref.model
    job = Job(job_id=new_job_id(), owner=owner, status=JobStatus.QUEUED, model=model.ref(), method=ref.method,
              rows=plan.rows, chunk_rows=plan.largest_chunk, chunks_total=chunks, rows_done=0, chunks_done=0,
              created_at=time.time(), started_at=None, finished_at=None, error=None, metadata=ref.metadata,
              classes=list(model.classes) if model.classes is not None else None, callback_url=ref.callback_url,
              bulk=bulk, chunks_dispatched=dispatched_at_acceptance(bulk, chunks),
              request_id=logs.current("request_id"), passthrough=list(ref.spec.passthrough),
              source={"uri": ref.input_uri, "format": fmt, "files": files, "header": plan.header,
                      "ignore_extra": ref.spec.ignore_extra},
              output={"uri": output.uri, "path": output.path} if output is not None else None,
              offsets=plan.offsets)
    return job, plan


def _check_columns(ref: Reference, plan: InputPlan) -> None:
    """The input's columns, as a body's are checked before its rows: from the Parquet schema or CSV header."""
    typed = is_typed(ref.model, ref.spec)
    if plan.format == "parquet" and plan.schema is not None:
        if typed:
            check_typed_columns(plan.schema, ref.spec)
        else:
            check_columns(plan.schema, ref.model.features)
    elif plan.format == "csv" and plan.header is not None:
        header = [name.strip() for name in next(csv.reader([plan.header]), [])]
        if typed:
            check_typed_header(header, ref.spec)
        else:
            header_order(header, ref.model.features)


def _check_empty(output: Location) -> None:
    try:
        taken = parts.holds_files(output.fs, output.path.rstrip("/"))
    except OSError as exc:
        raise UnprocessableError(f"output.uri {output.uri!r} cannot be read: {storage_reason(exc, output.path)}"
                                 ) from None
    if taken:
        raise UnprocessableError(f"output.uri {output.uri!r} already holds files; give each job its own output "
                                 "folder")
