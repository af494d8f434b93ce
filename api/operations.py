"""What each view takes and answers, declared beside it with `@documented(...)`.

The OpenAPI document is built from these declarations and the Flask app's own URL map
(`api.openapi`), so a route without a declaration cannot be served undocumented.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from api.params import Query
from api.schemas import ref
from shared.errors import PredqError
from shared.parsing.submission import CSV_TYPES, JSON_TYPES, NDJSON_TYPES, PARQUET_TYPES

F = TypeVar("F", bound=Callable[..., Any])
OPENAPI_ATTRIBUTE = "__openapi__"

JSON = "application/json"
PROBLEM = "application/problem+json"


@dataclass(frozen=True)
class Header:
    """A request or response header."""

    name: str
    description: str
    schema: Mapping[str, Any] = field(default_factory=lambda: {"type": "string"})


@dataclass(frozen=True)
class Reply:
    """One successful answer: its description, body per media type, and headers."""

    description: str
    content: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    headers: tuple[Header, ...] = ()


@dataclass(frozen=True)
class Operation:
    summary: str
    replies: Mapping[int, Reply]
    tag: str
    query: tuple[Query, ...] = ()
    headers: tuple[Header, ...] = ()
    body: Mapping[str, Any] | None = None
    problems: tuple[type[PredqError], ...] = ()
    secured: bool = False
    description: str = ""


def documented(operation: Operation) -> Callable[[F], F]:
    """Attach `operation` to a view function."""

    def attach(view: F) -> F:
        setattr(view, OPENAPI_ATTRIBUTE, operation)
        return view

    return attach


def json_reply(description: str, schema: str, headers: tuple[Header, ...] = ()) -> Reply:
    return Reply(description, {JSON: {"schema": ref(schema)}}, headers)


RETRY_AFTER = Header("Retry-After", "seconds: a suggested poll interval (jobs not yet terminal) or back-off",
                     {"type": "integer", "minimum": 1})
LOCATION = Header("Location", "the new job's path, /jobs/<job_id>")
IDEMPOTENCY_KEY = Header("Idempotency-Key", "the same key and body within the result TTL answers 200 with the "
                                            "first job; the same key with another body is a 409")

_CSV_ROWS = {"type": "string", "description": "a header row of column names (any order), then one row per "
                                              "instance, each cell read as its column's type; an empty cell is a "
                                              "missing value"}
_NDJSON_ROWS = {"type": "string", "description": "one instance per line: an array or an object"}
_PARQUET_ROWS = {"type": "string", "format": "binary",
                 "description": "one column per model column, castable to its type without loss (and any "
                                "pass-through columns); a null is a missing value"}


def batch_body(by_reference: bool = False) -> dict[str, Any]:
    """Every body a batch may come as, keyed by each media type the parser takes; `by_reference` adds the JSON
    body that names data in storage."""
    content: dict[str, Any] = {}
    json_body = {"oneOf": [ref("Batch"), ref("ReferenceBatch")]} if by_reference else ref("Batch")
    for types, schema in ((JSON_TYPES, json_body), (CSV_TYPES, _CSV_ROWS), (NDJSON_TYPES, _NDJSON_ROWS),
                          (PARQUET_TYPES, _PARQUET_ROWS)):
        for media in types:
            content[media] = {"schema": schema}
    return {"required": True, "content": content,
            "description": "JSON carries its parameters in the body; CSV, NDJSON and Parquet in the query string"}
