"""predq-models register/list/verify: refusals, schema inference, the next version written whole."""

from __future__ import annotations

import io
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
import sklearn
from sklearn.linear_model import LogisticRegression

from scripts.churn import churn_frame, churn_labels, churn_pipeline
from scripts.predq_models import main
from shared.registration import RegistrationError, load_for_registration
from shared.registry import ModelRegistry, load_estimator

X = np.array([[0.0, 1.0], [1.0, 0.0], [0.5, 0.5], [0.2, 0.9]])


def test_an_unfitted_estimator_is_refused(tmp_path: Path) -> None:
    joblib.dump(LogisticRegression(), tmp_path / "lr.joblib")
    with pytest.raises(RegistrationError, match="not fitted"):
        load_for_registration(tmp_path / "lr.joblib", allow_version_mismatch=False)


def test_a_file_from_another_scikit_learn_is_refused_unless_allowed(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    joblib.dump(LogisticRegression().fit(X, [0, 1, 1, 0]), buffer)
    version = sklearn.__version__.encode()
    other = b"0" + version[1:] if not version.startswith(b"0") else b"9" + version[1:]
    (tmp_path / "old.joblib").write_bytes(buffer.getvalue().replace(version, other))  # same length: still valid
    with pytest.raises(RegistrationError, match="allow-version-mismatch"):
        load_for_registration(tmp_path / "old.joblib", allow_version_mismatch=False)
    assert load_for_registration(tmp_path / "old.joblib", allow_version_mismatch=True) is not None


def test_register_infers_a_typed_schema_from_a_sample_and_writes_the_next_version(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    frame = churn_frame(500, seed=3)
    model = churn_pipeline(LogisticRegression(max_iter=500)).fit(frame, churn_labels(frame))
    joblib.dump(model, tmp_path / "churn.joblib")
    frame.head(50).to_parquet(tmp_path / "sample.parquet")
    store = tmp_path / "models"
    for expected_version in (1, 2):
        assert main(["--model-dir", str(store), "register", str(tmp_path / "churn.joblib"), "--name", "team-churn",
                     "--sample", str(tmp_path / "sample.parquet")]) == 0
        assert f"team-churn       v{expected_version}" in capsys.readouterr().out
    entry = ModelRegistry(store, "team-churn").get("team-churn")
    assert entry.version == 2 and entry.path.suffix == ".skops"
    assert [(c.name, c.type, c.nullable) for c in entry.schema] == [
        ("plan", "string", False), ("region", "string", True), ("tenure_months", "integer", False),
        ("monthly_fee", "number", False), ("autopay", "boolean", False)]
    assert load_estimator(entry).predict(frame.head(20)).tolist() == model.predict(frame.head(20)).tolist()
    assert not [p for p in (store / "team-churn").iterdir() if p.name.startswith(".")]


def test_an_array_model_gets_an_all_number_schema(tmp_path: Path) -> None:
    joblib.dump(LogisticRegression().fit(X, [0, 1, 1, 0]), tmp_path / "lr.joblib")
    assert main(["--model-dir", str(tmp_path / "m"), "register", str(tmp_path / "lr.joblib"), "--name", "lr"]) == 0
    entry = ModelRegistry(tmp_path / "m", "lr").get("lr")
    assert [(c.name, c.type) for c in entry.schema] == [("x0", "number"), ("x1", "number")]


def test_verify_names_a_file_that_changed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    joblib.dump(LogisticRegression().fit(X, [0, 1, 1, 0]), tmp_path / "lr.joblib")
    store = str(tmp_path / "m")
    main(["--model-dir", store, "register", str(tmp_path / "lr.joblib"), "--name", "lr"])
    assert main(["--model-dir", store, "verify"]) == 0
    path = ModelRegistry(store, "lr").get("lr").path
    path.write_bytes(path.read_bytes() + b"x")
    assert main(["--model-dir", store, "verify"]) == 1
    assert "BAD lr v1" in capsys.readouterr().out


def test_verify_refuses_a_file_symlinked_out_of_the_model_dir(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    joblib.dump(LogisticRegression().fit(X, [0, 1, 1, 0]), tmp_path / "lr.joblib")
    store = str(tmp_path / "m")
    main(["--model-dir", store, "register", str(tmp_path / "lr.joblib"), "--name", "lr"])
    path = ModelRegistry(store, "lr").get("lr").path
    path.rename(tmp_path / "outside.skops")
    path.symlink_to(tmp_path / "outside.skops")  # the same bytes: only where they live is wrong
    assert main(["--model-dir", store, "verify"]) == 1
    assert "leads outside MODEL_DIR" in capsys.readouterr().out


def test_a_sample_without_the_models_columns_is_refused(tmp_path: Path) -> None:
    frame = churn_frame(200, seed=3)
    model = churn_pipeline(LogisticRegression(max_iter=500)).fit(frame, churn_labels(frame))
    joblib.dump(model, tmp_path / "churn.joblib")
    pd.DataFrame({"plan": ["pro"]}).to_csv(tmp_path / "sample.csv", index=False)
    assert main(["--model-dir", str(tmp_path / "m"), "register", str(tmp_path / "churn.joblib"), "--name", "c",
                 "--sample", str(tmp_path / "sample.csv")]) == 2
