"""Reading a POST body into a validated submission."""

from __future__ import annotations

from flask import request

from api.services import Services
from shared.errors import PayloadTooLargeError
from shared.parsing.submission import Limits, Submission, parse_submission


def read_submission(svc: Services, route_model: str | None = None, max_rows: int | None = None) -> Submission:
    """The request's body, parsed by its Content-Type and checked against its model."""
    limit = svc.settings.max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLargeError(f"the body is {request.content_length} bytes; the limit (MAX_BODY_BYTES) "
                                   f"is {limit}")
    body = request.get_data(cache=True)
    limits = Limits(max_rows=max_rows or svc.settings.max_rows, callback_hosts=svc.settings.callback_hosts())
    return parse_submission(request.content_type, body, request.args, svc.registry, limits, route_model)
