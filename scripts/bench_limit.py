"""The one-process and the two-core limits of `make bench`: parse and predict, nothing else.

The *one-process limit* parses a whole body with the API's own parser and calls `model.predict` on the array.
The *two-core limit* is what two cores doing nothing else manage: two processes start together, each parses
its half of the same rows (the same format, the same number text) and calls `predict`; the figure is the
wall time until both are done, the best of `repeats`. Each process parses and scores on one thread, as a
worker scores.
"""

from __future__ import annotations

import io
import multiprocessing
import time
from collections.abc import Callable
from multiprocessing.synchronize import Barrier
from typing import Any

import numpy as np
import pyarrow as pa
from threadpoolctl import threadpool_limits

from shared.parsing import bodies
from shared.parsing.csv_stream import iter_csv
from shared.parsing.parquet import iter_parquet
from shared.parsing.rows import rows_to_array

FEATURES = [f"f{i}" for i in range(20)]
BARRIER_TIMEOUT_SECONDS = 600.0


def parse_in_process(fmt: str, body: bytes) -> np.ndarray:
    """The API's own parsing of `body` (a predq body: JSON is `{"instances": [...]}`), in this process."""
    if fmt == "json":  # as the API's JSON path: the collector paused while the rows are built
        with bodies.gc_paused():
            doc = bodies.load_json(body)
            return rows_to_array(doc["instances"], FEATURES, False, bodies.may_hold_booleans(body))
    if fmt == "csv":
        return np.concatenate(list(iter_csv(io.BytesIO(body), FEATURES, False)))
    return np.concatenate(list(iter_parquet(io.BytesIO(body), FEATURES, False)))


def best_of(repeats: int, work: Callable[[], Any]) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return min(times)


def one_process_limit(model: Any, fmt: str, body: bytes, n_rows: int, repeats: int) -> float:
    """Rows per second when one process parses the body and calls model.predict on the array."""
    with threadpool_limits(1):
        return n_rows / best_of(repeats, lambda: model.predict(parse_in_process(fmt, body)))


def _half(model: Any, fmt: str, body: bytes, repeats: int, start: Barrier, done: Barrier) -> None:
    pa.set_cpu_count(1)  # one core per process: Arrow's parsers would otherwise start a thread per core
    with threadpool_limits(1):
        model.predict(parse_in_process(fmt, body))  # warm: the first call pays for imports
        for _ in range(repeats):
            start.wait(BARRIER_TIMEOUT_SECONDS)
            model.predict(parse_in_process(fmt, body))
            done.wait(BARRIER_TIMEOUT_SECONDS)


def two_core_limit(model: Any, fmt: str, halves: tuple[bytes, bytes], n_rows: int, repeats: int) -> float:
    """Rows per second of two processes, each parsing one of `halves` and predicting, started together."""
    context = multiprocessing.get_context("fork")  # the children share the model and bodies, unpickled
    start, done = context.Barrier(3), context.Barrier(3)
    children = [context.Process(target=_half, args=(model, fmt, half, repeats, start, done), daemon=True)
                for half in halves]
    for child in children:
        child.start()
    times = []
    try:
        for _ in range(repeats):
            start.wait(BARRIER_TIMEOUT_SECONDS)
            started = time.perf_counter()
            done.wait(BARRIER_TIMEOUT_SECONDS)
            times.append(time.perf_counter() - started)
    finally:
        for child in children:
            child.join(10)
            if child.is_alive():
                child.terminate()
                child.join()
    return n_rows / min(times)
