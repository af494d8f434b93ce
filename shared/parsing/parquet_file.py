"""Opening a client's Parquet body without trusting it: the footer is checked before pyarrow parses it,
pyarrow's own limits are tightened, and its errors become 400s in predq's words.

A Parquet file is read from its end: the last 8 bytes give the footer's length, the footer (Thrift) the
schema, row groups and column chunks. Each of those is a number the client wrote, so each is bounded here
before anything is allocated from it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq

from shared.batch import check_row_count
from shared.errors import BadRequestError, PayloadTooLargeError
from shared.parsing.columns import MAX_BODY_COLUMNS, check_column_count

MAGIC = b"PAR1"
"""A plain (unencrypted) Parquet file starts and ends with these bytes."""

MAX_FOOTER_BYTES = 8 << 20
"""The largest footer (the file's metadata) accepted: a 1 GiB file of a few columns needs well under 1 MiB."""

THRIFT_CONTAINER_LIMIT = 4 * MAX_BODY_COLUMNS
"""pyarrow's cap on the length of any list the footer declares (columns, row groups; default 1,000,000)."""

THRIFT_STRING_LIMIT = 1 << 20
"""pyarrow's cap on any string the footer declares (names, statistics; default 100 MB)."""

SCHEMA_DEPTH_LIMIT = 8
"""Nesting a schema may declare (predq reads flat columns; nested ones are refused by type anyway)."""

READ_BUFFER_BYTES = 1 << 20
"""Column data is read through a buffer of this size, page by page. pyarrow's default (pre_buffer) reads a
whole row group into memory first: a 385 MB single-row-group body took the process to 489 MB, against 122 MB
read this way (and no slower, the body being a local spooled file)."""

ARROW_ERRORS = (pa.ArrowException, OSError, ValueError)
"""What pyarrow raises on bytes it cannot read (ArrowInvalid is a ValueError, ArrowIOError an OSError)."""


def open_parquet(file: BinaryIO, max_rows: int | None = None) -> pq.ParquetFile:
    """The body as a ParquetFile whose footer is bounded: a 400 for what is not Parquet, 413/422 past limits."""
    footer = _footer_length(file)
    if footer > MAX_FOOTER_BYTES:
        raise PayloadTooLargeError(f"the Parquet footer (its metadata) is {footer} bytes; at most "
                                   f"{MAX_FOOTER_BYTES} are read")
    try:
        parquet = pq.ParquetFile(file, thrift_string_size_limit=THRIFT_STRING_LIMIT,
                                 thrift_container_size_limit=THRIFT_CONTAINER_LIMIT,
                                 schema_depth_limit=SCHEMA_DEPTH_LIMIT, pre_buffer=False, buffer_size=READ_BUFFER_BYTES)
        columns, rows = parquet.metadata.num_columns, parquet.metadata.num_rows
    except ARROW_ERRORS:
        raise BadRequestError("the body is not a readable Parquet file: its footer (metadata) is damaged, "
                              f"or declares more than {THRIFT_CONTAINER_LIMIT} columns or row groups") from None
    check_column_count(columns, "the Parquet schema")
    if max_rows is not None:
        check_row_count(rows, max_rows)  # what the footer claims: a lie only lets the rows be counted later
    return parquet


def _footer_length(file: BinaryIO) -> int:
    size = file.seek(0, 2)
    if size < 2 * len(MAGIC) + 4:
        raise BadRequestError(f"the body is not a Parquet file: it is {size} bytes, too short for one")
    file.seek(0)
    head = file.read(len(MAGIC))
    file.seek(size - 8)
    tail = file.read(8)
    file.seek(0)
    if head != MAGIC or tail[4:] != MAGIC:
        raise BadRequestError("the body is not a Parquet file: it does not start and end with PAR1 "
                              "(encrypted Parquet is not accepted)")
    footer = int.from_bytes(tail[:4], "little")
    if footer > size - 2 * len(MAGIC) - 4:
        raise BadRequestError(f"the body is not a Parquet file: its footer claims {footer} bytes of a "
                              f"{size}-byte file (a truncated or damaged file)")
    return footer


def read_batches(parquet: pq.ParquetFile, columns: list[str], batch_rows: int) -> Iterator[pa.RecordBatch]:
    """The file's record batches; a page pyarrow cannot read is a 400, not pyarrow's message."""
    batches = parquet.iter_batches(batch_size=batch_rows, columns=columns)
    while True:
        try:
            batch = next(batches)
        except StopIteration:
            return
        except ARROW_ERRORS:
            raise BadRequestError("the Parquet file is damaged: a column's data cannot be read "
                                  "(a truncated or corrupted page)") from None
        yield batch
