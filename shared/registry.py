"""The model store: <MODEL_DIR>/<name>/<version>/ holding model.joblib and model.json."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sklearn

from shared import artifacts, model_files
from shared.artifacts import ModelCache
from shared.errors import ChunkFailedError, ModelLoadError, ModelNotFoundError
from shared.schema import Schema, SchemaError, is_all_number, numeric_schema, parse_schema

MODEL_FILE = "model.joblib"
"""The file name of descriptors that do not name theirs (written before skops)."""
DESCRIPTOR_FILE = "model.json"
METHODS = ("predict", "predict_proba", "decision_function")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelEntry:
    """One version of one model, as its descriptor describes it."""

    name: str
    version: int
    model_dir: Path
    """The MODEL_DIR the entry was read from: its file is loaded only from inside it."""
    folder: Path
    file: str
    """The descriptor's `file`: a bare name in `folder` (anything else is refused when loaded)."""
    sha256: str
    task: str
    features: tuple[str, ...]
    classes: tuple[Any, ...] | None
    methods: tuple[str, ...]
    handles_missing: bool
    sklearn_version: str
    schema: Schema = ()
    trusted_types: tuple[str, ...] | None = None
    """The types a skops file may hold; None for joblib files (their hash is what is trusted)."""

    @property
    def path(self) -> Path:
        return self.folder / self.file

    @property
    def label(self) -> str:
        """The model as messages name it (never with a path)."""
        return f"{self.name} v{self.version}"

    @property
    def n_features(self) -> int:
        return len(self.features)

    @property
    def fast_path(self) -> bool:
        """Every column a number, all nullable or none: rows take the float64 array fast path."""
        return is_all_number(self.schema) and len({c.nullable for c in self.schema}) <= 1

    def ref(self) -> dict[str, str]:
        """The exact artifact, as a job names it."""
        return {"name": self.name, "version": str(self.version), "sha256": self.sha256}

    def to_public(self, default: bool) -> dict[str, Any]:
        return {"name": self.name, "version": str(self.version), "sha256": self.sha256, "task": self.task,
                "features": list(self.features),
                "classes": list(self.classes) if self.classes is not None else None,
                "methods": list(self.methods), "handles_missing": self.handles_missing, "default": default,
                "schema": [column.to_public() for column in self.schema]}


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_entry(name: str, version: int, folder: Path) -> ModelEntry:
    """The entry a version folder's descriptor describes."""
    desc = json.loads((folder / DESCRIPTOR_FILE).read_text())
    classes = desc.get("classes")
    features = tuple(desc["features"])
    # Descriptors written before schemas existed describe array models: all numbers, nullable as a whole.
    schema = (parse_schema(desc["schema"], features) if "schema" in desc
              else numeric_schema(features, bool(desc["handles_missing"])))
    return ModelEntry(name=name, version=version, model_dir=folder.parent.parent, folder=folder,
                      file=str(desc.get("file", MODEL_FILE)),
                      sha256=desc["sha256"], task=desc["task"], features=features,
                      classes=tuple(classes) if classes is not None else None,
                      methods=tuple(desc["methods"]), handles_missing=any(c.nullable for c in schema),
                      sklearn_version=desc.get("sklearn_version", ""), schema=schema,
                      trusted_types=tuple(desc.get("trusted_types") or ()) if desc.get("format") == "skops" else None)


class ModelRegistry:
    """Every model version under one folder, rescanned when the folder changes."""

    def __init__(self, model_dir: str | Path, default_model: str) -> None:
        self.root = Path(model_dir)
        self.default_model = default_model
        self._lock = threading.Lock()
        self._signature: tuple[Any, ...] | None = None
        self._models: dict[str, list[ModelEntry]] = {}

    def names(self) -> list[str]:
        return sorted(self._scan())

    def versions(self, name: str) -> list[ModelEntry]:
        """Every version of `name`, oldest first."""
        versions = self._scan().get(name)
        if not versions:
            raise ModelNotFoundError(f"no model named {name!r}; GET /models lists them")
        return versions

    def get(self, name: str, version: int | None = None) -> ModelEntry:
        """The named version, or the latest (highest) when `version` is None."""
        versions = self.versions(name)
        if version is None:
            return versions[-1]
        for entry in versions:
            if entry.version == version:
                return entry
        raise ModelNotFoundError(f"model {name!r} has no version {version}; it has "
                                 f"{', '.join(str(e.version) for e in versions)}")

    def latest_entries(self) -> list[ModelEntry]:
        return [versions[-1] for _, versions in sorted(self._scan().items())]

    def _scan(self) -> dict[str, list[ModelEntry]]:
        signature = self._tree_signature()
        with self._lock:
            if signature != self._signature:
                self._models = self._read_tree()
                self._signature = signature
            return self._models

    def _tree_signature(self) -> tuple[Any, ...]:
        """Every version folder's descriptor and its modification time: a new or finished version changes it."""
        stamps: list[tuple[str, int]] = []
        try:
            with os.scandir(self.root) as names:
                for name in names:
                    if name.is_dir():
                        stamps.extend(_descriptor_stamps(name.path))
        except FileNotFoundError:
            return ()
        return tuple(sorted(stamps))

    def _read_tree(self) -> dict[str, list[ModelEntry]]:
        models: dict[str, list[ModelEntry]] = {}
        if not self.root.is_dir():
            log.warning("MODEL_DIR %s does not exist: no models to serve", self.root)
            return models
        for name_dir in sorted(p for p in self.root.iterdir() if p.is_dir()):
            entries = [_read_version(name_dir.name, v) for v in name_dir.iterdir() if v.name.isdigit()]
            found = sorted((e for e in entries if e is not None), key=lambda e: e.version)
            if found:
                models[name_dir.name] = found
        return models


def _descriptor_stamps(name_dir: str) -> list[tuple[str, int]]:
    stamps = []
    with os.scandir(name_dir) as versions:
        for version in versions:
            try:
                stamps.append((version.path, os.stat(os.path.join(version.path, DESCRIPTOR_FILE)).st_mtime_ns))
            except (FileNotFoundError, NotADirectoryError):
                stamps.append((version.path, -1))
    return stamps


def _read_version(name: str, folder: Path) -> ModelEntry | None:
    try:
        return read_entry(name, int(folder.name), folder)
    except (OSError, ValueError, KeyError, SchemaError) as exc:
        log.warning("skipping model folder %s: %s", folder, exc)
        return None


_cache = ModelCache()


def set_cache_size(size: int) -> None:
    """MODEL_CACHE_SIZE: how many loaded models this process keeps."""
    _cache.size = size


def load_estimator(entry: ModelEntry) -> Any:
    """The fitted estimator behind `entry`, loaded once (while cached) and checked against its hash."""
    return _cache.get((str(entry.path), entry.sha256), lambda: _load_checked(entry))


def _load_checked(entry: ModelEntry) -> Any:
    """Read once from inside MODEL_DIR, hashed, then loaded from those very bytes (see shared.model_files)."""
    data = model_files.read_verified(entry.model_dir, entry.folder, entry.file, entry.sha256, entry.label)
    artifacts.version_warning(entry.sklearn_version, entry.label)
    try:
        return artifacts.loads(data, artifacts.format_of(Path(entry.file)), entry.trusted_types)
    except ModelLoadError:
        raise
    except Exception as exc:  # a file that hashes right but does not load (a damaged registration, a missing class)
        log.warning("model %s: %s does not load: %s: %s", entry.label, entry.path, type(exc).__name__, exc)
        raise ModelLoadError(f"the file of model {entry.label} does not load ({type(exc).__name__})") from exc


def model_methods(estimator: Any) -> list[str]:
    """The scoring methods `estimator` offers, in a fixed order."""
    found = []
    for method in METHODS:
        try:
            if callable(getattr(estimator, method)):
                found.append(method)
        except AttributeError:
            continue
    return found


def write_model(model_dir: str | Path, name: str, version: int, estimator: Any, features: list[str],
                handles_missing: bool, schema: Schema | None = None, fmt: str = "skops") -> ModelEntry:
    """Save `estimator` as version `version` of `name`, with its descriptor (all-number schema unless given).

    The descriptor is written last (and atomically): a reader never sees a version without its file."""
    schema = schema or numeric_schema(features, handles_missing)
    folder = Path(model_dir) / name / str(version)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / ("model" + artifacts.SUFFIXES[fmt])
    trusted = artifacts.save(estimator, path)
    classes = getattr(estimator, "classes_", None)
    descriptor = {
        "name": name, "version": version, "file": path.name, "format": fmt, "trusted_types": trusted,
        "sha256": file_sha256(path),
        "task": "classification" if classes is not None else "regression",
        "features": [c.name for c in schema], "classes": classes.tolist() if classes is not None else None,
        "methods": model_methods(estimator), "handles_missing": any(c.nullable for c in schema),
        "schema": [c.to_public() for c in schema], "sklearn_version": sklearn.__version__,
    }
    tmp = folder / (DESCRIPTOR_FILE + ".tmp")
    tmp.write_text(json.dumps(descriptor, indent=2) + "\n")
    tmp.replace(folder / DESCRIPTOR_FILE)
    for stale in (folder / ("model" + suffix) for suffix in artifacts.SUFFIXES.values()):
        if stale != path:  # a version rewritten in another format: one model file per folder
            stale.unlink(missing_ok=True)
    return read_entry(name, version, folder)


def job_entry(registry: ModelRegistry, model: Mapping[str, str]) -> ModelEntry:
    """The exact model a job was accepted with (name, version, SHA-256), as this process's MODEL_DIR holds it;
    ChunkFailedError when it holds another file or none."""
    name, version, sha = model["name"], int(model["version"]), model["sha256"]
    try:
        entry = registry.get(name, version)
    except Exception as exc:
        raise ChunkFailedError(f"model {name} v{version} is not in this worker's MODEL_DIR") from exc
    if entry.sha256 != sha:
        raise ChunkFailedError(f"model {name} v{version} in this worker's MODEL_DIR is another file "
                               f"(SHA-256 {entry.sha256}, the job needs {sha})")
    return entry
