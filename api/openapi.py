"""The OpenAPI 3 document of every route, and a plain HTML page that renders it."""

from __future__ import annotations

import functools
import html
from typing import Any

PROBLEM = {"content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}
JOB = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Job"}}}}
JOB_ID = {"name": "job_id", "in": "path", "required": True, "schema": {"type": "string"}}
NAME = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
BATCH_BODY = {
    "required": True,
    "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/Batch"}},
        "text/csv": {"schema": {"type": "string"}, "description": "a header row of feature names, then rows"},
        "application/x-ndjson": {"schema": {"type": "string"}, "description": "one instance per line"},
        "application/vnd.apache.parquet": {"schema": {"type": "string", "format": "binary"},
                                           "description": "one column per model column (and pass-through)"},
    },
}


def _query(name: str, kind: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": {"type": kind}, "description": description}


def _errors(*codes: int) -> dict[str, Any]:
    return {str(code): {"description": "a problem", **PROBLEM} for code in codes}


def _op(summary: str, responses: dict[str, Any], parameters: list[dict[str, Any]] | None = None,
        body: dict[str, Any] | None = None) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "responses": responses}
    if parameters:
        op["parameters"] = parameters
    if body:
        op["requestBody"] = body
    return op


BATCH_PARAMS = [_query("model", "string", "CSV/NDJSON: the model name"),
                _query("version", "integer", "CSV/NDJSON: the model version"),
                _query("method", "string", "predict, predict_proba or decision_function"),
                _query("passthrough", "string", "comma-separated input columns returned beside each result"),
                _query("extra_columns", "string", "ignore: columns the model does not use are let through")]

PATHS: dict[str, Any] = {
    "/jobs": {
        "post": _op("Submit a batch; answers 202 with the queued job",
                    {"202": {"description": "accepted", **JOB}, "200": {"description": "dry run, or a repeated "
                                                                         "Idempotency-Key"},
                     **_errors(400, 401, 404, 409, 413, 415, 422, 503)},
                    [*BATCH_PARAMS, _query("dry_run", "boolean", "validate only"),
                     {"name": "Idempotency-Key", "in": "header", "required": False, "schema": {"type": "string"}}],
                    BATCH_BODY),
        "get": _op("The caller's jobs, newest first", {"200": {"description": "a page of jobs"}, **_errors(400, 401)},
                   [_query("status", "string", "queued, running, succeeded, failed or cancelled"),
                    _query("limit", "integer", "1 to 500, default 50"), _query("cursor", "string", "from next")]),
    },
    "/jobs/{job_id}": {
        "get": _op("A job's status, progress and (small) results", {"200": {"description": "the job", **JOB},
                                                                    **_errors(400, 401, 404)},
                   [JOB_ID, _query("wait", "number", "long poll: seconds to wait for a terminal status, at most 30")]),
        "delete": _op("Cancel a queued or running job", {"200": {"description": "the cancelled job", **JOB},
                                                         **_errors(401, 404, 409)}, [JOB_ID]),
    },
    "/jobs/{job_id}/results": {
        "get": _op("A job's results: paged JSON, or streamed CSV / NDJSON / Parquet",
                   {"200": {"description": "results"}, **_errors(400, 401, 404, 409)},
                   [JOB_ID, _query("offset", "integer", "first row"), _query("limit", "integer", "1 to 100000"),
                    _query("format", "string", "json, csv, ndjson or parquet"),
                    _query("follow", "boolean", "stream rows while the job runs")]),
    },
    "/models": {"get": _op("Every model at its latest version", {"200": {"description": "models"}, **_errors(401)})},
    "/models/{name}": {"get": _op("One model, with every version", {"200": {"description": "the model"},
                                                                     **_errors(401, 404)}, [NAME])},
    "/models/{name}/predict": {
        "post": _op("Score a small batch at once", {"200": {"description": "results"},
                                                    **_errors(400, 401, 404, 413, 415, 422)},
                    [NAME, *BATCH_PARAMS], BATCH_BODY),
    },
    "/healthz": {"get": _op("Liveness", {"200": {"description": "the process runs"}})},
    "/readyz": {"get": _op("Readiness: Redis answers and a worker is alive",
                           {"200": {"description": "ready"}, **_errors(503)})},
    "/metrics": {"get": _op("Prometheus metrics", {"200": {"description": "text format"}})},
}

SCHEMAS: dict[str, Any] = {
    "Problem": {"type": "object", "required": ["type", "title", "status", "detail"],
                "properties": {"type": {"type": "string"}, "title": {"type": "string"},
                               "status": {"type": "integer"}, "detail": {"type": "string"},
                               "errors": {"type": "array", "items": {"type": "object"}}}},
    "Batch": {"type": "object", "required": ["instances"],
              "properties": {"instances": {"type": "array", "minItems": 1},
                             "model": {"type": "string"}, "version": {"type": ["integer", "string"]},
                             "method": {"type": "string"}, "metadata": {"type": "object"},
                             "passthrough": {"type": "array", "items": {"type": "string"}},
                             "extra_columns": {"type": "string", "enum": ["error", "ignore"]}}},
    "Job": {"type": "object",
            "properties": {name: {} for name in ("job_id", "status", "model", "method", "rows", "progress",
                                                 "created_at", "started_at", "finished_at", "error",
                                                 "metadata", "results", "links")}},
}


@functools.cache
def openapi_document() -> dict[str, Any]:
    return {"openapi": "3.1.0",
            "info": {"title": "predq", "version": "1.0.0",
                     "description": "Asynchronous batch scoring of scikit-learn models."},
            "paths": PATHS, "components": {"schemas": SCHEMAS,
                                           "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}}}


def _docs_page() -> str:
    rows = []
    for path, ops in PATHS.items():
        for method, op in ops.items():
            rows.append(f"<tr><td><code>{method.upper()}</code></td><td><code>{html.escape(path)}</code></td>"
                        f"<td>{html.escape(op['summary'])}</td></tr>")
    return ("<!doctype html><html><head><meta charset='utf-8'><title>predq API</title>"
            "<style>body{font-family:sans-serif;margin:2em}td{padding:.3em 1em}</style></head><body>"
            "<h1>predq API</h1><p>The machine-readable document is <a href='/openapi.json'>/openapi.json</a>.</p>"
            f"<table>{''.join(rows)}</table></body></html>")


DOCS_PAGE = _docs_page()
