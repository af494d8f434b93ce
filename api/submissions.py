"""Reading a POST body into a batch: its parameters first, then its rows block by block."""

from __future__ import annotations

from typing import BinaryIO, cast

import pyarrow as pa
from flask import request

from api.bodies import GuardedBody, SocketBody
from api.holds import start_upload
from shared.batch import Batch, limited_blocks
from shared.errors import PayloadTooLargeError
from shared.parsing.streams import LimitedReader
from shared.parsing.submission import JSON_TYPES, Limits, Reference, open_batch
from shared.services import Services
from shared.store import as_table


def body_reader(svc: Services) -> LimitedReader:
    """The request body as a stream that stops at MAX_BODY_BYTES and hashes what it reads."""
    settings = svc.settings
    limit = settings.max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLargeError(f"the body is {request.content_length} bytes; the limit (MAX_BODY_BYTES) "
                                   f"is {limit}")
    is_json = request.mimetype in JSON_TYPES
    if is_json and request.content_length is not None and request.content_length > settings.max_json_body_bytes:
        raise PayloadTooLargeError(f"the JSON body is {request.content_length} bytes; a JSON body is parsed whole, "
                                   f"so the limit (MAX_JSON_BODY_BYTES) is {settings.max_json_body_bytes}: send "
                                   "bigger batches as CSV, NDJSON or Parquet")
    start_upload()
    stream = SocketBody.of(request.environ.get("wsgi.input")) or cast(BinaryIO, request.stream)
    guarded = GuardedBody(stream, settings.body_min_bytes_per_second,
                          settings.body_read_timeout_seconds, settings.max_json_body_bytes if is_json else None,
                          request.environ.get("gunicorn.socket"))
    # Only an Idempotency-Key needs the body's hash; hashing a big body costs a noticeable share of its ingest.
    return LimitedReader(cast(BinaryIO, guarded), limit, hashed="Idempotency-Key" in request.headers)


def open_request_batch(svc: Services, body: LimitedReader, route_model: str | None = None) -> Batch | Reference:
    limits = Limits(max_rows=svc.settings.max_rows, callback_hosts=svc.settings.callback_hosts(),
                    max_string_bytes=svc.settings.max_string_bytes)
    return open_batch(request.content_type, body, request.args, svc.registry, limits, route_model)


def collect_rows(batch: Batch, max_rows: int) -> pa.Table:
    """Every row of a batch in memory, as the table a chunk holds: for small synchronous batches only."""
    blocks = [as_table(X, list(batch.model.features)) for X in limited_blocks(batch.blocks, max_rows)]
    return pa.concat_tables(blocks) if len(blocks) > 1 else blocks[0]


def count_rows(batch: Batch, max_rows: int) -> int:
    """Validate every row without keeping them (a dry run)."""
    return sum(len(X) for X in limited_blocks(batch.blocks, max_rows))
