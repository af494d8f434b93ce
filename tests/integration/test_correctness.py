"""Results over real HTTP equal the model file's own predictions on the same rows, whatever the body form."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris

from scripts.make_models import IRIS_FEATURES
from scripts.stack import LocalStack
from shared.registry import file_sha256
from tests.integration.support import (
    Api,
    accepted,
    assert_same_results,
    describe,
    reference,
    reference_classes,
    to_matrix,
)

pytestmark = pytest.mark.integration

ROWS = 250
"""Three 100-row chunks, the last one partial."""


def _iris_rows() -> tuple[list[str], list[list[float | None]]]:
    data = load_iris().data
    rng = np.random.default_rng(1)
    X = data[rng.integers(0, len(data), ROWS)] + rng.normal(0, 0.3, (ROWS, 4))
    return IRIS_FEATURES, np.round(X, 4).tolist()


def _diabetes_rows() -> tuple[list[str], list[list[float | None]]]:
    data = load_diabetes()
    rng = np.random.default_rng(2)
    X = data.data[rng.integers(0, len(data.data), ROWS)] + rng.normal(0, 0.01, (ROWS, data.data.shape[1]))
    return list(data.feature_names), np.round(X, 6).tolist()


def _breast_cancer_rows() -> tuple[list[str], list[list[float | None]]]:
    """Rows with about one cell in eight missing, and one row missing every value."""
    data = load_breast_cancer()
    features = [n.replace(" ", "_") for n in data.feature_names]
    rng = np.random.default_rng(3)
    X = np.round(data.data[rng.integers(0, len(data.data), ROWS)], 5)
    rows: list[list[float | None]] = X.tolist()
    for i, j in zip(*np.nonzero(rng.random(X.shape) < 0.125), strict=True):
        rows[i][j] = None
    rows[7] = [None] * len(features)
    return features, rows


DATA = {"iris": _iris_rows(), "diabetes": _diabetes_rows(), "breast-cancer": _breast_cancer_rows()}
LATEST = {"iris": "2", "diabetes": "1", "breast-cancer": "1"}


def _objects(features: list[str], rows: list[list[Any]]) -> list[dict[str, Any]]:
    """Object rows with their keys in reverse feature order: the service must go by name, not position."""
    return [dict(reversed(list(zip(features, row, strict=True)))) for row in rows]


def _csv(features: list[str], rows: list[list[Any]]) -> bytes:
    """A CSV body whose columns are in reverse feature order; a missing value is an empty cell."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(features[::-1])
    writer.writerows([["" if v is None else repr(v) for v in row[::-1]] for row in rows])
    return out.getvalue().encode()


def _parquet(features: list[str], rows: list[list[Any]]) -> bytes:
    """A Parquet body with one float column per feature (columns in reverse order); None is a null."""
    out = io.BytesIO()
    columns = {name: pa.array([row[j] for row in rows], pa.float64()) for j, name in enumerate(features)}
    pq.write_table(pa.table(dict(reversed(list(columns.items())))), out)
    return out.getvalue()


def _submit(api: Api, model: str, method: str, form: str, version: str | None = None) -> dict[str, Any]:
    features, rows = DATA[model]
    params = {"model": model, "method": method, **({"version": version} if version else {})}
    if form == "json-array":
        return api.submit({**params, "instances": rows})
    if form == "json-object":
        return api.submit({**params, "instances": _objects(features, rows)})
    if form == "csv":
        return accepted(api.post_raw(_csv(features, rows), "text/csv", params=params))
    if form == "parquet":
        return accepted(api.post_raw(_parquet(features, rows), "application/vnd.apache.parquet", params=params))
    lines = rows if form == "ndjson-array" else _objects(features, rows)
    body = b"".join(json.dumps(line).encode() + b"\n" for line in lines)
    return accepted(api.post_raw(body, "application/x-ndjson", params=params))


CASES = [
    *[("iris", method, form) for method in ("predict", "predict_proba", "decision_function")
      for form in ("json-array", "json-object", "csv", "ndjson-array", "parquet")],
    *[("diabetes", "predict", form) for form in ("json-array", "json-object", "csv", "ndjson-object", "parquet")],
    *[("breast-cancer", method, form) for method in ("predict", "predict_proba", "decision_function")
      for form in ("json-array", "csv", "ndjson-object", "parquet")],
]


@pytest.mark.parametrize(("model", "method", "form"), CASES, ids=["-".join(case) for case in CASES])
def test_results_equal_the_model_files_own_predictions(api: Api, stack: LocalStack, model: str, method: str,
                                                       form: str) -> None:
    features, rows = DATA[model]
    job = api.wait(_submit(api, model, method, form)["job_id"])

    assert job["status"] == "succeeded", job["error"]
    assert job["progress"]["chunks_total"] == 3
    assert job["model"]["version"] == LATEST[model]
    want = reference(stack.model_dir, model, LATEST[model], method, to_matrix(rows, features))
    assert_same_results(job["results"], want)
    assert_same_results(api.results(job["job_id"], limit=70), want)
    if method == "predict_proba":
        classes = reference_classes(stack.model_dir, model, LATEST[model])
        assert job["classes"] == classes
        page = api.get(f"/jobs/{job['job_id']}/results").json()
        assert page["classes"] == classes
    else:
        assert "classes" not in job


def test_explicit_older_version_scores_with_that_artifact(api: Api, stack: LocalStack) -> None:
    features, rows = DATA["iris"]
    job = api.wait(_submit(api, "iris", "predict_proba", "json-array", version="1")["job_id"])

    assert job["status"] == "succeeded", job["error"]
    path = Path(stack.model_dir) / "iris" / "1" / "model.skops"
    assert job["model"] == {"name": "iris", "version": "1", "sha256": file_sha256(path)}
    assert_same_results(job["results"], reference(stack.model_dir, "iris", "1", "predict_proba",
                                                  to_matrix(rows, features)))
    latest = reference(stack.model_dir, "iris", "2", "predict_proba", to_matrix(rows, features))
    assert job["results"] != latest, "v1 and v2 must differ for this check to mean anything"


def test_csv_and_ndjson_result_streams_carry_the_same_rows(api: Api, stack: LocalStack) -> None:
    features, rows = DATA["iris"]
    job = api.wait(_submit(api, "iris", "predict_proba", "json-array")["job_id"])
    want = reference(stack.model_dir, "iris", "2", "predict_proba", to_matrix(rows, features))

    as_csv = api.get(f"/jobs/{job['job_id']}/results", params={"format": "csv"})
    assert as_csv.status_code == 200, describe(as_csv)
    table = list(csv.reader(io.StringIO(as_csv.text)))
    assert table[0] == reference_classes(stack.model_dir, "iris", "2")
    assert_same_results([[float(v) for v in line] for line in table[1:]], want)

    as_ndjson = api.get(f"/jobs/{job['job_id']}/results", headers={"Accept": "application/x-ndjson"})
    assert as_ndjson.status_code == 200, describe(as_ndjson)
    assert as_ndjson.headers["Content-Type"].startswith("application/x-ndjson")
    assert_same_results([json.loads(line) for line in as_ndjson.text.splitlines()], want)


@pytest.mark.parametrize(("model", "method"), [("iris", "predict"), ("diabetes", "predict"),
                                               ("breast-cancer", "predict_proba")])
def test_sync_predict_equals_the_model_file(api: Api, stack: LocalStack, model: str, method: str) -> None:
    features, rows = DATA[model]
    answer = api.post(f"/models/{model}/predict", json={"method": method, "instances": rows[:40]})

    assert answer.status_code == 200, describe(answer)
    body = answer.json()
    assert body["model"]["name"] == model and body["model"]["version"] == LATEST[model]
    assert_same_results(body["results"], reference(stack.model_dir, model, LATEST[model], method,
                                                   to_matrix(rows[:40], features)))
