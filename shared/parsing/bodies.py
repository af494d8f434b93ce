"""Raw request bodies (JSON, NDJSON, CSV) to Python values, with 400s that name the place."""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import orjson

from shared.errors import BadRequestError, FieldError
from shared.parsing.rows import ErrorCollector

_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def load_json(data: bytes, where: str = "the body") -> Any:
    """Parse JSON; NaN, Infinity and 1e309 parse (so validation can call them 422s)."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise BadRequestError(f"{where} is not UTF-8 (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise BadRequestError(f"{where} is not valid JSON: {exc.msg} at line {exc.lineno} "
                              f"column {exc.colno}") from None


def may_hold_booleans(data: bytes) -> bool:
    """False when no JSON `true`/`false` literal can be in `data`, so numpy may convert rows whole."""
    return b"true" in data or b"false" in data


def load_ndjson(data: bytes) -> list[Any]:
    """One JSON value per non-blank line; a bad line is a 400 naming it (from 1)."""
    rows = []
    for number, line in enumerate(data.split(b"\n"), start=1):
        if not line.strip():
            continue
        rows.append(load_json(line, where=f"NDJSON line {number}"))
    return rows


def decode_text(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadRequestError(f"the body is not UTF-8 (byte {exc.start})") from None


def csv_table(data: bytes) -> tuple[list[str], list[list[str]]]:
    """The header and the data rows of a CSV body; ragged rows are 400s naming the line."""
    reader = csv.reader(io.StringIO(decode_text(data), newline=""))
    try:
        lines = [row for row in reader]
    except csv.Error as exc:
        raise BadRequestError(f"the CSV body cannot be parsed at line {reader.line_num}: {exc}") from None
    header_at = next((i for i, row in enumerate(lines) if row), None)
    if header_at is None:
        raise BadRequestError("the CSV body is empty; it starts with a header row of feature names")
    header = [name.strip() for name in lines[header_at]]
    rows: list[list[str]] = []
    for number, row in enumerate(lines[header_at + 1:], start=header_at + 2):
        if not row:
            continue
        if len(row) != len(header):
            raise BadRequestError(f"CSV line {number} has {len(row)} fields; the header has {len(header)}",
                                  errors=[FieldError(f"line {number}: {len(row)} fields, expected {len(header)}",
                                                     row=len(rows))])
        rows.append(row)
    return header, rows


def csv_to_array(header: Sequence[str], rows: Sequence[Sequence[str]], features: Sequence[str],
                 handles_missing: bool) -> np.ndarray:
    """CSV cells to the model's feature order; an empty cell is a missing value."""
    order = _header_order(header, features)
    errors = ErrorCollector()
    out = np.empty((len(rows), len(features)), dtype=np.float64)
    for i, row in enumerate(rows):
        for j, (column, position) in enumerate(zip(features, order, strict=True)):
            out[i, j] = _csv_cell(row[position].strip(), i, column, handles_missing, errors)
    errors.raise_if_any("the CSV rows")
    return out


def _header_order(header: Sequence[str], features: Sequence[str]) -> list[int]:
    errors = ErrorCollector()
    duplicates = {name for name in header if header.count(name) > 1}
    if duplicates:
        raise BadRequestError(f"the CSV header repeats {', '.join(sorted(duplicates))}")
    for name in header:
        if name not in features:
            errors.add(f"unknown feature {name!r} in the CSV header; the model takes {', '.join(features)}",
                       column=name)
    for name in features:
        if name not in header:
            errors.add("missing from the CSV header", column=name)
    errors.raise_if_any("the CSV header")
    return [header.index(name) for name in features]


def _csv_cell(text: str, row: int, column: str, handles_missing: bool, errors: ErrorCollector) -> float:
    if not text:
        if handles_missing:
            return math.nan
        errors.add("an empty cell (a missing value) where the model cannot take missing values", row, column)
        return math.nan
    if not _NUMBER.fullmatch(text):
        errors.add(f"expected a number, got {text[:40]!r}", row, column)
        return math.nan
    number = float(text)
    if not math.isfinite(number):
        errors.add(f"{text[:40]!r} is not a finite number", row, column)
    return number
