"""The HTTP API: `gunicorn 'api:create_app()'`."""

from __future__ import annotations

import logging

from flask import Flask, Response, request

from api import guard, holds, jobs, models, ops, pages, request_log
from api.problems import register_error_handlers
from api.services import services
from shared import logs
from shared.services import Services, build_services
from shared.settings import Settings

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, services: Services | None = None) -> Flask:
    """The Flask app for `settings` (read from the environment when omitted)."""
    settings = settings or (services.settings if services else Settings.from_env())
    logs.configure(settings)
    app = Flask(__name__, static_folder=None)  # pages.py serves the pages' files
    # One byte over the limit reaches our own reader, which answers 413; werkzeug alone would cut a
    # chunked body at the limit without a word.
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes + 1
    app.extensions["predq"] = services or build_services(settings)
    for blueprint in (jobs.bp, models.bp, ops.bp, pages.bp):
        app.register_blueprint(blueprint)
    register_error_handlers(app)
    app.after_request(_count_request)
    request_log.init_app(app)
    holds.init_app(app, settings.max_held_requests, settings.max_uploads)
    guard.init_app(app)  # after the request log's start, so a refused request is logged with its id
    if not app.extensions["predq"].api_keys:
        log.warning("no API_KEYS configured: the API is open to anyone who can reach it")
    return app


COUNTED_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
"""Methods counted by name; anything else a client invents is counted as "other", so labels stay few."""


def _count_request(response: Response) -> Response:
    # Route templates, not paths, and known methods only: no label takes a value the client chooses.
    route = request.url_rule.rule if request.url_rule is not None else "<unmatched>"
    method = request.method if request.method in COUNTED_METHODS else "other"
    try:
        services().metrics.count("predq_http_requests", route=route, method=method,
                                 status=str(response.status_code))
    except Exception as exc:  # metrics must never break an answer
        log.debug("could not count a request: %s", exc)
    return response

