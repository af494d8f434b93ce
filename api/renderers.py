"""Result tables to streamed bodies: CSV, NDJSON and Parquet, a chunk at a time."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from shared.errors import JobEndedError
from shared.job import Job
from shared.outputs import json_values


def ndjson_body(job: Job, chunks: Iterator[pa.Table]) -> Iterator[bytes]:
    try:
        for chunk in chunks:
            values = json_values(chunk, job.method, len(job.passthrough))
            yield b"".join(orjson.dumps(v) + b"\n" for v in values)
    except JobEndedError as ended:
        yield orjson.dumps({"error": ended.to_problem()}) + b"\n"


def csv_body(chunks: Iterator[pa.Table]) -> Iterator[str]:
    header_sent = False
    try:
        for chunk in chunks:
            out = io.StringIO()
            writer = csv.writer(out, lineterminator="\n")
            if not header_sent:
                writer.writerow(chunk.column_names)
                header_sent = True
            columns = [column.to_pylist() if column.null_count else column.to_numpy(zero_copy_only=False).tolist()
                       for column in chunk.columns]
            writer.writerows(zip(*columns, strict=True))
            yield out.getvalue()
    except JobEndedError:
        return


class _Sink:
    """A write-only file that hands over what was written since the last `take`."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.position = 0
        self.closed = False

    def write(self, data: bytes) -> int:
        self.parts.append(bytes(data))
        self.position += len(data)
        return len(data)

    def tell(self) -> int:
        return self.position

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    def take(self) -> bytes:
        data = b"".join(self.parts)
        self.parts.clear()
        return data


def parquet_body(chunks: Iterator[pa.Table]) -> Iterator[bytes]:
    """One Parquet file, a row group per chunk, sent as each is written (memory stays one chunk)."""
    sink = _Sink()
    writer: pq.ParquetWriter | None = None
    try:
        for chunk in chunks:
            if writer is None:
                writer = pq.ParquetWriter(pa.PythonFile(sink, mode="w"), chunk.schema, compression="zstd")
            writer.write_table(chunk.cast(writer.schema) if chunk.schema != writer.schema else chunk)
            yield sink.take()
    except JobEndedError:
        pass  # the file stays unfinished: a reader refuses it, as a client must notice
    else:
        if writer is not None:
            writer.close()
            yield sink.take()
