"""Model files load only from inside MODEL_DIR, and the bytes hashed are the bytes loaded."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

import shared.artifacts
from shared.errors import ModelLoadError
from shared.model_files import is_bare_name
from shared.registry import DESCRIPTOR_FILE, ModelEntry, ModelRegistry, load_estimator, write_model
from tests.unit.conftest import StackFactory
from tests.unit.helpers import iris_rows

X = np.array([[0.0, 1.0], [1.0, 0.0], [0.5, 0.5], [0.2, 0.9]])
Y = np.array([0, 1, 1, 0])


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """A MODEL_DIR with lr v1 (skops) and, beside it, a folder outside MODEL_DIR holding a copy of its file."""
    root = tmp_path / "models"
    write_model(root, "lr", 1, LogisticRegression().fit(X, Y), ["a", "b"], False)
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.copy(root / "lr" / "1" / "model.skops", outside / "model.skops")
    return root


def entry_of(root: Path) -> ModelEntry:
    return ModelRegistry(root, "lr").get("lr", 1)


def set_descriptor_file(root: Path, file: str) -> None:
    path = root / "lr" / "1" / DESCRIPTOR_FILE
    path.write_text(json.dumps({**json.loads(path.read_text()), "file": file}))


def assert_refused_without_a_path(entry: ModelEntry, why: str) -> None:
    with pytest.raises(ModelLoadError, match=why) as caught:
        load_estimator(entry)
    assert "lr v1" in caught.value.detail and "/" not in caught.value.detail


@pytest.mark.parametrize("file", ["../../../outside/model.skops", "../1/model.skops", "sub/model.skops",
                                  "/etc/passwd", "..", "", "..\\model.skops"])
def test_a_descriptor_naming_anything_but_a_bare_file_name_is_refused(store: Path, file: str) -> None:
    set_descriptor_file(store, file)
    assert_refused_without_a_path(entry_of(store), "outside its version folder")


def test_bare_names_are_plain_file_names_only() -> None:
    assert is_bare_name("model.skops") and is_bare_name("model.v2.joblib")
    for name in ("a/b", "/a", "..", ".", "", "a\\b", "C:\\m.skops"):
        assert not is_bare_name(name)


def test_a_model_file_symlinked_out_of_model_dir_is_refused(store: Path, caplog: pytest.LogCaptureFixture) -> None:
    target = store / "lr" / "1" / "model.skops"
    target.unlink()
    target.symlink_to(store.parent / "outside" / "model.skops")  # the very bytes registered: only where differs
    with caplog.at_level(logging.WARNING, logger="shared.model_files"):
        assert_refused_without_a_path(entry_of(store), "leads outside MODEL_DIR")
    assert "outside MODEL_DIR" in caplog.text and str(store.parent / "outside") in caplog.text


def test_a_version_folder_symlinked_out_of_model_dir_is_refused(store: Path) -> None:
    entry = entry_of(store)
    shutil.move(store / "lr" / "1", store.parent / "outside" / "1")
    (store / "lr" / "1").symlink_to(store.parent / "outside" / "1")
    assert_refused_without_a_path(entry, "leads outside MODEL_DIR")


def test_a_symlink_that_stays_inside_model_dir_loads(store: Path) -> None:
    shared_file = store / "blobs" / "lr.skops"
    shared_file.parent.mkdir()
    shutil.move(store / "lr" / "1" / "model.skops", shared_file)
    (store / "lr" / "1" / "model.skops").symlink_to(shared_file)
    np.testing.assert_array_equal(load_estimator(entry_of(store)).predict(X), LogisticRegression().fit(X, Y).predict(X))


def test_the_bytes_loaded_are_the_bytes_hashed_even_if_the_file_changes_after_the_read(
        store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    entry = entry_of(store)
    real_loads = shared.artifacts.loads
    seen: list[bytes] = []

    def swap_then_load(data: bytes, fmt: str, trusted: Any) -> Any:
        entry.path.write_bytes(b"another file, swapped in after the hash was checked")
        seen.append(data)
        return real_loads(data, fmt, trusted)

    monkeypatch.setattr(shared.artifacts, "loads", swap_then_load)
    assert load_estimator(entry).predict(X).tolist() == LogisticRegression().fit(X, Y).predict(X).tolist()
    assert len(seen) == 1 and seen[0] != entry.path.read_bytes()


def test_a_file_that_hashes_right_but_does_not_load_is_a_model_load_error_without_a_path(tmp_path: Path) -> None:
    root = tmp_path / "models"
    entry = write_model(root, "lr", 1, LogisticRegression().fit(X, Y), ["a", "b"], False, fmt="joblib")
    garbage = b"not a pickle at all"
    entry.path.write_bytes(garbage)
    path = entry.folder / DESCRIPTOR_FILE
    path.write_text(json.dumps({**json.loads(path.read_text()), "sha256": hashlib.sha256(garbage).hexdigest()}))
    assert_refused_without_a_path(entry_of(root), "does not load")


def test_a_refused_model_fails_the_job_naming_the_model_and_the_worker_logs_why(
        make_stack: StackFactory, own_model_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    stack = make_stack({"MODEL_DIR": str(own_model_dir)})
    answer = stack.client.post("/jobs", json={"model": "iris", "version": "1", "instances": iris_rows(3)})
    assert answer.status_code == 202
    entry = stack.registry.get("iris", 1)
    outside = tmp_path / "elsewhere.bin"
    shutil.move(entry.path, outside)
    entry.path.symlink_to(outside)
    with caplog.at_level(logging.WARNING):
        stack.run()
    job = stack.client.get(f"/jobs/{answer.get_json()['job_id']}").get_json()
    assert job["status"] == "failed"
    assert "iris v1" in job["error"]["detail"] and "outside MODEL_DIR" in job["error"]["detail"]
    assert str(tmp_path) not in json.dumps(job) and "elsewhere" not in json.dumps(job)
    assert str(outside) in caplog.text  # the operator learns where it pointed
