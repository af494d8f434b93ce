"""Estimators for the tests, importable by the stack's worker processes (PYTHONPATH is the repo root).

Keep this module light: every worker process that scores one of these imports it.
"""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import numpy as np

POISON_SENTINEL = 666.0
"""A row whose first feature is this kills the process that scores it."""


class SlowModel:
    """Scores exactly as `inner`, after `delay` seconds per call: chunks long enough for a fault to land mid-chunk."""

    def __init__(self, inner: Any, delay: float) -> None:
        self.inner = inner
        self.delay = delay
        self.classes_ = inner.classes_

    def predict(self, X: np.ndarray) -> np.ndarray:
        time.sleep(self.delay)
        result: np.ndarray = self.inner.predict(X)
        return result


class PoisonModel:
    """A regressor answering each row's sum, that SIGKILLs its own process on a row starting with the sentinel."""

    def predict(self, X: np.ndarray) -> np.ndarray:
        if np.any(X[:, 0] == POISON_SENTINEL):
            os.kill(os.getpid(), signal.SIGKILL)
        result: np.ndarray = X.sum(axis=1)
        return result


GATE_SENTINEL = 777.0
"""A chunk holding a row whose first feature is this (plus a gate number, 0 to 9) waits for that gate."""

GATE_FEATURES = ["f0", "f1", "f2", "f3"]


def gate_path(gate: str, number: int) -> str:
    """Gate 0 is the file `gate` itself; gate k, `gate.k`."""
    return gate if number == 0 else f"{gate}.{number}"


class GatedModel:
    """A regressor answering each row's sum; a chunk with a row starting with GATE_SENTINEL + k waits while the
    file of gate k exists. Tests hold workers busy (and the jobs behind them queued) for exactly as long as they
    need, however fast the machine is."""

    def __init__(self, gate: str) -> None:
        self.gate = gate

    def predict(self, X: np.ndarray) -> np.ndarray:
        numbers = X[:, 0] - GATE_SENTINEL
        for number in {int(k) for k in numbers if 0 <= k < 10 and k == int(k)}:
            while os.path.exists(gate_path(self.gate, number)):
                time.sleep(0.005)
        result: np.ndarray = X.sum(axis=1)
        return result


class FailingModel:
    """A regressor that always raises, with a message full of what a job's problem must never show: a file
    path, a Redis URL and this host's name (tests/integration/test_leaks.py looks for each)."""

    def predict(self, X: np.ndarray) -> np.ndarray:
        import socket

        raise RuntimeError(f"cannot reach redis://:hunter2@{socket.gethostname()}:6379/0 from {__file__}")
