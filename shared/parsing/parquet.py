"""Parquet bodies (a column per feature) to float64 blocks."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from shared.errors import BadRequestError
from shared.parsing.rows import ErrorCollector

BATCH_ROWS = 65_536


def open_parquet(file: BinaryIO) -> pq.ParquetFile:
    try:
        return pq.ParquetFile(file)
    except (pa.ArrowInvalid, OSError) as exc:
        raise BadRequestError(f"the body is not a Parquet file: {exc}") from None


def iter_parquet(file: BinaryIO, features: Sequence[str], handles_missing: bool) -> Iterator[np.ndarray]:
    """Validated blocks from a seekable Parquet file; after a bad value the rest is checked, then it raises."""
    parquet = open_parquet(file)
    _check_columns(parquet.schema_arrow, features)
    errors = ErrorCollector()
    rows_before = 0
    for batch in parquet.iter_batches(batch_size=BATCH_ROWS, columns=list(features)):
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


def _check_columns(schema: pa.Schema, features: Sequence[str]) -> None:
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
        errors.add(f"{values[i]!r} is not a finite number", rows_before + int(i), name)
