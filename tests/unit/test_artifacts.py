"""Model files: skops round trips, types a descriptor does not trust, joblib by hash, the LRU cache."""

from __future__ import annotations

import collections
import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import FunctionTransformer

from shared.artifacts import ModelCache
from shared.errors import ModelLoadError
from shared.registry import DESCRIPTOR_FILE, ModelRegistry, load_estimator, set_cache_size, write_model

X = np.array([[0.0, 1.0], [1.0, 0.0], [0.5, 0.5], [0.2, 0.9]])
Y = np.array([0, 1, 1, 0])


def test_a_skops_version_round_trips_with_its_trusted_types(tmp_path: Path) -> None:
    model = LogisticRegression().fit(X, Y)
    entry = write_model(tmp_path, "lr", 1, model, ["a", "b"], False)
    assert entry.path.suffix == ".skops" and entry.trusted_types is not None
    back = load_estimator(entry)
    np.testing.assert_array_equal(back.predict_proba(X), model.predict_proba(X))


def test_a_skops_file_needing_an_untrusted_type_is_refused(tmp_path: Path) -> None:
    # A FunctionTransformer holding a class skops does not know: the file lists it as a type to trust.
    model = FunctionTransformer(collections.OrderedDict).fit(X)
    write_model(tmp_path, "fn", 1, model, ["a", "b"], False)
    descriptor_path = tmp_path / "fn" / "1" / DESCRIPTOR_FILE
    descriptor = json.loads(descriptor_path.read_text())
    assert "collections.OrderedDict" in descriptor["trusted_types"]
    descriptor["trusted_types"] = [t for t in descriptor["trusted_types"] if t != "collections.OrderedDict"]
    descriptor_path.write_text(json.dumps(descriptor))
    entry = ModelRegistry(tmp_path, "fn").get("fn")
    with pytest.raises(ModelLoadError, match="does not trust"):
        load_estimator(entry)


def test_a_joblib_version_loads_when_its_hash_matches(tmp_path: Path) -> None:
    model = LogisticRegression().fit(X, Y)
    entry = write_model(tmp_path, "old", 1, model, ["a", "b"], False, fmt="joblib")
    assert entry.path.name == "model.joblib" and entry.trusted_types is None
    np.testing.assert_array_equal(load_estimator(entry).predict(X), model.predict(X))
    altered = write_model(tmp_path, "old", 2, model, ["a", "b"], False, fmt="joblib")
    altered.path.write_bytes(altered.path.read_bytes() + b"\0")
    with pytest.raises(ModelLoadError, match="SHA-256"):
        load_estimator(altered)


def test_the_cache_keeps_the_most_recently_used_models() -> None:
    cache = ModelCache(size=2)
    loads: list[str] = []

    def loader(name: str) -> object:
        return lambda: loads.append(name) or name

    for name in ("a", "b", "a", "c", "a", "b"):
        cache.get((name, "sha"), loader(name))
    assert loads == ["a", "b", "c", "b"]
    assert cache.keys() == [("a", "sha"), ("b", "sha")]


def test_model_cache_size_bounds_the_process_cache(tmp_path: Path) -> None:
    set_cache_size(1)
    try:
        model = LogisticRegression().fit(X, Y)
        first = write_model(tmp_path, "m", 1, model, ["a", "b"], False)
        second = write_model(tmp_path, "m", 2, model, ["a", "b"], False)
        assert load_estimator(first) is load_estimator(first)
        one = load_estimator(first)
        load_estimator(second)
        assert load_estimator(first) is not one  # evicted by the second, loaded again
    finally:
        set_cache_size(8)
