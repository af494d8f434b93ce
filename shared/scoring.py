"""Scoring an array with a fitted estimator: pure, no I/O."""

from __future__ import annotations

from typing import Any

import numpy as np


def score(estimator: Any, method: str, X: np.ndarray) -> np.ndarray:
    """`estimator.<method>(X)` as an array with one entry (or row) per sample."""
    result = np.asarray(getattr(estimator, method)(X))
    if result.shape[0] != X.shape[0]:
        raise ValueError(f"{method} answered {result.shape[0]} rows for {X.shape[0]}")
    return result


def to_json_values(result: np.ndarray) -> list[Any]:
    """Results as plain JSON values: labels stay labels, numbers stay numbers."""
    return result.tolist()  # type: ignore[no-any-return]
