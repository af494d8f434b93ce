"""Scoring a chunk with a fitted estimator: pure, no I/O."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import sklearn

from shared.codecs import float_matrix
from shared.schema import Schema, is_all_number


def score(estimator: Any, method: str, X: Any) -> np.ndarray:
    """`estimator.<method>(X)` as an array with one entry (or row) per sample."""
    # The API has checked every cell (finite numbers; NaN only where the schema says a column may be missing),
    # so scikit-learn's own finiteness scans are skipped: a sixth of a one-row pipeline call.
    with sklearn.config_context(assume_finite=True):
        result = np.asarray(getattr(estimator, method)(X))
    if result.shape[0] != len(X):
        raise ValueError(f"{method} answered {result.shape[0]} rows for {len(X)}")
    return result


def wants_frame(estimator: Any) -> bool:
    """Fitted on a DataFrame (it knows its column names): it is called with one, as it was fitted."""
    return getattr(estimator, "feature_names_in_", None) is not None


def model_input(estimator: Any, table: pa.Table, schema: Schema) -> Any:
    """A chunk's feature columns (its first columns, in schema order) as the estimator takes them.

    A DataFrame with the fitted names and dtypes for estimators fitted on one; else the float64
    array (the fast path: every column a number)."""
    features = table.select(list(range(len(schema))))
    if wants_frame(estimator):
        return to_frame(features, [c.name for c in schema])
    if is_all_number(schema):
        return float_matrix(features, features.column_names)
    # Typed columns but fitted on an array: the cells as Python objects, in column order.
    return to_frame(features, [c.name for c in schema]).to_numpy(dtype=object)


def passthrough_columns(table: pa.Table, schema: Schema) -> pa.Table:
    """The columns a chunk carries after the model's: pass-through values, returned with the results."""
    return table.select(list(range(len(schema), table.num_columns)))


def to_frame(table: pa.Table, names: Sequence[str]) -> Any:
    """The table as a pandas DataFrame named `names`: strings as objects with NaN for missing ones (what
    imputers fitted on pandas expect), integers as int64 (float64 with NaN when some are missing), booleans.

    Built from NumPy columns, not `Table.to_pandas()`: a sixth of the cost for a one-row chunk."""
    import pandas as pd  # workers of array models never need it

    columns = {}
    for name, column in zip(names, table.columns, strict=True):
        values = column.to_numpy(zero_copy_only=False)
        if values.dtype == object and column.null_count:
            values = np.where(column.is_null().to_numpy(zero_copy_only=False), np.nan, values)
        columns[name] = values
    return pd.DataFrame(columns, copy=False)
