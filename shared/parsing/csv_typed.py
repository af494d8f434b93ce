"""CSV bodies for typed schemas (and pass-through columns) to Arrow tables, a block at a time.

pyarrow reads each block with the schema's types; when it refuses one, Python's csv module
reads that block again to name every bad cell.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Iterator
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.csv as pcsv

from shared.errors import BadRequestError
from shared.parsing.bodies import check_header
from shared.parsing.columns import TYPE_PHRASES, RowSpec, check_table
from shared.parsing.csv_stream import csv_rows, read_header
from shared.parsing.rows import ErrorCollector
from shared.parsing.streams import BLOCK_BYTES, LimitedReader, line_blocks
from shared.parsing.uniform import Uniform
from shared.schema import Column

TRUE = ("true", "True", "TRUE", "1")
FALSE = ("false", "False", "FALSE", "0")
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|[+-]?(?:inf|infinity|nan)", re.IGNORECASE)
_INTEGER = re.compile(r"[+-]?\d+(?:\.0*)?")
_INT64_DIGITS = 19
"""A 64-bit integer has at most this many digits."""


def iter_typed_csv(stream: BinaryIO | LimitedReader, spec: RowSpec,
                   block_bytes: int = BLOCK_BYTES) -> Iterator[pa.Table]:
    """Validated tables (schema columns, then pass-through as text); after a bad cell, the rest is checked."""
    header, blocks = read_header(line_blocks(stream, block_bytes))
    check_typed_header(header, spec)
    wanted = spec.columns
    errors = ErrorCollector()
    uniform = Uniform(errors)
    rows_before = 0
    for line, block in blocks:
        table = _parse_block(block, line, header, wanted, spec, rows_before, errors)
        rows_before += table.num_rows
        if not errors.count:
            yield uniform.fit(table)
    errors.raise_if_any("the CSV rows")


def check_typed_header(header: list[str], spec: RowSpec) -> None:
    check_header(header)
    errors = ErrorCollector()
    for name in header:
        why = spec.unknown_column(name)
        if why is not None:
            errors.add(why, column=name)
    present = set(header)
    for name in spec.columns:
        if name not in present:
            errors.add("missing from the CSV header", column=name)
    errors.raise_if_any("the CSV header")


def _parse_block(block: bytes, line: int, header: list[str], wanted: list[str], spec: RowSpec, rows_before: int,
                 errors: ErrorCollector) -> pa.Table:
    types = {c.name: c.arrow_type for c in spec.schema} | {name: pa.string() for name in spec.passthrough}
    try:
        table = pcsv.read_csv(io.BytesIO(block), read_options=pcsv.ReadOptions(column_names=header),
                              parse_options=pcsv.ParseOptions(newlines_in_values=False),
                              convert_options=pcsv.ConvertOptions(
                                  column_types=types, include_columns=wanted, null_values=[""],
                                  strings_can_be_null=True, true_values=list(TRUE), false_values=list(FALSE)))
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return _slow_block(block, line, header, wanted, spec, rows_before, errors)
    table = table.select(wanted)
    check_table(table, spec, rows_before, errors)
    return table


def _slow_block(block: bytes, line: int, header: list[str], wanted: list[str], spec: RowSpec, rows_before: int,
                errors: ErrorCollector) -> pa.Table:
    """The block through Python's csv module: exact lines for 400s, exact cells for 422s."""
    where = {name: i for i, name in enumerate(header)}
    positions = [where[name] for name in wanted]
    cells: list[list[Any]] = [[] for _ in wanted]
    n_rows = 0
    for offset, row in csv_rows(block, line):
        if not row:
            continue
        if len(row) != len(header):
            raise BadRequestError(f"CSV line {line + offset} has {len(row)} fields; the header has {len(header)}")
        for j, position in enumerate(positions):
            text = row[position]
            if j < len(spec.schema):
                cells[j].append(_cell(text.strip(), spec.schema[j], rows_before + n_rows, spec, errors))
            else:
                cells[j].append(text or None)
        n_rows += 1
    types = [c.arrow_type for c in spec.schema] + [pa.string()] * len(spec.passthrough)
    return pa.table([pa.array(values, type=kind) for values, kind in zip(cells, types, strict=True)], names=wanted)


def _cell(text: str, column: Column, row: int, spec: RowSpec, errors: ErrorCollector) -> Any:
    if not text:
        if not column.nullable:
            errors.add("an empty cell (a missing value) where the column is not nullable", row, column.name)
        return None
    value = _convert(text, column, spec.max_string_bytes)
    if value is None:
        errors.add(f"expected {TYPE_PHRASES[column.type]}, got {text[:40]!r}", row, column.name)
    elif column.type == "number" and not math.isfinite(value):
        errors.add(f"{text[:40]!r} is not a finite number", row, column.name)
        return None
    elif column.type == "string" and len(value.encode()) > spec.max_string_bytes:
        errors.add(f"a string longer than {spec.max_string_bytes} bytes (MAX_STRING_BYTES)", row, column.name)
        return None
    return value


def _convert(text: str, column: Column, max_string_bytes: int) -> Any:
    """The cell as its column's type, or None when it is not one."""
    if column.type == "number":
        return float(text) if _NUMBER.fullmatch(text) else None
    if column.type == "integer":
        whole = text.split(".")[0]
        if not _INTEGER.fullmatch(text) or len(whole.lstrip("+-")) > _INT64_DIGITS:
            return None  # the length first: int() of thousands of digits is slow, and refused past 4,300
        number = int(whole)
        return number if abs(number) < 2**63 else None
    if column.type == "boolean":
        lowered = text.lower()
        return True if lowered in ("true", "1") else False if lowered in ("false", "0") else None
    return text
