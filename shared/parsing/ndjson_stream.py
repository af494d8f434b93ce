"""NDJSON bodies (one row per line, an array or an object) to float64 blocks."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, BinaryIO

import numpy as np
import orjson

from shared.errors import BadRequestError, UnprocessableError
from shared.parsing.bodies import gc_paused, load_json, may_hold_booleans
from shared.parsing.rows import ErrorCollector, rows_to_array
from shared.parsing.streams import BLOCK_BYTES, LimitedReader, line_blocks


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
            try:
                X = rows_to_array(rows, features, handles_missing, may_hold_booleans(block))
            except UnprocessableError as exc:
                for error in exc.errors or []:
                    errors.add(error.message, rows_before + (error.row or 0), error.column)
                X = np.empty((len(rows), len(features)))
        rows_before += len(rows)
        if not errors.count:
            yield X
    errors.raise_if_any("the NDJSON rows")


def _rows(block: bytes, first_line: int) -> list[Any]:
    """Every non-blank line of `block` as a JSON value; one parse for the whole block when it can."""
    lines = [line for line in block.split(b"\n") if line.strip()]
    try:
        return list(orjson.loads(b"[" + b",".join(lines) + b"]"))
    except orjson.JSONDecodeError:
        pass
    rows = []
    for offset, line in enumerate(block.split(b"\n")):
        if line.strip():
            rows.append(load_json(line, where=f"NDJSON line {first_line + offset}"))
    return rows


def _same_form(rows: list[Any], form: type | None) -> type:
    first = type(rows[0])
    if form is not None and first is not form and first in (list, dict):
        raise BadRequestError("rows mix arrays and objects; all rows of one job take one form")
    return form or first
