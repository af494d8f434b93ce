"""NDJSON bodies (one row per line, an array or an object) to float64 blocks."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, BinaryIO

import numpy as np
import orjson
import pyarrow as pa

from shared.errors import BadRequestError
from shared.parsing.bodies import gc_paused, load_json, may_hold_booleans
from shared.parsing.columns import RowSpec
from shared.parsing.rows import ErrorCollector, rows_to_array
from shared.parsing.streams import BLOCK_BYTES, LimitedReader, line_blocks
from shared.parsing.typed_rows import rows_to_table
from shared.parsing.uniform import Uniform


def iter_ndjson(stream: BinaryIO | LimitedReader, features: Sequence[str], handles_missing: bool,
                block_bytes: int = BLOCK_BYTES) -> Iterator[np.ndarray]:
    """Validated blocks; after a row that does not fit, the rest is only checked, then it raises."""
    errors = ErrorCollector()
    rows_before = 0
    form: type | None = None
    for line, block in line_blocks(stream, block_bytes):
        with gc_paused():
            rows = _rows(block, line)
            if not rows:
                continue
            form = _same_form(rows, form)
            X = rows_to_array(rows, features, handles_missing, may_hold_booleans(block), rows_before, errors)
        rows_before += len(rows)
        if not errors.count:
            yield X
    errors.raise_if_any("the NDJSON rows")


def _rows(block: bytes, first_line: int) -> list[Any]:
    """Every non-blank line of `block` as one JSON value; a line that is not one is a 400 naming it."""
    lines = block.split(b"\n")
    try:
        return [orjson.loads(line) for line in lines if line.strip()]
    except orjson.JSONDecodeError:
        pass
    return [load_json(line, where=f"NDJSON line {first_line + offset}")
            for offset, line in enumerate(lines) if line.strip()]


def _same_form(rows: list[Any], form: type | None) -> type:
    first = type(rows[0])
    if form is not None and first is not form and first in (list, dict):
        raise BadRequestError("rows mix arrays and objects; all rows of one job take one form")
    return form or first


def iter_typed_ndjson(stream: BinaryIO | LimitedReader, spec: RowSpec,
                      block_bytes: int = BLOCK_BYTES) -> Iterator[pa.Table]:
    """Validated tables for typed schemas and pass-through columns, one per block of lines."""
    errors = ErrorCollector()
    uniform = Uniform(errors)
    rows_before = 0
    form: type | None = None
    for line, block in line_blocks(stream, block_bytes):
        with gc_paused():
            rows = _rows(block, line)
            if not rows:
                continue
            form = _same_form(rows, form)
            table = rows_to_table(rows, spec, rows_before, errors)
        rows_before += len(rows)
        if not errors.count:
            table = uniform.fit(table)
        if not errors.count:
            yield table
    errors.raise_if_any("the NDJSON rows")
