"""JSON rows (arrays or objects) checked cell by cell against a typed schema, to an Arrow table.

Nothing is coerced: a number in a string column, a string in a number column and 1 in a
boolean column are errors naming the row, the column and the type expected.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import pyarrow as pa

from shared.errors import BadRequestError
from shared.parsing.columns import TYPE_PHRASES, RowSpec
from shared.parsing.rows import ErrorCollector, row_form
from shared.schema import Column

INT64_MAX = 2**63 - 1
SCALARS = (str, int, float, bool, type(None))
"""What a pass-through cell may hold: it comes back beside its prediction, unchanged."""


class _Refused(Exception):
    """A cell its column does not take; the message says why."""


def rows_to_table(instances: Sequence[Any], spec: RowSpec, first_row: int, errors: ErrorCollector) -> pa.Table:
    """The rows as a table of the schema's columns then the pass-through columns; bad cells go to `errors`."""
    form = row_form(instances, first_row)
    if form is list and spec.passthrough:
        raise BadRequestError("passthrough names columns of object rows; these rows are arrays")
    names = spec.columns
    cells: list[list[Any]] = [[] for _ in names]
    checks = [_checker(c, spec.max_string_bytes) for c in spec.schema]
    for i, row in enumerate(instances):
        at = first_row + i
        values = _array_row(row, at, spec, errors) if form is list else _object_row(row, at, spec, names, errors)
        if values is None:
            continue
        for j, value in enumerate(values):
            cells[j].append(_cell(checks[j], spec.schema[j], value, at, errors) if j < len(checks)
                            else _passthrough_cell(value, at, names[j], errors))
    if errors.count:
        return pa.table({})
    return pa.table([_schema_array(cells[j], spec.schema[j]) for j in range(len(checks))]
                    + [_passthrough_array(cells[j], names[j], errors) for j in range(len(checks), len(names))],
                    names=names)


def _array_row(row: list[Any], at: int, spec: RowSpec, errors: ErrorCollector) -> list[Any] | None:
    if len(row) != len(spec.schema):
        errors.add(f"expected {len(spec.schema)} values ({', '.join(spec.names)}), got {len(row)}", row=at)
        return None
    return row


def _object_row(row: dict[str, Any], at: int, spec: RowSpec, names: list[str],
                errors: ErrorCollector) -> list[Any] | None:
    bad = False
    for name in row:
        why = spec.unknown_column(name)
        if why is not None:
            errors.add(why, row=at, column=name)
            bad = True
    for name in names:
        if name not in row:
            errors.add("missing column" if name in spec.names else "missing pass-through column", row=at, column=name)
            bad = True
    return None if bad else [row[name] for name in names]


def _cell(check: Callable[[Any], Any], column: Column, value: Any, at: int, errors: ErrorCollector) -> Any:
    if value is None:
        if not column.nullable:
            errors.add("null (a missing value) where the column is not nullable", at, column.name)
        return None
    try:
        return check(value)
    except _Refused as refused:
        errors.add(str(refused), at, column.name)
        return None


def _checker(column: Column, max_string_bytes: int) -> Callable[[Any], Any]:
    def number(value: Any) -> float:
        if type(value) is float or type(value) is int:
            try:
                number = float(value)
            except OverflowError:
                number = math.inf
            if math.isfinite(number):
                return number
            raise _Refused(f"{value!r} is not a finite number")
        raise _Refused(_expected(column, value))

    def integer(value: Any) -> int:
        if type(value) is int and -INT64_MAX - 1 <= value <= INT64_MAX:
            return value
        if type(value) is float and value.is_integer() and abs(value) <= INT64_MAX:
            return int(value)
        raise _Refused(_expected(column, value))

    def boolean(value: Any) -> bool:
        if type(value) is bool:
            return value
        raise _Refused(_expected(column, value))

    def string(value: Any) -> str:
        if type(value) is not str:
            raise _Refused(_expected(column, value))
        if len(value) * 4 > max_string_bytes and len(value.encode()) > max_string_bytes:
            raise _Refused(f"a string longer than {max_string_bytes} bytes (MAX_STRING_BYTES)")
        return value

    return {"number": number, "integer": integer, "boolean": boolean, "string": string}[column.type]


def _expected(column: Column, value: Any) -> str:
    text = repr(value)
    shown = text if len(text) <= 40 else text[:37] + "..."
    return f"expected {TYPE_PHRASES[column.type]}, got {_json_type(value)} {shown}"


def _json_type(value: Any) -> str:
    names = {bool: "a boolean", str: "a string", list: "an array", dict: "an object", int: "an integer",
             float: "a number"}
    return names.get(type(value), "a value")


def _passthrough_cell(value: Any, at: int, name: str, errors: ErrorCollector) -> Any:
    if type(value) not in SCALARS:
        errors.add(f"a pass-through value is a string, number, boolean or null; got {_json_type(value)}", at, name)
        return None
    return value


def _schema_array(values: list[Any], column: Column) -> pa.Array:
    return pa.array(values, type=column.arrow_type)


def _passthrough_array(values: list[Any], name: str, errors: ErrorCollector) -> pa.Array:
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        errors.add("pass-through values mix types (or an integer is out of range); send one type per column",
                   column=name)
        return pa.nulls(len(values))
