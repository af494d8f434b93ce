"""API keys: 401 without one, and every job visible only to the key that made it."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from tests.unit.conftest import Stack, StackFactory
from tests.unit.helpers import assert_problem, iris_rows

K1 = {"Authorization": "Bearer k1"}
K2 = {"Authorization": "Bearer k2"}
ROWS = iris_rows(6)


@pytest.fixture
def keyed(make_stack: StackFactory) -> Stack:
    return make_stack({"API_KEYS": "k1,k2"})


def submit(client: FlaskClient, headers: dict[str, str], **extra: str) -> str:
    response = client.post("/jobs", json={"instances": ROWS}, headers={**headers, **extra})
    assert response.status_code == 202
    job_id: str = response.get_json()["job_id"]
    return job_id


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer"}, {"Authorization": "Bearer k3"},
                                     {"Authorization": "Basic azE6"}, {"Authorization": "k1"},
                                     {"Authorization": "Bearer k1,k2"}, {"Authorization": "Bearer K1"}],
                         ids=["none", "empty", "unknown", "basic", "no-scheme", "both", "case"])
@pytest.mark.parametrize(("method", "path"), [("GET", "/jobs"), ("POST", "/jobs"), ("GET", "/jobs/" + "0" * 32),
                                              ("DELETE", "/jobs/" + "0" * 32),
                                              ("GET", "/jobs/" + "0" * 32 + "/results"), ("GET", "/models"),
                                              ("GET", "/models/iris"), ("POST", "/models/iris/predict")])
def test_without_a_known_key_every_jobs_and_models_route_is_a_401(keyed: Stack, headers: dict[str, str],
                                                                 method: str, path: str) -> None:
    response = keyed.client.open(path, method=method, json={"instances": ROWS}, headers=headers)
    assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_refused_key_stores_nothing(keyed: Stack) -> None:
    keyed.client.get("/healthz")
    before = set(keyed.redis.keys("*"))
    keyed.client.post("/jobs", json={"instances": ROWS}, headers={"Authorization": "Bearer nope"})
    assert set(keyed.redis.keys("*")) == before
    assert keyed.queue.messages == []


def test_a_known_key_is_let_in(keyed: Stack) -> None:
    assert keyed.client.get("/models", headers=K1).status_code == 200
    assert keyed.client.get("/jobs", headers={"Authorization": "bearer k2"}).status_code == 200
    assert keyed.client.post("/models/iris/predict", json={"instances": ROWS}, headers=K2).status_code == 200


def test_a_key_from_the_keys_file_is_let_in(make_stack: StackFactory, tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.write_text("filed-key\n")
    stack = make_stack({"API_KEYS_FILE": str(keys)})
    assert stack.client.get("/jobs", headers={"Authorization": "Bearer filed-key"}).status_code == 200
    assert_problem(stack.client.get("/jobs"), 401)


def test_another_keys_job_is_a_404_everywhere(keyed: Stack) -> None:
    job_id = submit(keyed.client, K1)
    assert keyed.client.get(f"/jobs/{job_id}", headers=K1).status_code == 200
    assert_problem(keyed.client.get(f"/jobs/{job_id}", headers=K2), 404)
    assert_problem(keyed.client.get(f"/jobs/{job_id}?wait=1", headers=K2), 404)
    keyed.run()
    assert_problem(keyed.client.get(f"/jobs/{job_id}/results", headers=K2), 404)
    assert_problem(keyed.client.get(f"/jobs/{job_id}/results?format=csv", headers=K2), 404)
    assert keyed.client.get(f"/jobs/{job_id}/results", headers=K1).status_code == 200


def test_another_key_cannot_cancel_a_job(keyed: Stack) -> None:
    job_id = submit(keyed.client, K1)
    assert_problem(keyed.client.delete(f"/jobs/{job_id}", headers=K2), 404)
    assert keyed.client.get(f"/jobs/{job_id}", headers=K1).get_json()["status"] == "queued"
    assert keyed.client.delete(f"/jobs/{job_id}", headers=K1).status_code == 200


def test_each_key_lists_only_its_own_jobs(keyed: Stack) -> None:
    mine = [submit(keyed.client, K1) for _ in range(3)]
    theirs = [submit(keyed.client, K2) for _ in range(2)]
    assert [j["job_id"] for j in keyed.client.get("/jobs", headers=K1).get_json()["jobs"]] == list(reversed(mine))
    assert [j["job_id"] for j in keyed.client.get("/jobs", headers=K2).get_json()["jobs"]] == list(reversed(theirs))


def test_idempotency_keys_belong_to_one_api_key(keyed: Stack) -> None:
    first = submit(keyed.client, K1, **{"Idempotency-Key": "same"})
    other = submit(keyed.client, K2, **{"Idempotency-Key": "same"})
    assert first != other
    again = keyed.client.post("/jobs", json={"instances": ROWS}, headers={**K1, "Idempotency-Key": "same"})
    assert (again.status_code, again.get_json()["job_id"]) == (200, first)


@pytest.mark.parametrize("path", ["/healthz", "/metrics", "/openapi.json", "/docs"])
def test_operations_routes_answer_200_without_a_key(keyed: Stack, path: str) -> None:
    assert keyed.client.get(path).status_code == 200


def test_readyz_answers_without_a_key(keyed: Stack) -> None:
    assert keyed.client.get("/readyz").status_code == 503


def test_with_no_keys_configured_the_api_is_open(client: FlaskClient) -> None:
    assert client.get("/jobs").status_code == 200
    assert client.post("/jobs", json={"instances": ROWS}).status_code == 202
    assert client.get("/jobs", headers={"Authorization": "Bearer anything"}).status_code == 200


def test_an_open_api_says_so_in_its_log(make_stack: StackFactory, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        make_stack()
    assert any("open" in r.getMessage() and r.levelno >= logging.WARNING for r in caplog.records)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        make_stack({"API_KEYS": "k1"})
    assert not any("open" in r.getMessage() for r in caplog.records)
