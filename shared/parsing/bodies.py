"""Raw request bodies (JSON, NDJSON, CSV) to Python values, with 400s that name the place."""

from __future__ import annotations

import contextlib
import gc
import json
import math
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import orjson

from shared.errors import BadRequestError, brief
from shared.parsing.columns import check_column_count
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
    """Parse JSON; NaN, Infinity and 1e309 parse (so validation can call them 422s).

    orjson refuses what is not strict JSON; only then does Python's parser read the body again, with
    the same bounds orjson keeps: nesting is limited, an integer beyond 64 bits becomes a float (as
    orjson reads it: no quadratic int() of thousands of digits, nothing orjson cannot write back), and
    a string holding a lone surrogate (valid JSON, not valid Unicode) is a 400.
    """
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        pass
    try:
        doc = json.loads(data.decode("utf-8"), parse_int=_json_int)
    except UnicodeDecodeError as exc:
        raise BadRequestError(f"{where} is not UTF-8 (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise BadRequestError(f"{where} is not valid JSON: {exc.msg} at line {exc.lineno} "
                              f"column {exc.colno}") from None
    except RecursionError:
        raise BadRequestError(f"{where} nests arrays or objects deeper than {MAX_JSON_DEPTH} levels") from None
    if _SURROGATE_ESCAPE.search(data) and not _valid_unicode(doc):
        raise BadRequestError(f"{where} holds a string with a lone surrogate (\\ud800 to \\udfff not in a pair), "
                              "which is not Unicode text")
    return doc


MAX_JSON_DEPTH = 1024
"""orjson's own nesting limit; Python's parser, reading what orjson refused, stops near its recursion limit."""

_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
"""A cheap pre-check on the raw bytes: only a body with a surrogate escape needs its strings walked."""

_INT64_DIGITS = 18
"""Integer literals of at most this many digits fit 64 bits whatever they are."""


def _json_int(text: str) -> int | float:
    """An integer literal as orjson reads it: an int within 64 bits, else a float (inf past 1e308)."""
    if len(text.lstrip("-")) <= _INT64_DIGITS:
        return int(text)
    if len(text) <= _INT64_DIGITS + 3:
        number = int(text)
        if -(2**63) <= number < 2**64:
            return number
    return float(text)


def _valid_unicode(doc: Any) -> bool:
    """Whether every string (keys included) in a parsed document encodes as UTF-8; iterative, so any depth."""
    stack = [doc]
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return False
        elif isinstance(value, dict):
            stack.extend(value.keys())
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return True


def may_hold_booleans(data: bytes, strings: bool = True) -> bool:
    """False when no JSON `true`/`false` literal can be in `data`, so numpy may convert rows whole. Where `data`
    holds no string (`strings=False`), a `t` or `f` byte can only be part of a literal, and one byte is found at
    memory speed (the literals' search read 81 MB in 0.11 s)."""
    if not strings:
        return b"t" in data or b"f" in data
    return b"true" in data or b"false" in data


def header_order(header: Sequence[str], features: Sequence[str]) -> list[int]:
    """Where each feature sits in a CSV header; unknown or missing names are 422s naming them."""
    check_header(header)
    errors = ErrorCollector()
    known, position = set(features), {name: i for i, name in enumerate(header)}
    for name in header:
        if name not in known:
            errors.add(f"unknown feature {brief(name)} in the CSV header; the model takes {', '.join(features)}",
                       column=name)
    for name in features:
        if name not in position:
            errors.add("missing from the CSV header", column=name)
    errors.raise_if_any("the CSV header")
    return [position[name] for name in features]


def check_header(header: Sequence[str]) -> None:
    """At most MAX_BODY_COLUMNS names, none twice; in time linear in the header (it is the client's)."""
    check_column_count(len(header), "the CSV header")
    counts = Counter(header)
    duplicates = sorted(name for name, count in counts.items() if count > 1)
    if duplicates:
        raise BadRequestError(f"the CSV header repeats {', '.join(brief(name) for name in duplicates[:10])}")


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
