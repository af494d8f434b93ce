"""Parquet bodies for typed schemas (and pass-through columns) to Arrow tables, a row group at a time.

A column must cast to its schema type without loss: integers may feed a number, floats feed an
integer only where every value is whole; anything else is a 422 naming the column (or the rows).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from shared.parsing.columns import RowSpec, check_table, column_type_error
from shared.parsing.parquet import BATCH_ROWS
from shared.parsing.parquet_file import open_parquet, read_batches
from shared.parsing.rows import ErrorCollector
from shared.parsing.uniform import Uniform
from shared.schema import Column


def iter_typed_parquet(file: BinaryIO, spec: RowSpec, max_rows: int | None = None) -> Iterator[pa.Table]:
    """Validated tables: the schema's columns, cast, then the pass-through columns as they are."""
    parquet = open_parquet(file, max_rows)
    check_typed_columns(parquet.schema_arrow, spec)
    yield from parquet_tables(read_batches(parquet, spec.columns, BATCH_ROWS), spec)


def parquet_tables(batches: Iterable[pa.RecordBatch], spec: RowSpec) -> Iterator[pa.Table]:
    """Validated tables from record batches whose columns have been checked (`check_typed_columns`)."""
    wanted = spec.columns
    errors = ErrorCollector()
    uniform = Uniform(errors)
    rows_before = 0
    for batch in batches:
        table = pa.Table.from_batches([batch])
        cast = [_cast(table.column(c.name), c, rows_before, errors) for c in spec.schema]
        table = pa.table([*cast, *(table.column(n) for n in spec.passthrough)], names=wanted)
        check_table(table, spec, rows_before, errors)
        rows_before += table.num_rows
        if not errors.count:
            yield uniform.fit(table)
    errors.raise_if_any("the Parquet rows")


def check_typed_columns(schema: pa.Schema, spec: RowSpec) -> None:
    errors = ErrorCollector()
    for name in schema.names:
        why = spec.unknown_column(name)
        if why is not None:
            errors.add(why, column=name)
    for name in spec.passthrough:
        if name not in schema.names:
            errors.add("missing pass-through column", column=name)
    for column in spec.schema:
        if column.name not in schema.names:
            errors.add("missing column", column=column.name)
            continue
        why = column_type_error(column, schema.field(column.name).type)
        if why is not None:
            errors.add(why, column=column.name)
    errors.raise_if_any("the Parquet columns")


def _cast(values: pa.ChunkedArray, column: Column, rows_before: int, errors: ErrorCollector) -> pa.ChunkedArray:
    if column.type == "integer" and pa.types.is_floating(values.type):
        whole = pc.equal(values, pc.floor(values))
        fractional = pc.invert(pc.fill_null(whole, True)).to_numpy(zero_copy_only=False)
        for i in np.flatnonzero(fractional):
            errors.add("expected an integer, got a number with a fraction", rows_before + int(i), column.name)
        if fractional.any():
            return _unsafe(values, column)  # the errors name the rows; the values only need a shape
    try:
        return values.cast(column.arrow_type)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        errors.add(f"values that do not fit a {column.arrow_type} column", column=column.name)
        return _unsafe(values, column)


def _unsafe(values: pa.ChunkedArray, column: Column) -> pa.ChunkedArray:
    try:
        return pc.cast(values, column.arrow_type, safe=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return pa.chunked_array([pa.array([0] * len(values), type=pa.int64()).cast(column.arrow_type)])
