"""Estimators for the fault suite, importable by the worker processes (PYTHONPATH is the repo root).

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
