"""/models: the model store, and synchronous scoring of small batches."""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Response

from api import declarations as spec
from api.auth import require_key
from api.operations import documented
from api.responses import json_response
from api.services import services
from api.submissions import body_reader, collect_rows, open_request_batch
from shared.errors import BadRequestError, PayloadTooLargeError, RowLimitError, UnprocessableError
from shared.outputs import json_values, result_table
from shared.parsing.submission import Reference
from shared.registry import ModelEntry, load_estimator
from shared.scoring import model_input, passthrough_columns, score

log = logging.getLogger(__name__)
bp = Blueprint("models", __name__)
bp.before_request(require_key)


def entry_of(model: ModelEntry) -> dict[str, Any]:
    return model.to_public(default=model.name == services().settings.default_model)


@bp.get("/models")
@documented(spec.MODELS)
def list_models() -> Response:
    return json_response({"models": [entry_of(m) for m in services().registry.latest_entries()]})


@bp.get("/models/<name>")
@documented(spec.MODEL)
def get_model(name: str) -> Response:
    versions = services().registry.versions(name)
    return json_response({**entry_of(versions[-1]), "versions": [entry_of(v) for v in versions]})


@bp.post("/models/<name>/predict")
@documented(spec.PREDICT)
def predict_now(name: str) -> Response:
    """The same validation and scoring as a job, answered at once for small batches."""
    svc = services()
    svc.registry.versions(name)  # an unknown model is a 404 before the body is read
    batch = open_request_batch(svc, body_reader(svc), route_model=name)
    if isinstance(batch, Reference):
        raise BadRequestError("this route scores the rows in its body; submit data in storage (input.uri) as a job "
                              "with POST /jobs")
    limit = svc.settings.sync_max_rows
    try:
        rows = collect_rows(batch, limit)
    except RowLimitError:
        raise PayloadTooLargeError(f"more rows than this route scores at once (SYNC_MAX_ROWS = {limit}); "
                                   "submit them as a job with POST /jobs") from None
    model = batch.model
    estimator = load_estimator(model)
    try:
        result = score(estimator, batch.method, model_input(estimator, rows, model.schema))
    except Exception as exc:  # the model's own message may hold paths or hosts: the log keeps it, not the answer
        log.exception("model %s failed on a synchronous batch", model.label)
        raise UnprocessableError(f"model {model.label} could not score these rows: its "
                                 f"{batch.method} raised {type(exc).__name__}") from None
    table = result_table(batch.method, result, model.classes, passthrough_columns(rows, model.schema))
    body: dict[str, Any] = {"results": json_values(table, batch.method, len(batch.passthrough)), "model": model.ref()}
    if batch.method == "predict_proba":
        body["classes"] = list(model.classes or [])
    svc.metrics.count("predq_rows_scored", rows.num_rows, model=name)
    return json_response(body)
