"""Registering a fitted estimator as the next version of a model: checks, schema inference, the write.

What `predq-models register` does; the model store stays a folder, and no HTTP route takes a model.
"""

from __future__ import annotations

import json
import os
import shutil
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sklearn.exceptions import InconsistentVersionWarning, NotFittedError
from sklearn.utils.validation import check_is_fitted

from shared import artifacts
from shared.registry import DESCRIPTOR_FILE, ModelEntry, read_entry, write_model
from shared.schema import Schema, infer_schema, numeric_schema


class RegistrationError(ValueError):
    """A file that cannot be registered; the message says why."""


def load_for_registration(path: Path, allow_version_mismatch: bool) -> Any:
    """The estimator in a joblib or skops file the operator hands in; refused when unfitted, or pickled with
    another scikit-learn version (unless allowed: it may load, and score differently)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", InconsistentVersionWarning)
        estimator = artifacts.read(path, trusted=None)
    mismatched = [w for w in caught if issubclass(w.category, InconsistentVersionWarning)]
    if mismatched and not allow_version_mismatch:
        raise RegistrationError(f"{path.name} was saved with another scikit-learn version "
                                f"({mismatched[0].message}); pass --allow-version-mismatch to register it anyway")
    try:
        check_is_fitted(estimator)
    except NotFittedError:
        raise RegistrationError(f"{path.name} holds an estimator that is not fitted") from None
    except TypeError as exc:
        raise RegistrationError(f"{path.name} does not hold a scikit-learn style estimator: {exc}") from None
    return estimator


def read_sample(path: Path) -> Any:
    """A sample of the model's input (CSV or Parquet) as a pandas DataFrame."""
    import pandas as pd  # only registration reads samples

    if path.suffix in (".parquet", ".pq"):
        return pd.read_parquet(path)
    return pd.read_csv(path)


def infer_model_schema(estimator: Any, sample: Any | None, nullable: Sequence[str] = ()) -> Schema:
    """The schema: the sample's columns (in `feature_names_in_` order when the estimator has it) and dtypes,
    nullable where the sample has missing values or `nullable` says so; all numbers for array models."""
    names = getattr(estimator, "feature_names_in_", None)
    if sample is None:
        n_features = getattr(estimator, "n_features_in_", None)
        if names is None and n_features is None:
            raise RegistrationError("the estimator names neither its columns nor their number; give --sample")
        columns = [str(n) for n in names] if names is not None else [f"x{i}" for i in range(int(n_features or 0))]
        return numeric_schema(columns, bool(nullable))
    columns = [str(n) for n in names] if names is not None else [str(c) for c in sample.columns]
    missing = [c for c in columns if c not in sample.columns]
    if missing:
        raise RegistrationError(f"the sample lacks the model's columns {', '.join(missing)}")
    with_nulls = [c for c in columns if sample[c].isna().any()]
    return infer_schema([(c, sample[c].dtype) for c in columns], [*with_nulls, *nullable])


def check_scores(estimator: Any, sample: Any, schema: Schema) -> None:
    """The estimator scores the sample's first rows (a schema that does not fit it fails here, not in a job)."""
    head = sample[[c.name for c in schema]].head(5)
    X = head if getattr(estimator, "feature_names_in_", None) is not None else head.to_numpy()
    try:
        estimator.predict(X)
    except Exception as exc:
        raise RegistrationError(f"the estimator cannot score the sample: {type(exc).__name__}: {exc}") from exc


def next_version(model_dir: Path, name: str) -> int:
    folder = model_dir / name
    versions = [int(p.name) for p in folder.iterdir() if p.name.isdigit()] if folder.is_dir() else []
    return max(versions, default=0) + 1


def register(model_dir: Path, name: str, estimator: Any, schema: Schema, fmt: str = "skops") -> ModelEntry:
    """Write `estimator` as the next version of `name`: in a hidden folder first, then renamed into place,
    so a registry never sees half a version (and two registrations never take one number)."""
    version = next_version(model_dir, name)
    staging = model_dir / name / f".staging-{os.getpid()}-{version}"
    shutil.rmtree(staging, ignore_errors=True)
    entry = write_model(staging.parent, staging.name, version, estimator, [c.name for c in schema],
                        any(c.nullable for c in schema), schema, fmt)
    source = entry.path.parent
    descriptor = json.loads((source / DESCRIPTOR_FILE).read_text())
    (source / DESCRIPTOR_FILE).write_text(json.dumps({**descriptor, "name": name}, indent=2) + "\n")
    target = model_dir / name / str(version)
    try:
        os.rename(source, target)  # fails when the folder exists: rename(2) never replaces a non-empty one
    except OSError as exc:
        raise RegistrationError(f"version {version} of {name} appeared meanwhile; register again") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return read_entry(name, version, target)
