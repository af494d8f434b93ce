"""Pages for people: Swagger UI at /docs, the jobs page at /ui, and the OpenAPI document they read.

Every file comes from this host: Swagger UI from the swagger-ui-bundle package, the jobs page from
api/static/. The pages need no API key (the jobs page asks for one and sends it itself).
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, current_app, send_from_directory
from swagger_ui_bundle import swagger_ui_path
from werkzeug.exceptions import NotFound

from api import declarations as spec
from api.openapi import openapi_document
from api.operations import documented
from api.responses import json_response

bp = Blueprint("pages", __name__)

STATIC = Path(__file__).resolve().parent / "static"
SWAGGER_FILES = frozenset({"swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "swagger-ui.css",
                           "favicon-32x32.png", "favicon-16x16.png"})
"""What /docs loads from the swagger-ui-bundle package."""

CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                           "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
                           "frame-ancestors 'none'; form-action 'none'")
"""Only this host's own files run; Swagger UI sets style attributes, hence 'unsafe-inline' for styles only."""


@bp.after_request
def _page_headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@bp.get("/openapi.json")
@documented(spec.OPENAPI)
def openapi_json() -> Response:
    return json_response(openapi_document(current_app))


@bp.get("/docs")
@documented(spec.DOCS)
def docs() -> Response:
    return send_from_directory(STATIC, "docs.html", max_age=0)


@bp.get("/docs/<path:filename>")
@documented(spec.ASSET)
def docs_asset(filename: str) -> Response:
    if filename in SWAGGER_FILES:
        return send_from_directory(Path(str(swagger_ui_path)), filename, max_age=3600)
    return _static(filename)


@bp.get("/ui")
@documented(spec.JOBS_PAGE)
def jobs_page() -> Response:
    return send_from_directory(STATIC, "jobs.html", max_age=0)


@bp.get("/ui/<path:filename>")
@documented(spec.ASSET)
def ui_asset(filename: str) -> Response:
    return _static(filename)


def _static(filename: str) -> Response:
    if filename.endswith(".html"):
        raise NotFound()
    return send_from_directory(STATIC, filename, max_age=0)
