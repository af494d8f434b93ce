"""Answers the server writes itself, before a request reaches Flask, as problem+json like every other 4xx.

gunicorn refuses what it cannot parse (a request line over `limit_request_line`, a malformed header, a bad
chunk) with an HTML page that quotes the client's bytes back; predq's worker (api/gworker.py) writes these
instead: the contract's problem object, predq's own words, and the headers every answer carries.
"""

from __future__ import annotations

import socket

import orjson
from gunicorn import util

from api.guard import API_CONTENT_SECURITY_POLICY
from shared.errors import HttpError

DETAILS = {
    400: "the request is not well-formed HTTP/1.1",
    403: "the request is forbidden",
    414: "the request line (method, path and query string) is too long; send parameters in the body",
    417: "the Expect header asks for something this server does not do",
    431: "the request's headers are too large",
    501: "the request uses a transfer coding this server does not support",
}
"""What each status gunicorn answers by itself means, said without echoing what the client sent."""


def problem_bytes(status: int, reason: str) -> bytes:
    """A whole HTTP/1.1 answer carrying the problem for `status`; the connection closes after it."""
    detail = DETAILS.get(status, "the server could not handle the request; it has been logged")
    body = orjson.dumps(HttpError(status, reason, detail).to_problem())
    head = (f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\nContent-Type: application/problem+json\r\n"
            f"Content-Length: {len(body)}\r\nX-Content-Type-Options: nosniff\r\n"
            f"Content-Security-Policy: {API_CONTENT_SECURITY_POLICY}\r\n\r\n")
    return head.encode("latin-1") + body


def write_problem(sock: socket.socket, status_int: int, reason: str, _mesg: str) -> None:
    """gunicorn's `util.write_error`, as a problem (its `mesg` quotes the client's bytes: left out)."""
    util.write_nonblock(sock, problem_bytes(status_int, reason))
