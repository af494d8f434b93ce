"""Parquet bodies (a column per feature) to float64 blocks."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import BinaryIO

import numpy as np
import pyarrow as pa

from shared.parsing.parquet_file import open_parquet, read_batches
from shared.parsing.rows import ErrorCollector

BATCH_ROWS = 65_536


def iter_parquet(file: BinaryIO, features: Sequence[str], handles_missing: bool,
                 max_rows: int | None = None) -> Iterator[np.ndarray]:
    """Validated blocks from a seekable Parquet file; after a bad value the rest is checked, then it raises."""
    parquet = open_parquet(file, max_rows)
    check_columns(parquet.schema_arrow, features)
    yield from parquet_arrays(read_batches(parquet, list(features), BATCH_ROWS), features, handles_missing)


def parquet_arrays(batches: Iterable[pa.RecordBatch], features: Sequence[str], handles_missing: bool,
                   ) -> Iterator[np.ndarray]:
    """Validated blocks from record batches whose columns have been checked (`check_columns`)."""
    errors = ErrorCollector()
    rows_before = 0
    for batch in batches:
        # Column-major: each column is one contiguous copy here, and the chunk's Arrow table takes the
        # columns back without another (array_table), where a row-major array cost two strided copies.
        X = np.empty((batch.num_rows, len(features)), dtype=np.float64, order="F")
        for j, name in enumerate(features):
            column = batch.column(name)
            X[:, j] = column.cast(pa.float64()).to_numpy(zero_copy_only=False)
            _check_values(X[:, j], column, name, handles_missing, rows_before, errors)
        rows_before += batch.num_rows
        if not errors.count:
            yield X
    errors.raise_if_any("the Parquet rows")


def check_columns(schema: pa.Schema, features: Sequence[str]) -> None:
    errors = ErrorCollector()
    for name in schema.names:
        if name not in features:
            errors.add(f"unknown feature {name!r}; the model takes {', '.join(features)}", column=name)
    for name in features:
        if name not in schema.names:
            errors.add("missing column", column=name)
        elif not (pa.types.is_integer(schema.field(name).type) or pa.types.is_floating(schema.field(name).type)):
            errors.add(f"a {schema.field(name).type} column; features are numbers", column=name)
    errors.raise_if_any("the Parquet columns")


def _check_values(values: np.ndarray, column: pa.Array, name: str, handles_missing: bool, rows_before: int,
                  errors: ErrorCollector) -> None:
    if not column.null_count and np.isfinite(values).all():  # the common case: one pass, no index arrays
        return
    null = column.is_null().to_numpy(zero_copy_only=False)
    if null.any() and not handles_missing:
        for i in np.flatnonzero(null):
            errors.add("a missing value where the model cannot take missing values", rows_before + int(i), name)
    for i in np.flatnonzero(~np.isfinite(values) & ~null):
        errors.add(f"{float(values[i])!r} is not a finite number", rows_before + int(i), name)
