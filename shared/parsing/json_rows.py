"""A big JSON body's rows a block at a time, so that its first chunks are stored (and scored) while the rest
is still parsed, as CSV's are.

Only the plain shape takes this path: `{..., "instances": [[...], [...], ...]}` with `instances` last and no
string or object anywhere in the rows (arrays of numbers, nulls, booleans). Every other body is parsed whole,
as before. The rows are cut between two rows (at `],[`), and each block is parsed as `[` + rows + `]`: when
every block parses, the rows are exactly the whole array's, in order. A block that does not parse, or rows past
MAX_ROWS, send the body back to the whole parse, which answers what it always answered (the JSON error, the
row limit, or the rows).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from shared.batch import check_row_count
from shared.errors import BadRequestError
from shared.parsing.bodies import gc_paused, load_json, may_hold_booleans
from shared.parsing.rows import ErrorCollector, rows_to_array
from shared.parsing.streams import BLOCK_BYTES

MIN_SPLIT_BYTES = 1 << 20
"""A smaller body is parsed whole: it is one chunk or few, and its parse takes milliseconds."""

INSTANCES = re.compile(rb'"instances"\s*:\s*\[')
ROW_GAP = re.compile(rb"\]\s*,\s*\[")
JSON_SPACE = b" \t\r\n"
TRAILING_SPACE_WALK = 64
"""Bytes of trailing whitespace walked one at a time before the rest is stripped in one go."""


@dataclass(frozen=True)
class Split:
    """A body whose rows can be parsed a block at a time."""

    doc: dict[str, Any]
    """The body's other members (its `instances` is [])."""
    start: int
    """Where the rows array's `[` is."""
    stop: int
    """Where its `]` is."""
    has_rows: bool
    """Whether anything but whitespace is inside the array."""


def split_instances(data: bytes) -> Split | None:
    """The parts of a body of the plain shape (see the module), or None: it is to be parsed whole."""
    if len(data) < MIN_SPLIT_BYTES:
        return None
    found = INSTANCES.search(data)
    if found is None:
        return None
    start = found.end() - 1
    brace = _last_non_space(data, len(data))
    stop = _last_non_space(data, brace)
    if brace < 0 or data[brace] != ord("}") or stop <= start or data[stop] != ord("]"):
        return None
    if data.find(b'"', start, stop) >= 0 or data.find(b"{", start, stop) >= 0:
        return None
    try:
        doc = orjson.loads(data[:start] + b"[]" + data[stop + 1 :])
    except orjson.JSONDecodeError:
        return None
    if not isinstance(doc, dict) or doc.get("instances") != []:
        return None
    return Split(doc, start, stop, _last_non_space(data, stop) > start)


def _last_non_space(data: bytes, before: int) -> int:
    """The index of the last byte before `before` that is not JSON whitespace (-1 if none): the usual few bytes
    are walked without copying the body as `rstrip` would; a long run of whitespace (a hostile body's MBs of
    it, a byte at a time in Python) is stripped in one copy instead."""
    stop = max(before - TRAILING_SPACE_WALK, 0)
    i = before - 1
    while i >= stop and data[i] in JSON_SPACE:
        i -= 1
    if i < stop and stop > 0:
        return len(data[:before].rstrip(JSON_SPACE)) - 1
    return i


def iter_json_rows(data: bytes, split: Split, features: Sequence[str], handles_missing: bool, max_rows: int,
                   block_bytes: int = BLOCK_BYTES) -> Iterator[np.ndarray]:
    """Validated (rows, n_features) blocks of the body's rows; after a bad cell the rest is only checked,
    then it raises, naming rows as the whole array numbers them. Past `max_rows` rows, or at a block that does
    not parse, the whole body is parsed and answers as it always did."""
    errors = ErrorCollector()
    rows_before = 0
    position, stop = split.start + 1, split.stop
    while position < stop:
        gap = ROW_GAP.search(data, position + block_bytes, stop) if position + block_bytes < stop else None
        cut = gap.start() + 1 if gap is not None else stop
        block = b"[" + data[position:cut] + b"]"
        with gc_paused():
            try:
                rows = load_json(block)
            except BadRequestError:
                rows = None
            if rows is None or rows_before + len(rows) > max_rows:
                yield from _whole(data, rows_before, features, handles_missing, max_rows, errors)
                return
            booleans = may_hold_booleans(block, strings=False)  # the plain shape's rows hold no string
            X = rows_to_array(rows, features, handles_missing, booleans, rows_before, errors)
        rows_before += len(rows)
        if not errors.count:
            yield X
        position = gap.end() - 1 if gap is not None else stop
    errors.raise_if_any("the instances")


def _whole(data: bytes, rows_before: int, features: Sequence[str], handles_missing: bool, max_rows: int,
           errors: ErrorCollector) -> Iterator[np.ndarray]:
    """The rows from `rows_before` on, from the whole body's parse (which raises its own 400 if it is not JSON,
    and its 413 past `max_rows` rows)."""
    with gc_paused():
        instances = load_json(data)["instances"]
        check_row_count(len(instances), max_rows)
        rest = instances[rows_before:]
        booleans = may_hold_booleans(data)
        X = rows_to_array(rest, features, handles_missing, booleans, rows_before, errors) if rest else None
    if X is not None and not errors.count:
        yield X
    errors.raise_if_any("the instances")
