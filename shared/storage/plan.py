"""A by-reference input cut into chunks from its metadata: Parquet footers, or the line ends of CSV and NDJSON.

Parquet chunks are runs of whole row groups (a group bigger than a chunk is split), so a worker reads only the
groups of its chunk. CSV and NDJSON chunks are byte ranges that start and end on line boundaries, found by one
pass over the bytes that counts line ends and parses nothing; a CSV field may therefore not hold a line break.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs

from shared.errors import PredqError, UnprocessableError
from shared.parsing.parquet_file import open_parquet
from shared.storage.locations import Location, storage_reason

FORMATS = {"parquet": (".parquet", ".pq"), "csv": (".csv",), "ndjson": (".ndjson", ".jsonl")}
SCAN_BYTES = 16 << 20
MAX_FILES = 10_000


@dataclass
class InputPlan:
    format: str
    files: list[str]
    header: str | None = None
    """A CSV input's header line: each chunk's bytes are parsed after it."""
    offsets: list[int] = field(default_factory=lambda: [0])
    """Each chunk's first row, then the row count."""
    segments: list[dict[str, Any]] = field(default_factory=list)
    """Per chunk: file index `f` and either row groups `g` (first, last) with `skip` and `take` rows, or bytes
    `b` (start, stop)."""
    schema: pa.Schema | None = None
    """A Parquet input's schema, for the column checks made before the job is accepted."""

    @property
    def rows(self) -> int:
        return self.offsets[-1]

    @property
    def largest_chunk(self) -> int:
        """The job's `chunk_rows`: its chunks follow the input's row groups, so they may differ."""
        return max((b - a for a, b in zip(self.offsets, self.offsets[1:], strict=False)), default=1)

    def add(self, segment: dict[str, Any], rows: int) -> None:
        self.segments.append(segment)
        self.offsets.append(self.offsets[-1] + rows)


def input_files(location: Location, fmt: str | None) -> tuple[str, list[str]]:
    """The input's format and its files (one file, or the files of a folder or prefix, by name)."""
    info = _info(location)
    if info.type == pafs.FileType.File:
        files = [location.path]
    else:
        selector = pafs.FileSelector(location.path.rstrip("/"), recursive=False)
        try:
            found = location.fs.get_file_info(selector)
        except OSError as exc:
            raise unreadable(location, exc) from None
        files = sorted(f.path for f in found if f.type == pafs.FileType.File
                       and not posixpath.basename(f.path).startswith(("_", ".")))
        if fmt is not None:
            files = [f for f in files if f.lower().endswith(FORMATS[fmt])]
    if not files:
        raise UnprocessableError(f"input.uri {location.uri!r} names no file")
    if len(files) > MAX_FILES:
        raise UnprocessableError(f"input.uri {location.uri!r} holds more than {MAX_FILES} files")
    return fmt or _inferred_format(location, files), files


def _info(location: Location) -> pafs.FileInfo:
    try:
        info = location.fs.get_file_info(location.path.rstrip("/") or location.path)
    except OSError as exc:
        raise unreadable(location, exc) from None
    if info.type == pafs.FileType.NotFound:
        raise UnprocessableError(f"input.uri {location.uri!r} cannot be read: no such file or folder")
    return info


def _inferred_format(location: Location, files: list[str]) -> str:
    kinds = {name for f in files for name, ends in FORMATS.items() if f.lower().endswith(ends)}
    if len(kinds) != 1 or not all(f.lower().endswith(tuple(e for ends in FORMATS.values() for e in ends))
                                  for f in files):
        raise UnprocessableError(f"input.uri {location.uri!r}: give input.format (parquet, csv or ndjson); it "
                                 "cannot be told from the file names")
    return kinds.pop()


def unreadable(location: Location, exc: BaseException) -> UnprocessableError:
    """The storage's reason, without the host's paths or credentials (the first line, paths cut off)."""
    return UnprocessableError(f"input.uri {location.uri!r} cannot be read: {storage_reason(exc, location.path)}")


def plan_parquet(location: Location, files: list[str], chunk_rows: int, split_rows: int) -> InputPlan:
    """Chunks of whole row groups, small groups packed up to `chunk_rows`; only a group over `split_rows` is
    split (each of its parts then reads the whole group: Parquet cannot start a read inside one)."""
    plan = InputPlan("parquet", files)
    for index, path in enumerate(files):
        try:
            with location.fs.open_input_file(path) as handle:
                meta = open_parquet(handle).metadata  # the footer bounded before pyarrow parses it
                schema = meta.schema.to_arrow_schema()
        except PredqError as exc:
            raise UnprocessableError(f"input.uri {location.uri!r} cannot be read: {exc.detail}") from None
        except (OSError, pa.ArrowException) as exc:
            raise unreadable(location, exc) from None
        if plan.schema is None:
            plan.schema = schema
        elif not schema.equals(plan.schema):
            raise UnprocessableError(f"input.uri {location.uri!r}: its files have different columns")
        groups = [meta.row_group(g).num_rows for g in range(meta.num_row_groups)]
        for segment, rows in _group_runs(index, groups, chunk_rows, split_rows):
            plan.add(segment, rows)
    return plan


def _group_runs(file: int, groups: list[int], chunk_rows: int, split_rows: int,
                ) -> Iterator[tuple[dict[str, Any], int]]:
    first, rows = 0, 0
    for g, n in enumerate(groups):
        if rows and rows + n > chunk_rows:
            yield {"f": file, "g": [first, g - 1], "skip": 0, "take": rows}, rows
            rows = 0
        if n > split_rows:
            parts = -(-n // split_rows)
            size = -(-n // parts)
            for skip in range(0, n, size):
                yield {"f": file, "g": [g, g], "skip": skip, "take": min(size, n - skip)}, min(size, n - skip)
            continue
        if not rows:
            first = g
        rows += n
    if rows:
        yield {"f": file, "g": [first, len(groups) - 1], "skip": 0, "take": rows}, rows


def plan_lines(location: Location, fmt: str, files: list[str], chunk_rows: int) -> InputPlan:
    plan = InputPlan(fmt, files)
    for index, path in enumerate(files):
        try:
            with location.fs.open_input_stream(path) as stream:
                header, cuts = line_cuts(stream, chunk_rows, fmt == "csv")
        except OSError as exc:
            raise unreadable(location, exc) from None
        if fmt == "csv":
            if plan.header is None:
                plan.header = header
            elif header != plan.header:
                raise UnprocessableError(f"input.uri {location.uri!r}: its CSV files have different headers")
        for start, stop, rows in cuts:
            plan.add({"f": index, "b": [start, stop]}, rows)
    return plan


def line_cuts(stream: Any, chunk_rows: int, has_header: bool) -> tuple[str | None, list[tuple[int, int, int]]]:
    """The header line (CSV), then (start, stop, rows) byte ranges of `chunk_rows` non-blank lines each."""
    counter = _LineCounter(chunk_rows)
    header: str | None = None
    pending = b""
    while block := stream.read(SCAN_BYTES):
        if has_header and header is None:
            pending += block
            end = pending.find(b"\n")
            if end < 0:
                continue
            header = pending[:end].rstrip(b"\r").decode("utf-8", errors="replace").removeprefix("\ufeff")
            counter.skip(end + 1)
            block = pending[end + 1 :]
        counter.feed(block)
    if has_header and header is None:
        header = pending.rstrip(b"\r\n").decode("utf-8", errors="replace").removeprefix("\ufeff")
        counter.skip(len(pending))
    return header, counter.close()


class _LineCounter:
    """Counts non-blank lines across blocks, vectorised, and cuts after every `chunk_rows` of them."""

    def __init__(self, chunk_rows: int) -> None:
        self.chunk_rows = chunk_rows
        self.position = 0
        self.line_start = 0
        self.chunk_start = 0
        self.rows = 0
        self.last_byte = 0
        self.cuts: list[tuple[int, int, int]] = []

    def skip(self, n: int) -> None:
        self.position += n
        self.line_start = self.chunk_start = self.position

    def feed(self, block: bytes) -> None:
        data = np.frombuffer(block, dtype=np.uint8)
        ends = np.flatnonzero(data == 10)
        if len(ends):
            starts = np.concatenate(([self.line_start - self.position], ends[:-1] + 1))
            lengths = ends - starts
            before = np.where(ends > 0, data[np.maximum(ends - 1, 0)], self.last_byte)
            blank = (lengths == 0) | ((lengths == 1) & (before == 13))
            line_ends = ends[~blank] + self.position
            need = self.chunk_rows - self.rows
            for end in line_ends[need - 1 :: self.chunk_rows]:
                self._cut(int(end) + 1, self.chunk_rows)
            self.rows = (self.rows + len(line_ends)) - (len(line_ends[need - 1 :: self.chunk_rows]) * self.chunk_rows)
            self.line_start = int(ends[-1]) + 1 + self.position
        if len(data):
            self.last_byte = int(data[-1])
        self.position += len(block)

    def _cut(self, stop: int, rows: int) -> None:
        self.cuts.append((self.chunk_start, stop, rows))
        self.chunk_start = stop

    def close(self) -> list[tuple[int, int, int]]:
        tail = self.position - self.line_start
        if tail > 1 or (tail == 1 and self.last_byte not in (13, 32)):
            self.rows += 1
        if self.rows:
            self._cut(self.position, self.rows)
        return self.cuts
