"""The model store on disk: versions, descriptors, rescans and checked loading."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LinearRegression

from shared.errors import ModelNotFoundError
from shared.registry import (
    DESCRIPTOR_FILE,
    ModelLoadError,
    ModelRegistry,
    file_sha256,
    load_estimator,
    model_methods,
    write_model,
)
from tests.unit.helpers import BREAST_CANCER_FEATURES, DIABETES_FEATURES, IRIS_FEATURES, iris_rows


def test_names_are_every_model_in_the_store(registry: ModelRegistry) -> None:
    assert registry.names() == ["breast-cancer", "diabetes", "iris"]


def test_versions_are_oldest_first_and_get_gives_the_latest(registry: ModelRegistry) -> None:
    assert [e.version for e in registry.versions("iris")] == [1, 2]
    assert registry.get("iris").version == 2
    assert registry.get("iris", 1).version == 1


def test_latest_entries_give_one_entry_per_model_at_its_latest_version(registry: ModelRegistry) -> None:
    assert [(e.name, e.version) for e in registry.latest_entries()] == [("breast-cancer", 1), ("diabetes", 1),
                                                                         ("iris", 2)]


def test_an_unknown_model_is_not_found(registry: ModelRegistry) -> None:
    with pytest.raises(ModelNotFoundError) as caught:
        registry.get("no-such-model")
    assert caught.value.status == 404


def test_an_unknown_version_is_not_found_and_the_error_lists_the_versions(registry: ModelRegistry) -> None:
    with pytest.raises(ModelNotFoundError) as caught:
        registry.get("iris", 3)
    assert "1, 2" in caught.value.detail


def test_entries_describe_each_model(registry: ModelRegistry) -> None:
    iris = registry.get("iris")
    assert iris.task == "classification"
    assert iris.features == tuple(IRIS_FEATURES)
    assert iris.classes == ("setosa", "versicolor", "virginica")
    assert iris.methods == ("predict", "predict_proba", "decision_function")
    assert not iris.handles_missing
    diabetes = registry.get("diabetes")
    assert (diabetes.task, diabetes.classes, diabetes.methods) == ("regression", None, ("predict",))
    assert diabetes.features == tuple(DIABETES_FEATURES)
    cancer = registry.get("breast-cancer")
    assert cancer.handles_missing
    assert cancer.features == tuple(BREAST_CANCER_FEATURES)
    assert cancer.classes == (0, 1)


def test_the_sha256_is_the_model_files(registry: ModelRegistry) -> None:
    for entry in registry.latest_entries():
        assert entry.sha256 == file_sha256(entry.path)
        assert len(entry.sha256) == 64


def test_public_entry_has_the_documented_fields(registry: ModelRegistry) -> None:
    public = registry.get("iris", 1).to_public(default=True)
    assert public == {"name": "iris", "version": "1", "sha256": registry.get("iris", 1).sha256,
                      "task": "classification", "features": IRIS_FEATURES,
                      "classes": ["setosa", "versicolor", "virginica"],
                      "methods": ["predict", "predict_proba", "decision_function"], "handles_missing": False,
                      "default": True,
                      "schema": [{"name": n, "type": "number", "nullable": False} for n in IRIS_FEATURES]}
    assert registry.get("iris", 1).ref() == {"name": "iris", "version": "1", "sha256": public["sha256"]}


def test_a_new_version_is_seen_without_a_restart(own_model_dir: Path) -> None:
    registry = ModelRegistry(own_model_dir, "iris")
    assert registry.get("iris").version == 2
    estimator = DummyClassifier(strategy="most_frequent").fit(iris_rows(3), ["a", "b", "b"])
    write_model(own_model_dir, "iris", 10, estimator, IRIS_FEATURES, False)
    assert [e.version for e in registry.versions("iris")] == [1, 2, 10]
    assert registry.get("iris").version == 10


def test_a_new_model_is_seen_without_a_restart(own_model_dir: Path) -> None:
    registry = ModelRegistry(own_model_dir, "iris")
    assert "line" not in registry.names()
    write_model(own_model_dir, "line", 1, LinearRegression().fit([[0.0], [1.0]], [0.0, 2.0]), ["x"], False)
    assert "line" in registry.names()
    assert registry.get("line").task == "regression"


def test_a_broken_version_folder_is_skipped(own_model_dir: Path) -> None:
    broken = own_model_dir / "iris" / "3"
    broken.mkdir()
    (broken / DESCRIPTOR_FILE).write_text("{not json")
    (own_model_dir / "iris" / "notes").mkdir()
    registry = ModelRegistry(own_model_dir, "iris")
    assert [e.version for e in registry.versions("iris")] == [1, 2]


def test_a_missing_model_dir_serves_no_models(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path / "absent", "iris")
    assert registry.names() == []
    with pytest.raises(ModelNotFoundError):
        registry.get("iris")


def test_load_estimator_gives_the_fitted_model(registry: ModelRegistry) -> None:
    estimator = load_estimator(registry.get("iris", 1))
    assert estimator.predict(np.asarray(iris_rows(1))).tolist() == ["setosa"]
    assert load_estimator(registry.get("iris", 1)) is estimator


def test_load_estimator_refuses_an_altered_file(own_model_dir: Path) -> None:
    registry = ModelRegistry(own_model_dir, "iris")
    entry = registry.get("diabetes")
    with open(entry.path, "ab") as f:
        f.write(b"tampered")
    with pytest.raises(ModelLoadError, match="SHA-256"):
        load_estimator(entry)


def test_load_estimator_refuses_a_missing_file(own_model_dir: Path) -> None:
    entry = ModelRegistry(own_model_dir, "iris").get("breast-cancer")
    os.remove(entry.path)
    with pytest.raises(ModelLoadError, match="missing"):
        load_estimator(entry)


def test_model_methods_lists_only_what_the_estimator_offers() -> None:
    assert model_methods(LinearRegression()) == ["predict"]
    assert model_methods(DummyClassifier()) == ["predict", "predict_proba"]


def test_write_model_writes_a_descriptor_that_reads_back(tmp_path: Path) -> None:
    estimator = DummyClassifier(strategy="prior").fit([[0.0, 1.0], [1.0, 0.0]], [3, 5])
    entry = write_model(tmp_path, "dummy", 4, estimator, ["a", "b"], True)
    descriptor = json.loads((tmp_path / "dummy" / "4" / DESCRIPTOR_FILE).read_text())
    assert descriptor["sha256"] == file_sha256(tmp_path / "dummy" / "4" / "model.skops")
    assert descriptor["format"] == "skops" and isinstance(descriptor["trusted_types"], list)
    assert descriptor["classes"] == [3, 5]
    assert (entry.name, entry.version, entry.handles_missing, entry.classes) == ("dummy", 4, True, (3, 5))
    assert ModelRegistry(tmp_path, "dummy").get("dummy") == entry


def test_a_version_scanned_while_it_was_being_written_is_seen_once_complete(own_model_dir: Path) -> None:
    registry = ModelRegistry(own_model_dir, "iris")
    (own_model_dir / "iris" / "3").mkdir()
    assert [e.version for e in registry.versions("iris")] == [1, 2]
    estimator = DummyClassifier(strategy="most_frequent").fit(iris_rows(3), ["a", "b", "b"])
    write_model(own_model_dir, "iris", 3, estimator, IRIS_FEATURES, False)
    assert registry.get("iris").version == 3


def test_a_descriptor_without_a_schema_gets_an_all_number_one(tmp_path: Path) -> None:
    estimator = DummyClassifier(strategy="prior").fit([[0.0, 1.0], [1.0, 0.0]], [3, 5])
    entry = write_model(tmp_path, "old", 1, estimator, ["a", "b"], True, fmt="joblib")
    path = entry.path.parent / DESCRIPTOR_FILE
    descriptor = json.loads(path.read_text())
    for field in ("schema", "format", "trusted_types"):
        descriptor.pop(field)
    path.write_text(json.dumps(descriptor))
    old = ModelRegistry(tmp_path, "old").get("old")
    assert [(c.name, c.type, c.nullable) for c in old.schema] == [("a", "number", True), ("b", "number", True)]
    assert old.fast_path and old.to_public(False)["schema"][0] == {"name": "a", "type": "number", "nullable": True}
