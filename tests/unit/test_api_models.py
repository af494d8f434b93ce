"""/models: the listing, one model with its versions, and synchronous prediction."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import redis
from flask.testing import FlaskClient

from shared.keys import key
from shared.registry import ModelRegistry, load_estimator
from tests.conftest import RecordingQueue
from tests.unit.conftest import StackFactory
from tests.unit.helpers import (
    DIABETES_FEATURES,
    IRIS_FEATURES,
    as_objects,
    assert_problem,
    breast_cancer_rows,
    diabetes_rows,
    iris_rows,
    predict_directly,
    redis_keys,
    to_csv,
    to_ndjson,
)

Runner = Callable[[], list[str]]
ENTRY_FIELDS = {"name", "version", "sha256", "task", "features", "classes", "methods", "handles_missing", "default",
                "schema"}


def test_models_lists_each_model_once_at_its_latest_version(client: FlaskClient, registry: ModelRegistry) -> None:
    response = client.get("/models")
    assert response.status_code == 200
    models = response.get_json()["models"]
    assert [m["name"] for m in models] == ["breast-cancer", "diabetes", "iris"]
    for entry in models:
        assert set(entry) == ENTRY_FIELDS
        latest = registry.get(entry["name"])
        assert entry["version"] == str(latest.version)
        assert entry["sha256"] == latest.sha256
    by_name = {m["name"]: m for m in models}
    assert by_name["iris"]["version"] == "2"
    assert [m["name"] for m in models if m["default"]] == ["iris"]


def test_model_entries_describe_task_features_classes_and_methods(client: FlaskClient) -> None:
    by_name = {m["name"]: m for m in client.get("/models").get_json()["models"]}
    assert by_name["iris"]["task"] == "classification"
    assert by_name["iris"]["features"] == IRIS_FEATURES
    assert by_name["iris"]["classes"] == ["setosa", "versicolor", "virginica"]
    assert set(by_name["iris"]["methods"]) == {"predict", "predict_proba", "decision_function"}
    assert by_name["iris"]["handles_missing"] is False
    assert by_name["diabetes"]["task"] == "regression"
    assert by_name["diabetes"]["classes"] is None
    assert by_name["diabetes"]["methods"] == ["predict"]
    assert by_name["diabetes"]["features"] == DIABETES_FEATURES
    assert by_name["breast-cancer"]["handles_missing"] is True


def test_the_default_model_follows_the_setting(make_stack: StackFactory) -> None:
    stack = make_stack({"DEFAULT_MODEL": "diabetes"})
    models = stack.client.get("/models").get_json()["models"]
    assert [m["name"] for m in models if m["default"]] == ["diabetes"]


def test_one_model_is_its_latest_entry_with_every_version_oldest_first(client: FlaskClient,
                                                                       registry: ModelRegistry) -> None:
    response = client.get("/models/iris")
    assert response.status_code == 200
    model = response.get_json()
    listed = {m["name"]: m for m in client.get("/models").get_json()["models"]}["iris"]
    assert {k: v for k, v in model.items() if k != "versions"} == listed
    assert [v["version"] for v in model["versions"]] == ["1", "2"]
    assert all(set(v) == ENTRY_FIELDS for v in model["versions"])
    assert model["versions"][0]["sha256"] == registry.get("iris", 1).sha256
    assert model["versions"][1] == listed


def test_an_unknown_model_is_a_404(client: FlaskClient) -> None:
    assert_problem(client.get("/models/iri"), 404)


# ---------------------------------------------------------------- sync predict


def test_sync_predict_equals_the_results_of_a_job(client: FlaskClient, run_queued: Runner) -> None:
    rows = iris_rows(17)
    now = client.post("/models/iris/predict", json={"instances": rows})
    assert now.status_code == 200
    job_id = client.post("/jobs", json={"instances": rows}).get_json()["job_id"]
    run_queued()
    assert now.get_json()["results"] == client.get(f"/jobs/{job_id}").get_json()["results"]


def test_sync_predict_answers_results_and_the_model(client: FlaskClient, registry: ModelRegistry) -> None:
    rows = iris_rows(5)
    body = client.post("/models/iris/predict", json={"instances": rows}).get_json()
    assert body["model"] == registry.get("iris").ref()
    assert body["results"] == predict_directly(load_estimator(registry.get("iris")), "predict", rows)
    assert "classes" not in body


def test_sync_predict_proba_carries_the_classes(client: FlaskClient, registry: ModelRegistry) -> None:
    rows = iris_rows(5)
    body = client.post("/models/iris/predict", json={"instances": rows, "method": "predict_proba",
                                                     "version": 1}).get_json()
    assert body["classes"] == ["setosa", "versicolor", "virginica"]
    assert body["model"] == registry.get("iris", 1).ref()
    np.testing.assert_allclose(body["results"], predict_directly(load_estimator(registry.get("iris", 1)),
                                                                 "predict_proba", rows))


@pytest.mark.parametrize(("model", "rows", "method"), [("diabetes", diabetes_rows(6), "predict"),
                                                       ("breast-cancer", breast_cancer_rows(6), "decision_function")])
def test_sync_predict_scores_every_model(client: FlaskClient, registry: ModelRegistry, model: str,
                                         rows: list[list[float]], method: str) -> None:
    body = client.post(f"/models/{model}/predict", json={"instances": rows, "method": method}).get_json()
    np.testing.assert_allclose(body["results"], predict_directly(load_estimator(registry.get(model)), method, rows))


def test_sync_predict_takes_csv_and_ndjson(client: FlaskClient) -> None:
    rows = iris_rows(8)
    from_json = client.post("/models/iris/predict", json={"instances": rows}).get_json()["results"]
    from_csv = client.post("/models/iris/predict", data=to_csv(rows, IRIS_FEATURES), content_type="text/csv")
    from_ndjson = client.post("/models/iris/predict", data=to_ndjson(as_objects(rows, IRIS_FEATURES)),
                              content_type="application/x-ndjson")
    assert from_csv.get_json()["results"] == from_json
    assert from_ndjson.get_json()["results"] == from_json


def test_sync_predict_accepts_a_body_naming_the_same_model(client: FlaskClient) -> None:
    response = client.post("/models/diabetes/predict",
                           json={"model": "diabetes", "instances": as_objects(diabetes_rows(2), DIABETES_FEATURES)})
    assert response.status_code == 200
    assert len(response.get_json()["results"]) == 2


@pytest.mark.parametrize("how", ["json", "query"])
def test_sync_predict_with_a_body_naming_another_model_is_a_422(client: FlaskClient, how: str) -> None:
    rows = iris_rows(2)
    if how == "json":
        response = client.post("/models/diabetes/predict", json={"model": "iris", "instances": rows})
    else:
        response = client.post("/models/diabetes/predict?model=iris", data=to_csv(rows, IRIS_FEATURES),
                               content_type="text/csv")
    assert_problem(response, 422)


def test_sync_predict_over_sync_max_rows_is_a_413_pointing_at_jobs(make_stack: StackFactory) -> None:
    stack = make_stack({"SYNC_MAX_ROWS": "5"})
    assert stack.client.post("/models/iris/predict", json={"instances": iris_rows(5)}).status_code == 200
    problem = assert_problem(stack.client.post("/models/iris/predict", json={"instances": iris_rows(6)}), 413)
    assert "/jobs" in problem["detail"]
    assert stack.client.post("/jobs", json={"instances": iris_rows(6)}).status_code == 202


def test_sync_predict_creates_no_job(client: FlaskClient, redis_client: redis.Redis, queue: RecordingQueue) -> None:
    client.get("/healthz")
    before = redis_keys(redis_client)
    assert client.post("/models/iris/predict", json={"instances": iris_rows(3)}).status_code == 200
    assert {k for k in redis_keys(redis_client) - before if not k.startswith(key("metrics").encode())} == set()
    assert queue.messages == []
    assert client.get("/jobs").get_json()["jobs"] == []


def test_sync_predict_of_an_unknown_model_is_a_404_before_the_body_is_read(client: FlaskClient) -> None:
    assert_problem(client.post("/models/nope/predict", data=b"{not json", content_type="application/json"), 404)


def test_sync_predict_of_an_unknown_version_is_a_404(client: FlaskClient) -> None:
    assert_problem(client.post("/models/iris/predict", json={"instances": iris_rows(1), "version": 7}), 404)


def test_sync_predict_with_nulls_for_a_model_that_handles_them(client: FlaskClient, registry: ModelRegistry) -> None:
    rows: list[list[Any]] = [list(r) for r in breast_cancer_rows(3)]
    rows[1][2] = None
    body = client.post("/models/breast-cancer/predict", json={"instances": rows}).get_json()
    numeric = [[np.nan if v is None else v for v in r] for r in rows]
    assert body["results"] == predict_directly(load_estimator(registry.get("breast-cancer")), "predict", numeric)
