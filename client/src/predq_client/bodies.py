"""What `Client.submit` uploads: a file, bytes, a stream of bytes, a table or rows, as a replayable body.

Every body can be sent again from its first byte, so a retry after a broken connection resends it
whole under the same Idempotency-Key. A one-shot iterator is copied to a temporary file as it is sent
the first time (`SpooledIterator`), so it streams without being held in memory and still replays.
"""

from __future__ import annotations

import itertools
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from predq_client.errors import BodyError

CONTENT_TYPES = {"json": "application/json", "csv": "text/csv", "ndjson": "application/x-ndjson",
                 "parquet": "application/vnd.apache.parquet"}
EXTENSIONS = {".csv": "csv", ".ndjson": "ndjson", ".jsonl": "ndjson", ".json": "json", ".parquet": "parquet",
              ".pq": "parquet"}
BLOCK_BYTES = 1 << 20
"""Bytes read from a file per piece of a streamed upload."""

SPOOL_MEMORY_BYTES = 8 << 20
"""A one-shot stream is kept in memory up to this size, then in a temporary file."""


@dataclass
class Body:
    """A body that yields its bytes afresh on every call of `chunks`."""

    format: str
    chunks: Callable[[], Iterator[bytes]]
    length: int | None = None

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.format]


def body_of(data: Any, format: str | None = None) -> Body:
    """The body for `data`: a path, bytes, an iterator of bytes, a pyarrow/pandas table, or rows."""
    if format is not None and format not in CONTENT_TYPES:
        raise BodyError(f"format is one of {', '.join(CONTENT_TYPES)}; got {format!r}")
    if isinstance(data, str | os.PathLike):
        return file_body(Path(data), format)
    if isinstance(data, bytes | bytearray | memoryview):
        return bytes_body(bytes(data) if not isinstance(data, bytes) else data, _required(format, "bytes"))
    if _is_table(data):
        return table_body(data)
    if isinstance(data, Iterable):
        return iterable_body(data, format)
    raise BodyError(f"cannot upload a {type(data).__name__}: give a path, bytes, an iterator of bytes, "
                    "a pandas or pyarrow table, or rows")


def file_body(path: Path, format: str | None) -> Body:
    """A file streamed a block at a time; its format from `format` or its extension."""
    fmt = format or EXTENSIONS.get(path.suffix.lower())
    if fmt is None:
        raise BodyError(f"{path}: cannot tell the format from the extension {path.suffix!r}; "
                        f"name one ({', '.join(CONTENT_TYPES)})")
    length = path.stat().st_size  # fails now, not mid-upload, when the file is missing
    with path.open("rb"):
        pass  # and when it is unreadable

    def chunks() -> Iterator[bytes]:
        with path.open("rb") as file:
            yield from iter(lambda: file.read(BLOCK_BYTES), b"")

    return Body(fmt, chunks, length)


def bytes_body(raw: bytes, fmt: str) -> Body:
    """Bytes sent in pieces of BLOCK_BYTES, each a view of them: the HTTP layer sends one piece as a whole
    buffer, copying what is left of it after every partial send (an 80 MB body in one piece cost more CPU to
    upload than the service spent parsing it)."""
    view = memoryview(raw)

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(raw), BLOCK_BYTES):
            yield view[start : start + BLOCK_BYTES]  # type: ignore[misc]  # bytes-like: httpx sends it as it is

    return Body(fmt, chunks, len(raw))


def table_body(table: Any) -> Body:
    """A pyarrow Table or RecordBatch, or a pandas DataFrame, written once as Parquet to a temporary file."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise BodyError("uploading a table needs pyarrow: pip install 'predq-client[parquet]'") from None
    if type(table).__module__.startswith("pandas"):
        table = pa.Table.from_pandas(table, preserve_index=False)
    elif isinstance(table, pa.RecordBatch):
        table = pa.Table.from_batches([table])
    spool = tempfile.TemporaryFile()  # noqa: SIM115  (lives as long as the body: a retry reads it again)
    pq.write_table(table, spool)
    return spooled_body("parquet", spool)


def iterable_body(data: Iterable[Any], format: str | None) -> Body:
    """An iterable of bytes (sent as they come), or of rows (arrays or objects, sent as NDJSON lines)."""
    items = iter(data)
    first = next(items, None)
    if first is None:
        raise BodyError("there is nothing to upload: the iterable is empty")
    rest = itertools.chain([first], items)
    if isinstance(first, bytes | bytearray | memoryview):
        fmt = _required(format, "an iterator of bytes")
        pieces: Iterator[bytes] = (bytes(piece) for piece in rest)
    elif isinstance(first, list | tuple | dict):
        if format not in (None, "ndjson"):
            raise BodyError(f"rows are sent as NDJSON; format={format!r} does not apply")
        fmt = "ndjson"
        pieces = (json.dumps(row, separators=(",", ":"), allow_nan=False).encode() + b"\n" for row in rest)
    else:
        raise BodyError(f"an iterable to upload holds bytes or rows (lists or dicts), not {type(first).__name__}")
    if isinstance(data, list | tuple):  # already replayable: serialize afresh each time
        return Body(fmt, lambda: iterable_body_chunks(data, fmt), None)
    return Body(fmt, SpooledIterator(pieces).chunks, None)


def iterable_body_chunks(rows: list[Any] | tuple[Any, ...], fmt: str) -> Iterator[bytes]:
    if fmt != "ndjson":
        return (bytes(piece) for piece in rows)
    return (json.dumps(row, separators=(",", ":"), allow_nan=False).encode() + b"\n" for row in rows)


def spooled_body(fmt: str, spool: IO[bytes]) -> Body:
    length = spool.seek(0, os.SEEK_END)

    def chunks() -> Iterator[bytes]:
        spool.seek(0)
        yield from iter(lambda: spool.read(BLOCK_BYTES), b"")

    return Body(fmt, chunks, length)


class SpooledIterator:
    """A one-shot byte iterator that can be replayed: what it yields is kept in a spooled temporary file."""

    def __init__(self, source: Iterator[bytes]) -> None:
        self.source = source
        self.spool: IO[bytes] = tempfile.SpooledTemporaryFile(  # noqa: SIM115
            max_size=SPOOL_MEMORY_BYTES)  # kept until the iterator is dropped: a retry replays it
        self.spooled = 0

    def chunks(self) -> Iterator[bytes]:
        """What was already spooled, then the rest of the source (spooled as it goes)."""
        sent = 0
        while sent < self.spooled:
            self.spool.seek(sent)
            piece = self.spool.read(min(BLOCK_BYTES, self.spooled - sent))
            sent += len(piece)
            yield piece
        for piece in self.source:
            self.spool.seek(self.spooled)
            self.spool.write(piece)
            self.spooled += len(piece)
            yield piece


def _required(format: str | None, what: str) -> str:
    if format is None:
        raise BodyError(f"name the format of {what}: format= one of {', '.join(CONTENT_TYPES)}")
    return format


def _is_table(data: Any) -> bool:
    module = type(data).__module__
    return (module.startswith("pyarrow") and type(data).__name__ in ("Table", "RecordBatch")) or (
        module.startswith("pandas") and type(data).__name__ == "DataFrame")
