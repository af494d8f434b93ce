"""Raw request bodies (JSON, NDJSON, CSV) to Python values, with 400s that name the place."""

from __future__ import annotations

import contextlib
import gc
import json
import math
import re
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import orjson

from shared.errors import BadRequestError
from shared.parsing.rows import ErrorCollector

_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic GC while millions of floats and lists are built: they hold no cycles, and the
    collector's passes over them would cost more than the parse itself."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


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


def header_order(header: Sequence[str], features: Sequence[str]) -> list[int]:
    """Where each feature sits in a CSV header; unknown or missing names are 422s naming them."""
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


def csv_to_array(header: Sequence[str], rows: Sequence[Sequence[str]], features: Sequence[str],
                 handles_missing: bool, errors: ErrorCollector) -> np.ndarray:
    """CSV cells to the model's feature order, recording bad cells in `errors`; empty is missing."""
    order = header_order(header, features)
    out = np.empty((len(rows), len(features)), dtype=np.float64)
    for i, row in enumerate(rows):
        for j, (column, position) in enumerate(zip(features, order, strict=True)):
            out[i, j] = _csv_cell(row[position].strip(), i, column, handles_missing, errors)
    return out


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
