"""The OpenAPI 3 document, built from the app's URL map and the declarations on its views."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from werkzeug.routing import Rule

from api.operations import OPENAPI_ATTRIBUTE, PROBLEM, Header, Operation, Reply
from api.schemas import SCHEMAS, ref
from shared.errors import PredqError, UnauthorizedError, UndocumentedRouteError

OPENAPI_VERSION = "3.0.3"
"""3.0, which the Swagger UI that /docs serves renders."""

UNDOCUMENTED_METHODS = frozenset({"HEAD", "OPTIONS"})
"""Werkzeug answers these by itself for every route."""

BEARER = "bearer"
CACHE_KEY = "predq.openapi"


def openapi_document(app: Flask) -> dict[str, Any]:
    """The document of every route `app` serves (built once per app)."""
    if CACHE_KEY not in app.extensions:
        app.extensions[CACHE_KEY] = build_document(app)
    document: dict[str, Any] = app.extensions[CACHE_KEY]
    return document


def build_document(app: Flask) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        operation = _operation_of(app, rule)
        item = paths.setdefault(openapi_path(rule.rule), {})
        for method in sorted((rule.methods or set()) - UNDOCUMENTED_METHODS):
            item[method.lower()] = _render(operation, rule, method)
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": "predq", "version": "1.0.0",
                 "description": "Asynchronous batch scoring of scikit-learn models. When API keys are configured, "
                                "/jobs and /models need `Authorization: Bearer <key>`."},
        "paths": paths,
        "components": {"schemas": SCHEMAS,
                       "securitySchemes": {BEARER: {"type": "http", "scheme": "bearer",
                                                    "description": "an API key from API_KEYS or API_KEYS_FILE"}}},
    }


def openapi_path(rule: str) -> str:
    """/jobs/<job_id> and /x/<path:name> as OpenAPI writes them: /jobs/{job_id}, /x/{name}."""
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def _operation_of(app: Flask, rule: Rule) -> Operation:
    view = app.view_functions[rule.endpoint]
    operation = getattr(view, OPENAPI_ATTRIBUTE, None)
    if not isinstance(operation, Operation):
        raise UndocumentedRouteError(f"{rule.rule} ({rule.endpoint}) has no @documented operation")
    return operation


def _render(op: Operation, rule: Rule, method: str) -> dict[str, Any]:
    rendered: dict[str, Any] = {"summary": op.summary, "operationId": f"{rule.endpoint}.{method.lower()}",
                                "tags": [op.tag], "responses": _responses(op)}
    if op.description:
        rendered["description"] = op.description
    parameters = [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                  for name in sorted(rule.arguments)]
    parameters += [q.openapi() for q in op.query]
    parameters += [{"name": h.name, "in": "header", "required": False, "description": h.description,
                    "schema": dict(h.schema)} for h in op.headers]
    if parameters:
        rendered["parameters"] = parameters
    if op.body is not None:
        rendered["requestBody"] = dict(op.body)
    rendered["security"] = [{BEARER: []}] if op.secured else []
    return rendered


def _responses(op: Operation) -> dict[str, Any]:
    responses = {str(status): _reply(reply) for status, reply in sorted(op.replies.items())}
    problems: tuple[type[PredqError], ...] = (*op.problems, UnauthorizedError) if op.secured else op.problems
    titles: dict[int, list[str]] = {}
    for error in problems:
        titles.setdefault(error.status, [])
        if error.title not in titles[error.status]:
            titles[error.status].append(error.title)
    for status, names in sorted(titles.items()):
        answer: dict[str, Any] = {"description": " or ".join(names),
                                  "content": {PROBLEM: {"schema": ref("Problem")}}}
        if status in (429, 503):
            answer["headers"] = _headers((Header("Retry-After", "seconds to wait", {"type": "integer"}),))
        if status == 401:
            answer["headers"] = _headers((Header("WWW-Authenticate", 'Bearer realm="predq"'),))
        responses[str(status)] = answer
    return responses


def _reply(reply: Reply) -> dict[str, Any]:
    rendered: dict[str, Any] = {"description": reply.description}
    if reply.content:
        rendered["content"] = {media: dict(body) for media, body in reply.content.items()}
    if reply.headers:
        rendered["headers"] = _headers(reply.headers)
    return rendered


def _headers(headers: tuple[Header, ...]) -> dict[str, Any]:
    return {h.name: {"description": h.description, "schema": dict(h.schema)} for h in headers}
