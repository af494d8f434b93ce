"""JSON rows (arrays or objects keyed by feature name) to one float64 array."""

from __future__ import annotations

import math
from collections.abc import Sequence
from operator import itemgetter
from typing import Any

import numpy as np

from shared.errors import BadRequestError, FieldError, UnprocessableError, brief

ErrorList = list[FieldError]


class ErrorCollector:
    """Keeps the first errors and counts them all, so a huge bad batch stays cheap."""

    def __init__(self, keep: int = 100) -> None:
        self.keep = keep
        self.errors: ErrorList = []
        self.count = 0

    def add(self, message: str, row: int | None = None, column: str | None = None) -> None:
        self.count += 1
        if len(self.errors) < self.keep:
            self.errors.append(FieldError(message, row, column))

    def raise_if_any(self, what: str) -> None:
        if self.count:
            plural = "s" if self.count != 1 else ""
            raise UnprocessableError(f"{self.count} error{plural} in {what}", errors=self.errors)


def row_form(instances: Sequence[Any], first_row: int = 0) -> type:
    """`list` or `dict`: the one form every row takes; anything else is a 400 (rows from `first_row`)."""
    forms = set(map(type, instances))
    if forms <= {list}:
        return list
    if forms <= {dict}:
        return dict
    for i, row in enumerate(instances, start=first_row):
        if type(row) not in (list, dict):
            raise BadRequestError(f"row {i} is {_json_type(row)}; a row is an array of numbers or an "
                                  "object keyed by feature name",
                                  errors=[FieldError("neither an array nor an object", row=i)])
    raise BadRequestError("rows mix arrays and objects; all rows of one job take one form")


def rows_to_array(instances: Sequence[Any], features: Sequence[str], handles_missing: bool,
                  may_hold_booleans: bool = True, first_row: int = 0,
                  errors: ErrorCollector | None = None) -> np.ndarray:
    """Validate `instances` against the model's features; the (n_samples, n_features) array.

    `may_hold_booleans=False` says the raw body had no `true`/`false` literal, which lets
    numpy convert whole rows at once (numpy would silently turn booleans into 1 and 0).
    Errors name rows from `first_row`; given a collector, they are recorded there instead of raised.
    """
    form = row_form(instances, first_row)
    matrix = _ordered_matrix(instances, features) if form is dict else instances
    if not may_hold_booleans and matrix is not None:
        fast = _fast_array(matrix, len(features))
        if fast is not None:
            return fast
    collector = errors if errors is not None else ErrorCollector()
    X = _checked_array(instances, features, handles_missing, form, first_row, collector)
    if errors is None:
        collector.raise_if_any("the instances")
    return X


def _ordered_matrix(instances: Sequence[dict[str, Any]], features: Sequence[str]) -> list[Any] | None:
    """Object rows as value tuples in feature order, or None when some row has other keys."""
    if any(len(row) != len(features) for row in instances):
        return None
    getter = itemgetter(*features)
    try:
        values = list(map(getter, instances))
    except KeyError:
        return None
    return values if len(features) > 1 else [(v,) for v in values]


def _fast_array(matrix: Sequence[Any], n_features: int) -> np.ndarray | None:
    """numpy's own conversion when every cell is a finite number; else None (check cell by cell)."""
    try:
        array = np.array(matrix)
    except (ValueError, TypeError):
        return None
    if array.ndim != 2 or array.shape[1] != n_features or array.dtype.kind not in "if":
        return None
    array = array.astype(np.float64, copy=False)
    return array if np.isfinite(array).all() else None


def _checked_array(instances: Sequence[Any], features: Sequence[str], handles_missing: bool,
                   form: type, first_row: int, errors: ErrorCollector) -> np.ndarray:
    out = np.empty((len(instances), len(features)), dtype=np.float64)
    for i, row in enumerate(instances):
        at = first_row + i
        values = _row_values(row, at, features, errors) if form is dict else _array_values(row, at, features, errors)
        if values is None:
            continue
        for j, (column, value) in enumerate(zip(features, values, strict=True)):
            out[i, j] = cell_value(value, at, column, handles_missing, errors)
    return out


def _array_values(row: list[Any], i: int, features: Sequence[str], errors: ErrorCollector) -> list[Any] | None:
    if len(row) != len(features):
        errors.add(f"expected {len(features)} values ({', '.join(features)}), got {len(row)}", row=i)
        return None
    return row


def _row_values(row: dict[str, Any], i: int, features: Sequence[str], errors: ErrorCollector) -> list[Any] | None:
    known = set(features)
    bad = False
    for name in row:
        if name not in known:
            errors.add(f"unknown feature {name!r}; the model takes {', '.join(features)}", row=i, column=name)
            bad = True
    for name in features:
        if name not in row:
            errors.add("missing feature", row=i, column=name)
            bad = True
    return None if bad else [row[name] for name in features]


def cell_value(value: Any, row: int, column: str, handles_missing: bool, errors: ErrorCollector) -> float:
    """One cell as a float, or NaN after recording why it cannot be one."""
    kind = type(value)
    if kind is float or kind is int:
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
        if math.isfinite(number):
            return number
        errors.add(f"{value!r} is not a finite number", row, column)
    elif value is None:
        if handles_missing:
            return math.nan
        errors.add("null (a missing value) where the model cannot take missing values", row, column)
    else:
        got = brief(value) if isinstance(value, list | dict) else f"{_json_type(value)} {brief(value)}"
        errors.add(f"expected a number, got {got}", row, column)
    return math.nan


def _json_type(value: Any) -> str:
    names = {bool: "a boolean", str: "a string", list: "an array", dict: "an object", type(None): "null"}
    return names.get(type(value), "a number")

