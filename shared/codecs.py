"""Chunks to bytes and back: compressed Arrow IPC streams in Redis, never pickles.

Input chunks and results are Arrow tables: typed columns (strings, integers, booleans, floats)
travel as they are, and an IPC stream is read back without running any code. Chunks written
by earlier releases as NumPy `.npy` bytes are still read (they live until their TTL).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import cast

import numpy as np
import pyarrow as pa

COMPRESSION = "lz4"
"""LZ4 frames for tables with any column that is not a float: categories, integers and flags
shrink several times at hundreds of MB/s."""

NPY_MAGIC = b"\x93NUMPY"
_COMPRESSED = pa.ipc.IpcWriteOptions(compression=COMPRESSION)
_RAW = pa.ipc.IpcWriteOptions()
"""All-float tables go uncompressed: measured floats do not compress (LZ4 saved 0.3% on a
10,000 × 20 chunk and cost 0.7 ms each way), and the all-number path must keep its speed."""


def encode_table(table: pa.Table | pa.RecordBatch) -> memoryview:
    """The Arrow IPC stream of `table` (compressed unless every column is a float), as a view of Arrow's own
    buffer: Redis's client sends it without a copy."""
    floats = all(pa.types.is_floating(field.type) for field in table.schema)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema, options=_RAW if floats else _COMPRESSED) as writer:
        writer.write(table)
    return memoryview(sink.getvalue())


def decode_table(data: bytes | memoryview) -> pa.Table:
    """The table `encode_table` wrote; legacy `.npy` chunks come back as a table of columns c0, c1, …"""
    if bytes(data[: len(NPY_MAGIC)]) == NPY_MAGIC:
        return array_table(decode_array(bytes(data)))
    with pa.ipc.open_stream(pa.py_buffer(data)) as reader:
        return reader.read_all()


def array_table(X: np.ndarray, names: Sequence[str] | None = None) -> pa.Table:
    """A float (n_samples, n_features) array, or a 1-D array, as a table with one column per feature."""
    if X.ndim == 1:
        X = X.reshape(-1, 1)
    names = list(names) if names is not None else [f"c{j}" for j in range(X.shape[1])]
    columns = np.ascontiguousarray(X.T)  # one contiguous run per column, so Arrow takes it without a copy
    return pa.table([pa.array(columns[j]) for j in range(columns.shape[0])], names=names)


def float_matrix(table: pa.Table, names: Sequence[str]) -> np.ndarray:
    """The named columns as one float64 (n_samples, n_features) array; nulls become NaN.

    Column-major, so that each column is one contiguous copy: a sixth of the time of filling a row-major array
    (1M x 20: 0.10 s against 0.63 s); estimators take either layout."""
    X = np.empty((table.num_rows, len(names)), dtype=np.float64, order="F")
    for j, name in enumerate(names):
        X[:, j] = table.column(name).to_numpy()
    return X


def encode_array(array: np.ndarray) -> bytes:
    """The .npy bytes of `array` (the chunk form of earlier releases); object arrays become strings."""
    if array.dtype == object:
        array = np.asarray(array.tolist(), dtype=str)
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    return buffer.getvalue()


def decode_array(data: bytes) -> np.ndarray:
    """The array that `encode_array` wrote; never unpickles."""
    return cast(np.ndarray, np.load(io.BytesIO(data), allow_pickle=False))
