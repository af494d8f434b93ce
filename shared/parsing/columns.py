"""What a batch's columns must be: the model's schema, pass-through names, and whether extras are ignored."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from shared.errors import UnprocessableError, brief
from shared.parsing.rows import ErrorCollector
from shared.schema import Column, Schema

DEFAULT_MAX_STRING_BYTES = 1024
"""A string cell longer than this (in UTF-8 bytes) is a 422: categories are short."""

MAX_BODY_COLUMNS = 10_000
"""A body (CSV header, Parquet schema, pass-through list) names at most this many columns: the model's,
pass-through and ignored extras together. Past it, a 422 before any row is read: 100,000 columns is a
bomb, not a batch, and every step per row costs per column."""


def check_column_count(count: int, what: str) -> None:
    """A 422 when a body names more columns than MAX_BODY_COLUMNS."""
    if count > MAX_BODY_COLUMNS:
        raise UnprocessableError(f"{what} names {count} columns; a body may have at most {MAX_BODY_COLUMNS} "
                                 "(MAX_BODY_COLUMNS: the model's, pass-through and ignored ones together)")


TYPE_PHRASES = {"number": "a number", "integer": "an integer", "boolean": "a boolean (true or false)",
                "string": "a string"}


@dataclass(frozen=True)
class RowSpec:
    """The columns a typed batch must carry, and what else it may."""

    schema: Schema
    passthrough: tuple[str, ...] = ()
    ignore_extra: bool = False
    max_string_bytes: int = DEFAULT_MAX_STRING_BYTES

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.schema]

    @property
    def columns(self) -> list[str]:
        """Every column a row carries, in order: the schema's, then the pass-through ones."""
        return [*self.names, *self.passthrough]

    @cached_property
    def _known(self) -> frozenset[str]:
        """The schema's and the pass-through names: a lookup per body column, so a set, not a list."""
        return frozenset(self.columns)

    def unknown_column(self, name: str) -> str | None:
        """Why a body column the schema does not name is refused; None when it is pass-through or ignored."""
        if self.ignore_extra or name in self._known:
            return None
        return (f"unknown column {brief(name)}; the model takes {', '.join(self.names)} "
                "(list it in passthrough, or send extra_columns=ignore)")


def check_table(table: pa.Table, spec: RowSpec, rows_before: int, errors: ErrorCollector) -> None:
    """Record every cell of a parsed table that its column refuses: nulls, non-finite numbers, long strings."""
    for column in spec.schema:
        values = table.column(column.name)
        if values.null_count and not column.nullable:
            _each(values.is_null(), rows_before, column.name, errors,
                  "a missing value where the column is not nullable")
        if column.type == "number":
            finite = pc.is_finite(values)
            _each(pc.invert(pc.fill_null(finite, True)), rows_before, column.name, errors, "not a finite number")
        elif column.type == "string" and len(values):
            too_long = pc.greater(pc.binary_length(values), spec.max_string_bytes)
            _each(pc.fill_null(too_long, False), rows_before, column.name, errors,
                  f"a string longer than {spec.max_string_bytes} bytes (MAX_STRING_BYTES)")


def _each(mask: pa.ChunkedArray | pa.Array, rows_before: int, name: str, errors: ErrorCollector,
          message: str) -> None:
    flags = mask.to_numpy(zero_copy_only=False) if len(mask) else np.zeros(0, dtype=bool)
    for i in np.flatnonzero(flags):
        errors.add(message, rows_before + int(i), name)


def column_type_error(column: Column, found: pa.DataType) -> str | None:
    """Why a Parquet column of type `found` cannot feed `column`; None when it casts without loss."""
    ok = {"number": pa.types.is_integer(found) or pa.types.is_floating(found),
          "integer": pa.types.is_integer(found) or pa.types.is_floating(found),
          "boolean": pa.types.is_boolean(found),
          "string": pa.types.is_string(found) or pa.types.is_large_string(found)
          or (pa.types.is_dictionary(found) and pa.types.is_string(found.value_type))}
    if ok[column.type]:
        return None
    return f"a {found} column; the model takes {TYPE_PHRASES[column.type]} here"


def typed_columns(table: pa.Table, spec: RowSpec, passthrough: Sequence[str]) -> pa.Table:
    """The model's columns then the pass-through ones, in that order (the layout of a chunk)."""
    return table.select([*spec.names, *passthrough])
