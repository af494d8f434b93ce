"""Arrays to bytes and back: the compact binary form chunks and results take in Redis."""

from __future__ import annotations

import io
from typing import cast

import numpy as np


def encode_array(array: np.ndarray) -> bytes:
    """The .npy bytes of `array`; object arrays become fixed-width strings first."""
    if array.dtype == object:
        array = np.asarray(array.tolist(), dtype=str)
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    return buffer.getvalue()


def decode_array(data: bytes) -> np.ndarray:
    """The array that `encode_array` wrote; never unpickles."""
    return cast(np.ndarray, np.load(io.BytesIO(data), allow_pickle=False))
