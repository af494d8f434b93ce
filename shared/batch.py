"""A validated batch on its way in: its model, method and parameters, and its rows as they are read.

Light on purpose (no parser imported here): the lifecycle, which workers load too, takes batches.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from shared.errors import RowLimitError, UnprocessableError
from shared.registry import ModelEntry


@dataclass(frozen=True)
class Batch:
    """A batch whose parameters fit its model; its rows are validated as `blocks` is consumed."""

    model: ModelEntry
    method: str
    blocks: Iterator[np.ndarray | pa.Table]
    """Float64 arrays (the all-number fast path) or Arrow tables (typed columns, pass-through)."""
    metadata: dict[str, Any]
    callback_url: str | None = None
    passthrough: tuple[str, ...] = ()


def check_row_count(n_rows: int, max_rows: int) -> None:
    if n_rows == 0:
        raise UnprocessableError("the batch has no rows")
    if n_rows > max_rows:
        raise RowLimitError(f"the batch has {n_rows} rows; the limit (MAX_ROWS) is {max_rows}")


def limited_blocks(blocks: Iterator[np.ndarray | pa.Table], max_rows: int) -> Iterator[np.ndarray | pa.Table]:
    """`blocks`, raising 413 as soon as they pass `max_rows` rows and 422 if there are none."""
    total = 0
    for X in blocks:
        total += len(X)
        if total > max_rows:
            raise RowLimitError(f"the batch has more than {max_rows} rows, the limit (MAX_ROWS)")
        yield X
    if total == 0:
        raise UnprocessableError("the batch has no rows")
