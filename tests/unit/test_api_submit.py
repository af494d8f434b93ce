"""POST /jobs accepted: the 202 answer, and results that equal the model's own answers, in order."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import redis
from flask.testing import FlaskClient
from sklearn.dummy import DummyClassifier

from shared.registry import ModelRegistry, load_estimator, write_model
from shared.store import input_key
from tests.conftest import UNIT_CHUNK_ROWS, RecordingQueue
from tests.unit.conftest import StackFactory
from tests.unit.helpers import (
    BREAST_CANCER_FEATURES,
    DIABETES_FEATURES,
    IRIS_FEATURES,
    as_objects,
    assert_problem,
    breast_cancer_rows,
    diabetes_rows,
    iris_rows,
    keys_without_ttl,
    predict_directly,
    to_csv,
    to_ndjson,
)

RFC3339_MS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
Runner = Callable[[], list[str]]


def submit(client: FlaskClient, doc: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/jobs", json=doc)
    assert response.status_code == 202, response.get_data(as_text=True)
    body: dict[str, Any] = response.get_json()
    return body


def finished_job(client: FlaskClient, run_queued: Runner, doc: dict[str, Any]) -> dict[str, Any]:
    job_id = submit(client, doc)["job_id"]
    run_queued()
    job: dict[str, Any] = client.get(f"/jobs/{job_id}").get_json()
    assert job["status"] == "succeeded", job
    return job


def estimator(registry: ModelRegistry, name: str, version: int | None = None) -> Any:
    return load_estimator(registry.get(name, version))


# ---------------------------------------------------------------- the 202 answer


def test_an_accepted_job_is_a_202_with_location_retry_after_and_status_queued(client: FlaskClient,
                                                                              registry: ModelRegistry) -> None:
    response = client.post("/jobs", json={"instances": iris_rows(10), "metadata": {"batch": 7}})
    assert response.status_code == 202
    job = response.get_json()
    assert response.headers["Location"] == f"/jobs/{job['job_id']}"
    assert int(response.headers["Retry-After"]) >= 1
    assert job["status"] == "queued"
    assert job["model"] == registry.get("iris").ref()
    assert job["method"] == "predict"
    assert job["rows"] == 10
    assert job["progress"] == {"rows_done": 0, "rows_total": 10, "chunks_done": 0, "chunks_total": 3,
                               "rows_per_second": None, "eta_seconds": None}
    assert RFC3339_MS.fullmatch(job["created_at"])
    assert (job["started_at"], job["finished_at"], job["error"]) == (None, None, None)
    assert job["metadata"] == {"batch": 7}
    assert job["links"] == {"self": f"/jobs/{job['job_id']}", "results": f"/jobs/{job['job_id']}/results"}
    assert "results" not in job


def test_the_accepted_job_reads_back_as_it_was_answered(client: FlaskClient) -> None:
    response = client.post("/jobs", json={"instances": iris_rows(3)})
    polled = client.get(response.headers["Location"])
    assert polled.status_code == 200
    assert polled.get_json() == response.get_json()
    assert int(polled.headers["Retry-After"]) >= 1


def test_job_ids_are_unguessable_and_unique(client: FlaskClient) -> None:
    ids = [submit(client, {"instances": iris_rows(1)})["job_id"] for _ in range(20)]
    assert len(set(ids)) == 20
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)


def test_each_chunk_becomes_one_queue_message(client: FlaskClient, queue: RecordingQueue) -> None:
    job_id = submit(client, {"instances": iris_rows(9)})["job_id"]
    assert queue.messages == [(job_id, 0), (job_id, 1), (job_id, 2)]


# ---------------------------------------------------------------- results equal the model's


def test_results_equal_the_model_in_input_order_across_many_chunks(client: FlaskClient, run_queued: Runner,
                                                                   registry: ModelRegistry) -> None:
    rows = iris_rows(150)
    job = finished_job(client, run_queued, {"instances": rows})
    expected = predict_directly(estimator(registry, "iris"), "predict", rows)
    assert job["results"] == expected
    assert set(expected) == {"setosa", "versicolor", "virginica"}
    assert job["progress"]["chunks_total"] == -(-150 // UNIT_CHUNK_ROWS)


def test_chunks_scored_out_of_order_still_give_input_order(client: FlaskClient, queue: RecordingQueue,
                                                            run_queued: Runner, registry: ModelRegistry) -> None:
    rows = iris_rows(30, start=3)
    job_id = submit(client, {"instances": rows})["job_id"]
    queue.messages.reverse()
    outcomes = run_queued()
    assert outcomes[-1] == "finished"
    assert outcomes.count("finished") == 1
    job = client.get(f"/jobs/{job_id}").get_json()
    assert job["results"] == predict_directly(estimator(registry, "iris"), "predict", rows)


def test_a_chunk_delivered_twice_is_scored_once(client: FlaskClient, queue: RecordingQueue, run_queued: Runner,
                                                registry: ModelRegistry) -> None:
    rows = iris_rows(10)
    job_id = submit(client, {"instances": rows})["job_id"]
    queue.messages.insert(1, queue.messages[0])
    outcomes = run_queued()
    assert outcomes.count("finished") == 1
    assert "done" in outcomes
    job = client.get(f"/jobs/{job_id}").get_json()
    assert job["progress"]["rows_done"] == 10
    assert job["results"] == predict_directly(estimator(registry, "iris"), "predict", rows)


def test_object_rows_give_the_same_results_as_array_rows(client: FlaskClient, run_queued: Runner) -> None:
    rows = iris_rows(13)
    arrays = finished_job(client, run_queued, {"instances": rows})
    objects = finished_job(client, run_queued, {"instances": as_objects(rows, IRIS_FEATURES, reverse_keys=True)})
    assert objects["results"] == arrays["results"]


def test_csv_and_ndjson_bodies_give_the_same_results_as_json(client: FlaskClient, run_queued: Runner,
                                                             registry: ModelRegistry) -> None:
    rows = iris_rows(11)
    expected = predict_directly(estimator(registry, "iris", 1), "predict_proba", rows)
    query = "?model=iris&version=1&method=predict_proba"
    ids = [client.post("/jobs" + query, data=to_csv(rows, IRIS_FEATURES), content_type="text/csv"),
           client.post("/jobs" + query, data=to_ndjson(rows), content_type="application/x-ndjson"),
           client.post("/jobs" + query, data=to_ndjson(as_objects(rows, IRIS_FEATURES)),
                       content_type="application/x-ndjson")]
    assert [r.status_code for r in ids] == [202, 202, 202]
    run_queued()
    for response in ids:
        job = client.get(response.headers["Location"]).get_json()
        assert job["model"]["version"] == "1"
        np.testing.assert_allclose(job["results"], expected)


def test_predict_proba_gives_a_list_per_row_and_the_classes(client: FlaskClient, run_queued: Runner,
                                                            registry: ModelRegistry) -> None:
    rows = iris_rows(9)
    job = finished_job(client, run_queued, {"instances": rows, "method": "predict_proba"})
    model = estimator(registry, "iris")
    assert job["classes"] == model.classes_.tolist()
    assert all(len(r) == 3 for r in job["results"])
    np.testing.assert_allclose(job["results"], predict_directly(model, "predict_proba", rows))


def test_predict_does_not_carry_classes(client: FlaskClient, run_queued: Runner) -> None:
    assert "classes" not in finished_job(client, run_queued, {"instances": iris_rows(2)})


@pytest.mark.parametrize(("model", "rows", "method"), [
    ("iris", iris_rows(10), "decision_function"),
    ("breast-cancer", breast_cancer_rows(10), "decision_function"),
    ("breast-cancer", breast_cancer_rows(10), "predict"),
    ("diabetes", diabetes_rows(10), "predict"),
])
def test_every_model_and_method_gives_what_the_model_gives(client: FlaskClient, run_queued: Runner,
                                                           registry: ModelRegistry, model: str,
                                                           rows: list[list[float]], method: str) -> None:
    job = finished_job(client, run_queued, {"model": model, "method": method, "instances": rows})
    expected = predict_directly(estimator(registry, model), method, rows)
    np.testing.assert_allclose(job["results"], expected)
    assert job["model"]["name"] == model


def test_regression_results_are_numbers(client: FlaskClient, run_queued: Runner) -> None:
    job = finished_job(client, run_queued, {"model": "diabetes",
                                            "instances": as_objects(diabetes_rows(5), DIABETES_FEATURES)})
    assert all(isinstance(v, float) for v in job["results"])


def test_nulls_are_missing_values_for_a_model_that_handles_them(client: FlaskClient, run_queued: Runner,
                                                                registry: ModelRegistry) -> None:
    rows: list[list[Any]] = [list(r) for r in breast_cancer_rows(6)]
    rows[0][0] = None
    rows[4][29] = None
    job = finished_job(client, run_queued, {"model": "breast-cancer", "instances": rows,
                                            "method": "predict_proba"})
    numeric = [[np.nan if v is None else v for v in r] for r in rows]
    np.testing.assert_allclose(job["results"], predict_directly(estimator(registry, "breast-cancer"),
                                                                "predict_proba", numeric))


def test_empty_csv_cells_are_missing_values_for_a_model_that_handles_them(client: FlaskClient, run_queued: Runner,
                                                                          registry: ModelRegistry) -> None:
    rows: list[list[Any]] = [list(r) for r in breast_cancer_rows(5)]
    rows[2][3] = None
    response = client.post("/jobs?model=breast-cancer", data=to_csv(rows, BREAST_CANCER_FEATURES),
                           content_type="text/csv")
    assert response.status_code == 202
    run_queued()
    job = client.get(response.headers["Location"]).get_json()
    numeric = [[np.nan if v is None else v for v in r] for r in rows]
    assert job["results"] == predict_directly(estimator(registry, "breast-cancer"), "predict", numeric)


# ---------------------------------------------------------------- versions


def test_a_named_version_scores_the_job(client: FlaskClient, run_queued: Runner, registry: ModelRegistry) -> None:
    rows = iris_rows(12)
    one = finished_job(client, run_queued, {"instances": rows, "version": "1", "method": "predict_proba"})
    two = finished_job(client, run_queued, {"instances": rows, "method": "predict_proba"})
    assert one["model"] == registry.get("iris", 1).ref()
    assert two["model"] == registry.get("iris", 2).ref()
    np.testing.assert_allclose(one["results"], predict_directly(estimator(registry, "iris", 1), "predict_proba", rows))
    np.testing.assert_allclose(two["results"], predict_directly(estimator(registry, "iris", 2), "predict_proba", rows))
    assert not np.allclose(one["results"], two["results"])


def test_a_job_keeps_the_version_it_was_accepted_with(make_stack: StackFactory, own_model_dir: Path) -> None:
    stack = make_stack({"MODEL_DIR": str(own_model_dir)})
    rows = iris_rows(6)
    accepted = stack.client.post("/jobs", json={"instances": rows}).get_json()
    v2 = stack.registry.get("iris", 2)
    newer = DummyClassifier(strategy="constant", constant="virginica").fit(rows, ["virginica"] * 6)
    write_model(own_model_dir, "iris", 3, newer, IRIS_FEATURES, False)
    assert stack.registry.get("iris").version == 3
    stack.run()
    job = stack.client.get(f"/jobs/{accepted['job_id']}").get_json()
    assert job["status"] == "succeeded"
    assert job["model"] == v2.ref()
    assert job["results"] == predict_directly(load_estimator(v2), "predict", rows)
    later = stack.client.post("/jobs", json={"instances": rows}).get_json()
    assert later["model"]["version"] == "3"


def test_a_job_whose_model_file_changed_fails_instead_of_using_another_model(make_stack: StackFactory,
                                                                             own_model_dir: Path) -> None:
    stack = make_stack({"MODEL_DIR": str(own_model_dir)})
    job_id = stack.client.post("/jobs", json={"instances": iris_rows(3), "version": 1}).get_json()["job_id"]
    shutil.copy(own_model_dir / "iris" / "2" / "model.skops", own_model_dir / "iris" / "1" / "model.skops")
    stack.run()
    job = stack.client.get(f"/jobs/{job_id}").get_json()
    assert job["status"] == "failed"
    assert "results" not in job


# ---------------------------------------------------------------- progress and the finished job


def test_a_running_job_shows_progress_and_a_rate(client: FlaskClient, queue: RecordingQueue,
                                                 run_queued: Runner) -> None:
    job_id = submit(client, {"instances": iris_rows(10)})["job_id"]
    rest = queue.messages[1:]
    del queue.messages[1:]
    assert run_queued() == ["recorded"]
    response = client.get(f"/jobs/{job_id}")
    job = response.get_json()
    assert job["status"] == "running"
    assert job["progress"]["rows_done"] == 4
    assert job["progress"]["chunks_done"] == 1
    assert job["progress"]["rows_per_second"] > 0
    assert job["progress"]["eta_seconds"] >= 0
    assert RFC3339_MS.fullmatch(job["started_at"])
    assert job["finished_at"] is None
    assert "results" not in job
    assert int(response.headers["Retry-After"]) >= 1
    queue.messages.extend(rest)
    assert run_queued() == ["recorded", "finished"]


def test_a_succeeded_job_is_complete_and_has_no_retry_after(client: FlaskClient, run_queued: Runner) -> None:
    job_id = submit(client, {"instances": iris_rows(10)})["job_id"]
    run_queued()
    response = client.get(f"/jobs/{job_id}")
    job = response.get_json()
    assert "Retry-After" not in response.headers
    progress = job["progress"]
    assert (progress["rows_done"], progress["rows_total"], progress["chunks_done"], progress["chunks_total"]) == \
        (10, 10, 3, 3)
    assert progress["eta_seconds"] == 0
    assert progress["rows_per_second"] > 0
    assert RFC3339_MS.fullmatch(job["started_at"]) and RFC3339_MS.fullmatch(job["finished_at"])
    assert job["created_at"] <= job["started_at"] <= job["finished_at"]
    assert job["error"] is None


def test_a_job_that_cannot_be_scored_fails_with_a_problem_naming_its_rows(
        client: FlaskClient, run_queued: Runner, redis_client: redis.Redis) -> None:
    job_id = submit(client, {"instances": iris_rows(10)})["job_id"]
    redis_client.delete(input_key(job_id, 1))
    run_queued()
    response = client.get(f"/jobs/{job_id}")
    job = response.get_json()
    assert job["status"] == "failed"
    assert "Retry-After" not in response.headers
    assert RFC3339_MS.fullmatch(job["finished_at"])
    error = job["error"]
    for name in ("type", "title", "status", "detail"):
        assert name in error
    assert "4" in error["detail"] and "7" in error["detail"]
    assert "results" not in job
    assert_problem(client.get(f"/jobs/{job_id}/results"), 409)


def test_every_key_an_api_flow_writes_expires(client: FlaskClient, run_queued: Runner,
                                              redis_client: redis.Redis) -> None:
    submit(client, {"instances": iris_rows(10)})
    submit(client, {"instances": iris_rows(5)})
    client.post("/jobs", json={"instances": iris_rows(3)}, headers={"Idempotency-Key": "a"})
    run_queued()
    cancelled = submit(client, {"instances": iris_rows(9)})["job_id"]
    client.delete(f"/jobs/{cancelled}")
    client.get("/jobs")
    client.get("/metrics")
    assert keys_without_ttl(redis_client) == []
