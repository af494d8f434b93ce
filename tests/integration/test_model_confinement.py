"""Over the real stack: a model whose file leads out of MODEL_DIR fails its job, naming the model and no path,
and the worker's log says why."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from scripts.stack import LocalStack
from shared.registry import write_model
from tests.integration.support import Api, accepted, wait_for

pytestmark = pytest.mark.integration


def test_a_model_file_symlinked_out_of_model_dir_fails_its_job_without_showing_a_path(
        api: Api, stack: LocalStack, tmp_path: Path) -> None:
    name = "escaping-model"  # never loaded before: no worker holds it in its cache
    X = np.array([[0.0, 1.0], [1.0, 0.0], [0.5, 0.5], [0.2, 0.9]])
    entry = write_model(stack.model_dir, name, 1, LogisticRegression().fit(X, [0, 1, 1, 0]), ["a", "b"], False)
    outside = tmp_path / "planted.skops"
    shutil.move(entry.path, outside)
    entry.path.symlink_to(outside)  # the registered bytes, hash intact: only where they live is wrong
    try:
        job = api.wait(accepted(api.post("/jobs", json={"model": name, "instances": X.tolist()}))["job_id"])
        assert job["status"] == "failed"
        assert f"{name} v1" in job["error"]["detail"] and "outside MODEL_DIR" in job["error"]["detail"]
        assert str(tmp_path) not in json.dumps(job) and stack.model_dir not in json.dumps(job)

        def logged() -> bool | None:
            text = "".join(p.read_text(errors="replace") for p in stack.log_dir.glob("worker-*.log"))
            return (str(outside) in text and "outside MODEL_DIR" in text) or None

        wait_for(logged, 10, "the worker's log to name the refused file")
    finally:
        shutil.rmtree(Path(stack.model_dir) / name)
