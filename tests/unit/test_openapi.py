"""The OpenAPI document: valid, complete against the app's URL map, and true to real answers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from openapi_schema_validator import OAS30Validator
from openapi_spec_validator import validate

from api.openapi import build_document, openapi_path
from shared.errors import UndocumentedRouteError
from shared.parsing.submission import CSV_TYPES, JSON_TYPES, NDJSON_TYPES, PARQUET_TYPES
from tests.unit.helpers import iris_rows

Document = dict[str, Any]


@pytest.fixture
def document(client: FlaskClient) -> Document:
    answer = client.get("/openapi.json")
    assert answer.status_code == 200
    doc: Document = answer.get_json()
    return doc


def conforms(document: Document, schema: str, instance: Any) -> None:
    """`instance` validates against components/schemas/`schema` (refs resolved within the document)."""
    root = {"$ref": f"#/components/schemas/{schema}", "components": document["components"]}
    errors = sorted(OAS30Validator(root).iter_errors(instance), key=str)
    assert not errors, f"{schema}: {errors[0].message} at {list(errors[0].absolute_path)}"


def test_the_document_is_valid_openapi(document: Document) -> None:
    validate(document)


def test_every_route_and_method_of_the_app_is_documented(app: Flask, document: Document) -> None:
    rules = list(app.url_map.iter_rules())
    assert len(rules) >= 14
    for rule in rules:
        item = document["paths"].get(openapi_path(rule.rule))
        assert item is not None, f"{rule.rule} is not in the document"
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
            assert method.lower() in item, f"{method} {rule.rule} is not in the document"
            for name in rule.arguments:
                params = {(p["in"], p["name"]) for p in item[method.lower()].get("parameters", [])}
                assert ("path", name) in params, f"{method} {rule.rule}: path parameter {name}"


def test_the_document_names_no_route_the_app_lacks(app: Flask, document: Document) -> None:
    assert set(document["paths"]) == {openapi_path(r.rule) for r in app.url_map.iter_rules()}


def test_a_route_without_a_declaration_cannot_be_built(app: Flask) -> None:
    app.add_url_rule("/undeclared", "undeclared", lambda: "")
    with pytest.raises(UndocumentedRouteError, match="/undeclared"):
        build_document(app)


def test_batch_routes_take_every_body_type_the_parser_reads(document: Document) -> None:
    for path in ("/jobs", "/models/{name}/predict"):
        content = document["paths"][path]["post"]["requestBody"]["content"]
        for media in (*JSON_TYPES, *CSV_TYPES, *NDJSON_TYPES, *PARQUET_TYPES):
            assert media in content, f"POST {path} lacks {media}"


def test_submission_parameters_include_callback_url_dry_run_and_idempotency(document: Document) -> None:
    submit = document["paths"]["/jobs"]["post"]
    names = {(p["in"], p["name"]) for p in submit["parameters"]}
    assert {("query", "callback_url"), ("query", "dry_run"), ("query", "model"),
            ("header", "Idempotency-Key")} <= names
    assert "callback_url" in document["components"]["schemas"]["Batch"]["properties"]
    assert set(submit["responses"]) >= {"200", "202", "400", "401", "404", "409", "413", "415", "422", "503"}


def test_jobs_and_models_need_the_bearer_scheme_and_operations_do_not(document: Document) -> None:
    scheme = document["components"]["securitySchemes"]["bearer"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    for path, item in document["paths"].items():
        for method, op in item.items():
            secured = path.startswith(("/jobs", "/models"))
            assert (op["security"] == [{"bearer": []}]) is secured, f"{method} {path}"
            assert ("401" in op["responses"]) is secured, f"{method} {path}"


def test_problem_responses_are_problem_json(document: Document) -> None:
    for item in document["paths"].values():
        for op in item.values():
            for status, answer in op["responses"].items():
                if int(status) >= 400:
                    assert list(answer["content"]) == ["application/problem+json"]


def test_documented_bounds_are_the_bounds_the_api_enforces(client: FlaskClient, document: Document) -> None:
    limit = next(p for p in document["paths"]["/jobs"]["get"]["parameters"] if p["name"] == "limit")
    top = limit["schema"]["maximum"]
    assert client.get(f"/jobs?limit={top}").status_code == 200
    assert client.get(f"/jobs?limit={top + 1}").status_code == 400
    status = next(p for p in document["paths"]["/jobs"]["get"]["parameters"] if p["name"] == "status")
    for value in status["schema"]["enum"]:
        assert client.get(f"/jobs?status={value}").status_code == 200
    assert client.get("/jobs?status=lost").status_code == 400


def test_real_answers_conform_to_their_schemas(client: FlaskClient, document: Document,
                                               run_queued: Callable[[], list[str]]) -> None:
    accepted = client.post("/jobs", json={"instances": iris_rows(6), "method": "predict_proba",
                                          "metadata": {"batch": 1}})
    assert accepted.status_code == 202
    conforms(document, "Job", accepted.get_json())
    job_id = accepted.get_json()["job_id"]
    run_queued()
    conforms(document, "Job", client.get(f"/jobs/{job_id}").get_json())
    conforms(document, "JobList", client.get("/jobs").get_json())
    conforms(document, "ResultsPage", client.get(f"/jobs/{job_id}/results?limit=2").get_json())
    conforms(document, "ModelList", client.get("/models").get_json())
    conforms(document, "ModelDetail", client.get("/models/iris").get_json())
    conforms(document, "Prediction", client.post("/models/iris/predict", json={"instances": iris_rows(2)}).get_json())
    conforms(document, "DryRun", client.post("/jobs?dry_run=true", json={"instances": iris_rows(2)}).get_json())
    conforms(document, "Problem", client.post("/jobs", json={"instances": [["x", 1, 2, 3]]}).get_json())
    conforms(document, "Health", client.get("/healthz").get_json())


def test_a_schema_check_fails_on_a_field_the_schema_does_not_know(client: FlaskClient, document: Document) -> None:
    job = client.post("/jobs", json={"instances": iris_rows(1)}).get_json()
    with pytest.raises(AssertionError, match="surprise"):
        conforms(document, "Job", {**job, "surprise": 1})
