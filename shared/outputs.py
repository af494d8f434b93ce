"""A chunk's answers as a table: pass-through columns first, then the output columns, named as in CSV.

One table serves every results format: JSON values and objects, CSV rows, NDJSON lines and
Parquet row groups are all read from it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa


def output_names(method: str, classes: Sequence[Any] | None, width: int) -> list[str]:
    """The output columns: `prediction`; one per class for predict_proba; `decision` or `decision_<i>`.

    `width` is 0 for a 1-D answer, else its number of columns."""
    if method == "predict_proba" and classes is not None and width == len(classes):
        return [str(c) for c in classes]
    stem = "decision" if method == "decision_function" else "prediction"
    return [stem] if width == 0 else [f"{stem}_{i}" for i in range(width)]


def result_table(method: str, result: np.ndarray, classes: Sequence[Any] | None,
                 passthrough: pa.Table | None = None) -> pa.Table:
    """`result` (one entry or row per sample) as output columns, after the pass-through columns."""
    width = result.shape[1] if result.ndim == 2 else 0
    names = output_names(method, classes, width)
    columns = [result] if width == 0 else [result[:, j] for j in range(width)]
    arrays = [_arrow(np.asarray(c)) for c in columns]
    table = pa.table(arrays, names=names)
    if passthrough is None or passthrough.num_columns == 0:
        return table
    return pa.table([*passthrough.columns, *table.columns], names=[*passthrough.column_names, *names])


def _arrow(values: np.ndarray) -> pa.Array:
    if values.dtype == object:
        return pa.array(values.tolist())  # labels held as Python objects (strings, mostly)
    return pa.array(values)


def json_values(table: pa.Table, method: str, n_passthrough: int) -> list[Any]:
    """The results as JSON values: objects with pass-through columns, else a value (or a list) per row."""
    columns = [_python(table.column(j)) for j in range(table.num_columns)]
    if n_passthrough:
        names = table.column_names
        return [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]
    if not _as_lists(method, table.column_names):
        return columns[0]
    return [list(row) for row in zip(*columns, strict=True)]


def _as_lists(method: str, names: list[str]) -> bool:
    """Whether each plain result is a list: predict_proba, and any 2-D answer (columns `<stem>_<i>`)."""
    return method == "predict_proba" or names not in (["prediction"], ["decision"])


def _python(column: pa.ChunkedArray) -> list[Any]:
    """A column as Python values; through NumPy where that is exact (it is much faster than to_pylist)."""
    kind = column.type
    if column.null_count == 0 and (pa.types.is_floating(kind) or pa.types.is_integer(kind)):
        return column.to_numpy().tolist()  # type: ignore[no-any-return]
    return column.to_pylist()  # type: ignore[no-any-return]
