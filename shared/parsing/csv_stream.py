"""CSV bodies to float64 blocks in the model's feature order, parsed by pyarrow a block at a time.

pyarrow does the fast path; when it refuses a block, Python's csv module reads
that block again to say exactly which line, row and column is wrong.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator, Sequence
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv

from shared.errors import BadRequestError
from shared.parsing.bodies import csv_to_array, header_order
from shared.parsing.rows import ErrorCollector
from shared.parsing.streams import BLOCK_BYTES, LimitedReader, line_blocks, utf8


def iter_csv(stream: BinaryIO | LimitedReader, features: Sequence[str], handles_missing: bool,
             block_bytes: int = BLOCK_BYTES) -> Iterator[np.ndarray]:
    """Validated (rows, n_features) blocks; after a bad cell, the rest is only checked, then it raises."""
    header, blocks = read_header(line_blocks(stream, block_bytes))
    order = header_order(header, features)
    errors = ErrorCollector()
    rows_before = 0
    for line, block in blocks:
        X = _parse_block(block, line, header, order, features, handles_missing, rows_before, errors)
        rows_before += len(X)
        if not errors.count:
            yield X
    errors.raise_if_any("the CSV rows")


def read_header(blocks: Iterator[tuple[int, bytes]]) -> tuple[list[str], Iterator[tuple[int, bytes]]]:
    """The header row's names, and the body's blocks after it."""
    header, first_line, first_block = _header(blocks)
    return header, _chain(first_line, first_block, blocks)


def _header(blocks: Iterator[tuple[int, bytes]]) -> tuple[list[str], int, bytes]:
    for line, block in blocks:
        found = _header_line(line, block)
        if found is not None:
            return found
        text = utf8(block, line)
        if line == 1:
            text = text.removeprefix("\ufeff")
        for offset, raw in enumerate(text.splitlines(keepends=True)):
            if raw.strip():
                header = [name.strip() for name in _header_row(raw.lstrip("\ufeff"), line + offset)]
                rest = "".join(text.splitlines(keepends=True)[offset + 1 :]).encode()
                return header, line + offset + 1, rest
    raise BadRequestError("the CSV body is empty; it starts with a header row of feature names")


def _header_row(text: str, line: int) -> list[str]:
    try:
        return next(csv.reader([text]))
    except csv.Error as exc:
        raise BadRequestError(f"CSV line {line} (the header) cannot be read: {_csv_reason(exc)}") from None


def csv_rows(block: bytes, line: int) -> Iterator[tuple[int, list[str]]]:
    """(offset of the line in the block, its fields) through Python's csv module, its errors as 400s."""
    reader = csv.reader(io.StringIO(utf8(block, line), newline=""))
    read = 0
    try:
        for offset, row in enumerate(reader):
            yield offset, row
            read = offset + 1
    except csv.Error as exc:
        raise BadRequestError(f"CSV line {line + read} cannot be read: {_csv_reason(exc)}") from None


def _csv_reason(exc: csv.Error) -> str:
    """The csv module's complaint in predq's words (its own name the module's internals)."""
    if "field larger than field limit" in str(exc):
        return f"a field is longer than {csv.field_size_limit()} characters"
    if "NUL" in str(exc):
        return "it holds a NUL byte"
    return "it is not well-formed CSV (check its quotes)"


def _header_line(line: int, block: bytes) -> tuple[list[str], int, bytes] | None:
    """The header from the block's first non-blank line, found in bytes, and the block after it; None where
    only decoding the whole block can tell (a line break that Python sees and "\n" does not): the caller
    decodes and splits it whole. The rest of the block is not decoded here: its parser refuses a byte that
    is not UTF-8, and its slow path names the line (utf8), as this did."""
    start = len(codecs.BOM_UTF8) if line == 1 and block.startswith(codecs.BOM_UTF8) else 0
    offset = 0
    while (end := block.find(b"\n", start)) >= 0:
        raw = utf8(block[start : end + 1], line + offset)
        if len(raw.splitlines()) > 1:
            return None
        if raw.strip():
            header = [name.strip() for name in _header_row(raw.lstrip("\ufeff"), line + offset)]
            return header, line + offset + 1, block[end + 1 :]
        start, offset = end + 1, offset + 1
    return None


def _chain(line: int, block: bytes, rest: Iterator[tuple[int, bytes]]) -> Iterator[tuple[int, bytes]]:
    if block and not block.isspace():  # as block.strip(), without copying the block
        yield line, block
    yield from rest


def _parse_block(block: bytes, line: int, header: list[str], order: list[int], features: Sequence[str],
                 handles_missing: bool, rows_before: int, errors: ErrorCollector) -> np.ndarray:
    try:
        table = pcsv.read_csv(io.BytesIO(block), read_options=pcsv.ReadOptions(column_names=header),
                              parse_options=pcsv.ParseOptions(newlines_in_values=False),
                              convert_options=pcsv.ConvertOptions(
                                  column_types={name: pa.float64() for name in header},
                                  null_values=[""], strings_can_be_null=False))
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return _slow_block(block, line, header, features, handles_missing, rows_before, errors)
    X = np.empty((table.num_rows, len(features)), dtype=np.float64, order="F")  # column-major: see parquet.py
    for j, position in enumerate(order):
        column = table.column(position)
        X[:, j] = column.to_numpy(zero_copy_only=False)
        if column.null_count and not handles_missing:
            _missing_errors(column, features[j], rows_before, errors)
    if not np.isfinite(X).all():
        _non_finite_errors(X, features, handles_missing, rows_before, table, order, errors)
    return X


def _missing_errors(column: pa.ChunkedArray, name: str, rows_before: int, errors: ErrorCollector) -> None:
    for i in np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False)):
        errors.add("an empty cell (a missing value) where the model cannot take missing values",
                   rows_before + int(i), name)


def _non_finite_errors(X: np.ndarray, features: Sequence[str], handles_missing: bool, rows_before: int,
                       table: pa.Table, order: list[int], errors: ErrorCollector) -> None:
    for j, position in enumerate(order):
        null = table.column(position).is_null().to_numpy(zero_copy_only=False)
        bad = ~np.isfinite(X[:, j]) & ~null
        for i in np.flatnonzero(bad):
            errors.add(f"{X[i, j]!r} is not a finite number", rows_before + int(i), features[j])


def _slow_block(block: bytes, line: int, header: list[str], features: Sequence[str], handles_missing: bool,
                rows_before: int, errors: ErrorCollector) -> np.ndarray:
    """The same block through Python's csv module: exact lines for 400s, exact cells for 422s."""
    rows: list[list[str]] = []
    for offset, row in csv_rows(block, line):
        if not row:
            continue
        if len(row) != len(header):
            number = line + offset
            raise BadRequestError(f"CSV line {number} has {len(row)} fields; the header has {len(header)}")
        rows.append(row)
    local = ErrorCollector(keep=errors.keep)
    try:
        X = csv_to_array(header, rows, features, handles_missing, local)
    finally:
        for error in local.errors:
            errors.add(error.message, rows_before + (error.row or 0), error.column)
        errors.count += local.count - len(local.errors)
    return X
