"""Model files: written in the skops format (no code runs when it is read), loaded checked and cached.

A skops file lists the types it holds; the types trusted when the version was registered are recorded
in its descriptor, and a file that needs any other type is refused. joblib (pickle) files still load,
but only when their SHA-256 matches the descriptor's: they can run code, so only registered bytes do.
"""

from __future__ import annotations

import io
import logging
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import joblib
import sklearn

from shared.errors import ModelLoadError

log = logging.getLogger(__name__)

FORMATS = ("skops", "joblib")
SUFFIXES = {"skops": ".skops", "joblib": ".joblib"}
DEFAULT_CACHE_SIZE = 8
"""Loaded models a process keeps, least recently used first out."""


def format_of(path: Path) -> str:
    return "skops" if path.suffix == ".skops" else "joblib"


def save(estimator: Any, path: Path) -> list[str]:
    """Write `estimator` to `path` in its suffix's format; the types a skops file needs trusted (sorted)."""
    if format_of(path) == "joblib":
        joblib.dump(estimator, path)
        return []
    import skops.io as sio  # here, not at the top: processes that never read a model need not hold it

    sio.dump(estimator, path)
    return sorted(sio.get_untrusted_types(file=path))


def read(path: Path, trusted: Sequence[str] | None) -> Any:
    """The estimator in `path`; a skops file whose types are not all in `trusted` is refused.

    `trusted=None` trusts whatever a skops file names (registration of a file the operator hands in)."""
    return loads(path.read_bytes(), format_of(path), trusted)


def loads(data: bytes, fmt: str, trusted: Sequence[str] | None) -> Any:
    """The estimator in `data`, a file's bytes in format `fmt` (skops or joblib); `trusted` as for `read`."""
    if fmt == "joblib":
        return joblib.load(io.BytesIO(data))
    import skops.io as sio  # here, not at the top: processes that never read a model need not hold it

    needed = sio.get_untrusted_types(data=data)
    if trusted is not None:
        unknown = sorted(set(needed) - set(trusted))
        if unknown:
            raise ModelLoadError(f"the skops file needs types its descriptor does not trust: {', '.join(unknown)}")
    return sio.loads(data, trusted=list(needed))


class ModelCache:
    """At most `size` loaded models, least recently used first out, so new versions do not grow memory forever."""

    def __init__(self, size: int = DEFAULT_CACHE_SIZE) -> None:
        self.size = size
        self._models: OrderedDict[tuple[str, str], Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str], load: Any) -> Any:
        """The model under `key`, calling `load()` when it is not held (outside the lock: loads are slow)."""
        with self._lock:
            if key in self._models:
                self._models.move_to_end(key)
                return self._models[key]
        model = load()
        with self._lock:
            self._models[key] = model
            self._models.move_to_end(key)
            while len(self._models) > max(self.size, 1):
                evicted, _ = self._models.popitem(last=False)
                log.info("model cache full (MODEL_CACHE_SIZE=%d): dropped %s", self.size, evicted[0])
        return model

    def __len__(self) -> int:
        return len(self._models)

    def keys(self) -> list[tuple[str, str]]:
        with self._lock:
            return list(self._models)


def version_warning(saved_with: str, name: str) -> None:
    if saved_with and saved_with != sklearn.__version__:
        log.warning("model %s was saved with scikit-learn %s; this process runs %s", name, saved_with,
                    sklearn.__version__)
