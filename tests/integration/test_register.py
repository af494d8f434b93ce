"""predq-models register over the running stack: a new version (and another library's pipeline) is scored
by the API and the workers without a restart."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import joblib
import numpy as np
import pytest
from lightgbm import LGBMClassifier
from sklearn.linear_model import LogisticRegression

from scripts.churn import CHURN_SCHEMA, churn_frame, churn_labels, churn_pipeline
from scripts.stack import LocalStack
from shared.registry import DESCRIPTOR_FILE, write_model
from shared.settings import REPO_ROOT
from tests.integration.support import Api, accepted, assert_same_results, estimator

pytestmark = pytest.mark.integration


def register(stack: LocalStack, file: Path, name: str, sample: Path) -> str:
    run = subprocess.run([str(REPO_ROOT / "bin" / "predq-models"), "--model-dir", stack.model_dir, "register",
                          str(file), "--name", name, "--sample", str(sample)],
                         capture_output=True, text=True, timeout=120, env={"PYTHON": sys.executable})
    assert run.returncode == 0, run.stderr
    return run.stdout


def _records(n: int, seed: int) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = json.loads(churn_frame(n, seed=seed).to_json(orient="records"))
    return rows


@pytest.mark.parametrize(("name", "classifier"), [
    ("team-churn", LogisticRegression(max_iter=500, C=0.3)),
    ("lgbm-churn", LGBMClassifier(n_estimators=30, num_leaves=15, random_state=0, verbose=-1)),
])
def test_a_registered_version_scores_without_a_restart(api: Api, stack: LocalStack, tmp_path: Path, name: str,
                                                       classifier: object) -> None:
    train = churn_frame(3000, seed=5)
    model = churn_pipeline(classifier).fit(train, churn_labels(train))
    joblib.dump(model, tmp_path / "model.joblib")
    train.head(100).to_csv(tmp_path / "sample.csv", index=False)
    first = register(stack, tmp_path / "model.joblib", name, tmp_path / "sample.csv")
    assert f"{name:<16} v1" in first
    listed = api.get(f"/models/{name}").json()
    assert [c["type"] for c in listed["schema"]] == ["string", "string", "integer", "number", "boolean"]

    rows = _records(250, seed=9)
    for method in ("predict", "predict_proba"):
        job = api.wait(accepted(api.post("/jobs", json={"model": name, "method": method, "instances": rows}))
                       ["job_id"])
        assert job["status"] == "succeeded", job["error"]
        want = np.asarray(getattr(estimator(stack.model_dir, name, "1"), method)(churn_frame(250, seed=9)))
        assert_same_results(job["results"], want.tolist())

    register(stack, tmp_path / "model.joblib", name, tmp_path / "sample.csv")  # v2, the same bytes
    job = api.run({"model": name, "instances": rows[:5]})
    assert job["model"]["version"] == "2"


def test_a_skops_file_needing_an_untrusted_type_fails_its_job_without_leaking_paths(
        api: Api, stack: LocalStack) -> None:
    train = churn_frame(1000, seed=6)
    model = churn_pipeline(LogisticRegression(max_iter=500)).fit(train, churn_labels(train))
    entry = write_model(stack.model_dir, "untrusted-churn", 1, model, [c.name for c in CHURN_SCHEMA], True,
                        CHURN_SCHEMA)
    descriptor_path = entry.path.parent / DESCRIPTOR_FILE
    descriptor = json.loads(descriptor_path.read_text())
    assert descriptor["trusted_types"], "the pipeline needs some type trusted for this check to mean anything"
    descriptor_path.write_text(json.dumps({**descriptor, "trusted_types": []}))
    job = api.wait(accepted(api.post("/jobs", json={"model": "untrusted-churn", "instances": _records(3, 1)}))
                   ["job_id"])
    assert job["status"] == "failed"
    assert "does not trust" in job["error"]["detail"]
    assert stack.model_dir not in json.dumps(job["error"])
