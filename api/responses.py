"""JSON and problem+json responses, encoded with orjson."""

from __future__ import annotations

from typing import Any

import orjson
from flask import Response

from shared.errors import PredqError

PROBLEM_TYPE = "application/problem+json"


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY), status=status,
                    headers=headers, mimetype="application/json")


def problem_response(error: PredqError) -> Response:
    headers = {}
    if error.retry_after is not None:
        headers["Retry-After"] = str(error.retry_after)
    if error.status == 408:  # the rest of the body is not worth waiting for: the connection ends here
        headers["Connection"] = "close"
    if error.status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="predq"'
    return Response(orjson.dumps(error.to_problem()), status=error.status, headers=headers,
                    content_type=PROBLEM_TYPE)
