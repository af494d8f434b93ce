"""A submitted batch, whatever its body form, validated whole against its model."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import orjson

from shared.errors import (
    BadRequestError,
    PayloadTooLargeError,
    PredqError,
    UnprocessableError,
    UnsupportedMediaTypeError,
)
from shared.parsing import bodies
from shared.parsing.rows import rows_to_array
from shared.registry import METHODS, ModelEntry, ModelRegistry

MAX_METADATA_BYTES = 4096
"""Metadata is echoed on every job poll, so it stays small."""

JSON_TYPES = ("application/json",)
CSV_TYPES = ("text/csv",)
NDJSON_TYPES = ("application/x-ndjson", "application/ndjson", "application/jsonl")


@dataclass(frozen=True)
class Limits:
    max_rows: int
    callback_hosts: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Submission:
    """A batch that fits its model: what a job or a sync prediction is made of."""

    model: ModelEntry
    method: str
    X: np.ndarray
    metadata: dict[str, Any] = field(default_factory=dict)
    callback_url: str | None = None

    @property
    def rows(self) -> int:
        return int(self.X.shape[0])


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";")[0].strip().lower()


def parse_submission(content_type: str | None, body: bytes, query: Mapping[str, str], registry: ModelRegistry,
                     limits: Limits, route_model: str | None = None) -> Submission:
    """Validate a whole POST body against its model; raise the 4xx it deserves."""
    kind = media_type(content_type)
    if kind in JSON_TYPES:
        return _from_json(body, query, registry, limits, route_model)
    if kind in NDJSON_TYPES:
        params = _query_params(query)
        return _from_rows(bodies.load_ndjson(body), params, registry, limits, route_model,
                          bodies.may_hold_booleans(body))
    if kind in CSV_TYPES:
        return _from_csv(body, _query_params(query), registry, limits, route_model)
    raise UnsupportedMediaTypeError(
        f"Content-Type {kind or '(none)'} is not supported; send application/json, text/csv or "
        "application/x-ndjson")


def _from_json(body: bytes, query: Mapping[str, str], registry: ModelRegistry, limits: Limits,
               route_model: str | None) -> Submission:
    doc = bodies.load_json(body)
    if not isinstance(doc, dict):
        raise BadRequestError('the JSON body is an object: {"instances": [...], "model": ...}')
    if "instances" not in doc:
        raise BadRequestError('the JSON body has no "instances" (a list of rows)')
    params = {**_query_params(query), **{k: doc[k] for k in ("model", "version", "method", "metadata",
                                                               "callback_url") if k in doc}}
    return _from_rows(doc["instances"], params, registry, limits, route_model, bodies.may_hold_booleans(body),
                      version_status=UnprocessableError)


def _from_rows(instances: Any, params: dict[str, Any], registry: ModelRegistry, limits: Limits,
               route_model: str | None, may_hold_booleans: bool,
               version_status: type[PredqError] = BadRequestError) -> Submission:
    if not isinstance(instances, list):
        raise BadRequestError('"instances" is a list of rows')
    _check_row_count(len(instances), limits)
    model, method, metadata, callback = _resolve(params, registry, limits, route_model, version_status)
    X = rows_to_array(instances, model.features, model.handles_missing, may_hold_booleans)
    return Submission(model, method, X, metadata, callback)


def _from_csv(body: bytes, params: dict[str, Any], registry: ModelRegistry, limits: Limits,
              route_model: str | None) -> Submission:
    header, rows = bodies.csv_table(body)
    _check_row_count(len(rows), limits)
    model, method, metadata, callback = _resolve(params, registry, limits, route_model, BadRequestError)
    X = bodies.csv_to_array(header, rows, model.features, model.handles_missing)
    return Submission(model, method, X, metadata, callback)


def _check_row_count(n_rows: int, limits: Limits) -> None:
    if n_rows == 0:
        raise UnprocessableError("the batch has no rows")
    if n_rows > limits.max_rows:
        raise PayloadTooLargeError(f"the batch has {n_rows} rows; the limit (MAX_ROWS) is {limits.max_rows}")


def _query_params(query: Mapping[str, str]) -> dict[str, Any]:
    params: dict[str, Any] = {k: query[k] for k in ("model", "version", "method", "callback_url") if k in query}
    if "metadata" in query:
        params["metadata"] = bodies.load_json(query["metadata"].encode(), where="the metadata parameter")
    return params


def _resolve(params: dict[str, Any], registry: ModelRegistry, limits: Limits, route_model: str | None,
             version_status: type[PredqError]) -> tuple[ModelEntry, str, dict[str, Any], str | None]:
    name = params.get("model")
    if name is not None and not isinstance(name, str):
        raise UnprocessableError('"model" is a model name (a string)')
    if route_model is not None and name is not None and name != route_model:
        raise UnprocessableError(f"the body names model {name!r}, but this route scores {route_model!r}")
    version = parse_version(params.get("version"), version_status)
    model = registry.get(route_model or name or registry.default_model, version)
    method = _method(params.get("method"), model)
    metadata = _metadata(params.get("metadata"))
    callback = _callback(params.get("callback_url"), limits)
    return model, method, metadata, callback


def parse_version(raw: Any, error: type[PredqError] = BadRequestError) -> int | None:
    """A positive integer, sent as a number or a string; None when absent."""
    if raw is None:
        return None
    if isinstance(raw, int) and not isinstance(raw, bool) and raw > 0:
        return raw
    if isinstance(raw, str) and raw.isascii() and raw.isdigit() and int(raw) > 0:
        return int(raw)
    raise error(f"version is a positive integer, got {raw!r}")


def _method(raw: Any, model: ModelEntry) -> str:
    method = "predict" if raw is None else raw
    if not isinstance(method, str) or method not in METHODS:
        raise UnprocessableError(f"unknown method {method!r}; methods are {', '.join(METHODS)}")
    if method not in model.methods:
        raise UnprocessableError(f"model {model.name} v{model.version} has no {method}; it offers "
                                 f"{', '.join(model.methods)}")
    return method


def _metadata(raw: Any) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise BadRequestError('"metadata" is a JSON object')
    try:
        size = len(orjson.dumps(raw))
    except TypeError:
        raise UnprocessableError("metadata holds values that are not JSON (NaN or Infinity)") from None
    if size > MAX_METADATA_BYTES:
        raise UnprocessableError(f"metadata is {size} bytes in compact JSON; the limit is {MAX_METADATA_BYTES}")
    return raw


def _callback(raw: Any, limits: Limits) -> str | None:
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise UnprocessableError('"callback_url" is an http(s) URL')
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnprocessableError(f"callback_url {raw!r} is not an http(s) URL")
    if parts.hostname.lower() not in limits.callback_hosts:
        raise UnprocessableError(f"callback host {parts.hostname!r} is not in CALLBACK_ALLOWED_HOSTS")
    return raw
