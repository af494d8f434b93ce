"""A submitted batch, whatever its body form: its parameters resolved, its rows as validated blocks."""

from __future__ import annotations

import math
import tempfile
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, BinaryIO
from urllib.parse import urlsplit

import numpy as np
import orjson
import pyarrow as pa

from shared.batch import Batch, check_row_count
from shared.errors import (
    BadRequestError,
    PredqError,
    UnprocessableError,
    UnsupportedMediaTypeError,
    brief,
)
from shared.parsing import bodies, json_rows
from shared.parsing.columns import DEFAULT_MAX_STRING_BYTES, RowSpec, check_column_count
from shared.parsing.csv_stream import iter_csv
from shared.parsing.csv_typed import iter_typed_csv
from shared.parsing.ndjson_stream import iter_ndjson, iter_typed_ndjson
from shared.parsing.parquet import iter_parquet
from shared.parsing.parquet_typed import iter_typed_parquet
from shared.parsing.rows import ErrorCollector, rows_to_array
from shared.parsing.streams import LimitedReader
from shared.parsing.typed_rows import rows_to_table
from shared.registry import METHODS, ModelEntry, ModelRegistry

MAX_METADATA_BYTES = 4096
"""Metadata is echoed on every job poll, so it stays small."""

MAX_VERSION_DIGITS = 9
"""A version is a small positive integer; a longer string of digits names none."""

JSON_TYPES = ("application/json",)
CSV_TYPES = ("text/csv",)
NDJSON_TYPES = ("application/x-ndjson", "application/ndjson", "application/jsonl")
PARQUET_TYPES = ("application/vnd.apache.parquet", "application/x-parquet", "application/parquet")


@dataclass(frozen=True)
class Reference:
    """A batch by reference (`input.uri`): its parameters, and where its rows are (and its results go)."""

    model: ModelEntry
    method: str
    metadata: dict[str, Any]
    callback_url: str | None
    spec: RowSpec
    input_uri: str
    input_format: str | None
    output_uri: str | None


@dataclass(frozen=True)
class Limits:
    max_rows: int
    callback_hosts: frozenset[str] = frozenset()
    max_string_bytes: int = DEFAULT_MAX_STRING_BYTES


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";")[0].strip().lower()


def open_batch(content_type: str | None, body: BinaryIO | LimitedReader, query: Mapping[str, str],
               registry: ModelRegistry, limits: Limits, route_model: str | None = None) -> Batch | Reference:
    """Resolve the batch's parameters; its rows are parsed while `Batch.blocks` is read."""
    kind = media_type(content_type)
    if kind in JSON_TYPES:
        return _json_batch(body.read(), query, registry, limits, route_model)
    if kind not in CSV_TYPES + NDJSON_TYPES + PARQUET_TYPES:
        raise UnsupportedMediaTypeError(
            f"Content-Type {kind or '(none)'} is not supported; send application/json, text/csv, "
            "application/x-ndjson or application/vnd.apache.parquet")
    params = _query_params(query)
    model, method, metadata, callback = resolve(params, registry, limits, route_model, BadRequestError)
    spec = row_spec(model, params, limits)
    fmt = "csv" if kind in CSV_TYPES else "ndjson" if kind in NDJSON_TYPES else "parquet"
    body_file = _spooled(body) if fmt == "parquet" else body
    return Batch(model, method, row_blocks(fmt, body_file, model, spec, limits.max_rows), metadata, callback,
                 spec.passthrough)


def row_blocks(fmt: str, body: BinaryIO | LimitedReader, model: ModelEntry, spec: RowSpec, max_rows: int,
               ) -> Iterator[np.ndarray | pa.Table]:
    """Validated blocks of a `fmt` body ("csv", "ndjson", or "parquet": then a seekable file)."""
    if not is_typed(model, spec):  # the all-number fast path: float64 arrays straight from the parsers
        if fmt == "csv":
            return iter_csv(body, model.features, model.handles_missing)
        if fmt == "ndjson":
            return iter_ndjson(body, model.features, model.handles_missing)
        return iter_parquet(body, model.features, model.handles_missing, max_rows)  # type: ignore[arg-type]
    if fmt == "csv":
        return iter_typed_csv(body, spec)
    if fmt == "ndjson":
        return iter_typed_ndjson(body, spec)
    return iter_typed_parquet(body, spec, max_rows)  # type: ignore[arg-type]


def is_typed(model: ModelEntry, spec: RowSpec) -> bool:
    """Whether rows go through the typed path: typed columns, pass-through or ignored extra columns."""
    return not model.fast_path or bool(spec.passthrough) or spec.ignore_extra


def row_spec(model: ModelEntry, params: dict[str, Any], limits: Limits) -> RowSpec:
    """The columns a batch must carry: the model's schema, its `passthrough` names, `extra_columns`."""
    passthrough = _passthrough(params.get("passthrough"), model)
    extra = params.get("extra_columns", "error")
    if extra not in ("error", "ignore"):
        raise UnprocessableError(f"extra_columns is 'ignore' or 'error', got {brief(extra)}")
    return RowSpec(model.schema, passthrough, extra == "ignore", limits.max_string_bytes)


def _passthrough(raw: Any, model: ModelEntry) -> tuple[str, ...]:
    if raw is None:
        return ()
    names = [n.strip() for n in raw.split(",")] if isinstance(raw, str) else raw
    if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
        raise UnprocessableError("passthrough is a list of column names")
    check_column_count(len(names), "passthrough")
    errors = ErrorCollector()
    outputs = {"prediction", "decision", *(str(c) for c in model.classes or ())}
    features, counts = set(model.features), Counter(names)  # sets: no step quadratic in what the client lists
    for name in names:
        if name in features:
            errors.add("a model column cannot also be a pass-through column", column=name)
        elif name in outputs or counts[name] > 1:
            errors.add("a pass-through name must be unique and differ from the output columns", column=name)
    errors.raise_if_any("passthrough")
    return tuple(dict.fromkeys(names))


SPOOL_MEMORY_BYTES = 64 << 20
"""A Parquet body up to this size is held in memory; a bigger one goes to a temporary file."""


def _spooled(body: BinaryIO | LimitedReader) -> BinaryIO:
    """Parquet needs a seekable file: the body, kept on disk past SPOOL_MEMORY_BYTES rather than in memory.

    In memory it is one buffer that Arrow reads without copying (a BufferReader), not a BytesIO that each
    of Arrow's reads copies out of through Python. The buffer comes from Arrow's memory pool, which keeps
    freed memory for the next body: joining the pieces into new bytes cost the operating system's page faults
    on every byte of every body (22 ms against 4 ms for 37 MB)."""
    parts: list[bytes] = []
    size = 0
    while block := body.read(1 << 20):
        parts.append(block)
        size += len(block)
        if size > SPOOL_MEMORY_BYTES:
            return _on_disk(parts, body)
    whole = pa.allocate_buffer(size)
    view, at = memoryview(whole).cast("B"), 0
    for part in parts:
        view[at : at + len(part)] = part
        at += len(part)
    return pa.BufferReader(whole)  # type: ignore[no-any-return]


def _on_disk(parts: list[bytes], body: BinaryIO | LimitedReader) -> BinaryIO:
    spool = tempfile.TemporaryFile()  # noqa: SIM115  (the reader owns it)
    for part in parts:
        spool.write(part)
    parts.clear()
    while block := body.read(1 << 20):
        spool.write(block)
    spool.seek(0)
    return spool


def _json_batch(data: bytes, query: Mapping[str, str], registry: ModelRegistry, limits: Limits,
                route_model: str | None) -> Batch | Reference:
    split = json_rows.split_instances(data)
    if split is not None:
        batch = _json_split_batch(split, data, query, registry, limits, route_model)
        if batch is not None:
            return batch
    with bodies.gc_paused():
        doc = bodies.load_json(data)
        return _json_doc_batch(doc, data, query, registry, limits, route_model)


def _json_split_batch(split: json_rows.Split, data: bytes, query: Mapping[str, str], registry: ModelRegistry,
                      limits: Limits, route_model: str | None) -> Batch | None:
    """A big plain JSON body whose rows are parsed a block at a time (json_rows); None: parse it whole.

    The whole parse counts the rows before it resolves the model, so a body this path cannot take at once
    (no row at all, a model or parameter refused) is parsed whole and answers exactly as before; so is one
    found past MAX_ROWS as its blocks are parsed (json_rows)."""
    if not split.has_rows or "input" in split.doc:
        return None
    try:
        params = _doc_params(split.doc, query)
        model, method, metadata, callback = resolve(params, registry, limits, route_model, UnprocessableError)
        if is_typed(model, row_spec(model, params, limits)):
            return None
    except PredqError:
        return None
    blocks = json_rows.iter_json_rows(data, split, model.features, model.handles_missing, limits.max_rows)
    return Batch(model, method, blocks, metadata, callback)


_BODY_PARAMS = ("model", "version", "method", "metadata", "callback_url", "passthrough", "extra_columns")


def _json_doc_batch(doc: Any, data: bytes, query: Mapping[str, str], registry: ModelRegistry, limits: Limits,
                    route_model: str | None) -> Batch | Reference:
    if not isinstance(doc, dict):
        raise BadRequestError('the JSON body is an object: {"instances": [...], "model": ...}')
    if "input" in doc:
        return _reference(doc, query, registry, limits, route_model)
    if "instances" not in doc:
        raise BadRequestError('the JSON body has no "instances" (a list of rows)')
    instances = doc["instances"]
    if not isinstance(instances, list):
        raise BadRequestError('"instances" is a list of rows')
    check_row_count(len(instances), limits.max_rows)
    params = _doc_params(doc, query)
    model, method, metadata, callback = resolve(params, registry, limits, route_model, UnprocessableError)
    spec = row_spec(model, params, limits)
    if not is_typed(model, spec):
        X = rows_to_array(instances, model.features, model.handles_missing, bodies.may_hold_booleans(data))
        return Batch(model, method, iter([X]), metadata, callback)
    errors = ErrorCollector()
    table = rows_to_table(instances, spec, 0, errors)
    errors.raise_if_any("the instances")
    return Batch(model, method, iter([table]), metadata, callback, spec.passthrough)


STORED_FORMATS = ("parquet", "csv", "ndjson")


def _reference(doc: dict[str, Any], query: Mapping[str, str], registry: ModelRegistry, limits: Limits,
               route_model: str | None) -> Reference:
    """A job by reference: `input` (and `output`) name storage instead of rows in the body."""
    if "instances" in doc:
        raise BadRequestError('the JSON body has "instances" or "input", not both')
    source, output = doc["input"], doc.get("output")
    if not isinstance(source, dict) or not isinstance(source.get("uri"), str):
        raise BadRequestError('"input" is an object: {"uri": "s3://bucket/data.parquet", "format": "parquet"}')
    fmt = source.get("format")
    if fmt is not None and fmt not in STORED_FORMATS:
        raise UnprocessableError(f"input.format is one of {', '.join(STORED_FORMATS)}, got {fmt!r}")
    if output is not None and (not isinstance(output, dict) or not isinstance(output.get("uri"), str)):
        raise BadRequestError('"output" is an object: {"uri": "s3://bucket/out/"}')
    params = _doc_params(doc, query)
    model, method, metadata, callback = resolve(params, registry, limits, route_model, UnprocessableError)
    return Reference(model, method, metadata, callback, row_spec(model, params, limits), source["uri"], fmt,
                     output["uri"] if output is not None else None)


def _doc_params(doc: dict[str, Any], query: Mapping[str, str]) -> dict[str, Any]:
    """A JSON body's parameters, over those of the query string."""
    return {**_query_params(query), **{k: doc[k] for k in _BODY_PARAMS if k in doc}}


def _query_params(query: Mapping[str, str]) -> dict[str, Any]:
    names = ("model", "version", "method", "callback_url", "passthrough", "extra_columns")
    params: dict[str, Any] = {k: query[k] for k in names if k in query}
    if "metadata" in query:
        params["metadata"] = bodies.load_json(query["metadata"].encode(), where="the metadata parameter")
    return params


def resolve(params: dict[str, Any], registry: ModelRegistry, limits: Limits, route_model: str | None,
            version_error: type[PredqError]) -> tuple[ModelEntry, str, dict[str, Any], str | None]:
    """The model entry, method, metadata and callback a batch's parameters name."""
    name = params.get("model")
    if name is not None and not isinstance(name, str):
        raise UnprocessableError('"model" is a model name (a string)')
    if route_model is not None and name is not None and name != route_model:
        raise UnprocessableError(f"the body names model {brief(name)}, but this route scores {route_model!r}")
    version = parse_version(params.get("version"), version_error)
    model = registry.get(route_model or name or registry.default_model, version)
    return model, _method(params.get("method"), model), _metadata(params.get("metadata")), _callback(
        params.get("callback_url"), limits)


def parse_version(raw: Any, error: type[PredqError] = BadRequestError) -> int | None:
    """A positive integer, sent as a number or a string; None when absent."""
    if raw is None:
        return None
    if isinstance(raw, int) and not isinstance(raw, bool) and raw > 0:
        return raw
    if isinstance(raw, str) and raw.isascii() and raw.isdigit() and len(raw) <= MAX_VERSION_DIGITS and int(raw) > 0:
        return int(raw)  # the length first: int() of thousands of digits is slow, and refused past 4,300
    raise error(f"version is a positive integer, got {brief(raw)}")


def _method(raw: Any, model: ModelEntry) -> str:
    method = "predict" if raw is None else raw
    if not isinstance(method, str) or method not in METHODS:
        raise UnprocessableError(f"unknown method {brief(method)}; methods are {', '.join(METHODS)}")
    if method not in model.methods:
        raise UnprocessableError(f"model {model.name} v{model.version} has no {method}; it offers "
                                 f"{', '.join(model.methods)}")
    return method


def _metadata(raw: Any) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise BadRequestError('"metadata" is a JSON object')
    try:  # the encoder the job store writes it with: what it refuses would fail later, after acceptance
        encoded = orjson.dumps(raw)
    except orjson.JSONEncodeError:
        raise UnprocessableError(f"metadata cannot be stored: {unstorable(raw)}") from None
    size = len(encoded)  # orjson writes compact JSON, unescaped UTF-8: the contract's measure
    if size > MAX_METADATA_BYTES:
        raise UnprocessableError(f"metadata is {size} bytes in compact JSON; the limit is {MAX_METADATA_BYTES}")
    if not _finite(raw):  # orjson would write NaN as null, silently
        raise UnprocessableError("metadata holds numbers that are not finite (NaN or Infinity)")
    return raw


def unstorable(value: Any) -> str:
    """Why orjson refuses a JSON value, in predq's words (its own messages name its internals)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_STORED_DEPTH:
            return f"it nests objects or arrays deeper than {MAX_STORED_DEPTH} levels"
        if isinstance(item, int) and not isinstance(item, bool) and not -(2**63) <= item < 2**64:
            return "it holds an integer beyond 64 bits"
        if isinstance(item, str) and not _encodes(item):
            return "it holds a string with a lone surrogate"
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in (*item.keys(), *item.values()))
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return "it is not plain JSON"


MAX_STORED_DEPTH = 254
"""orjson writes at most this many levels of nesting (its recursion limit is 255)."""


def _encodes(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _finite(value: Any) -> bool:
    """No NaN or infinity anywhere in a (small, shallow: it was encoded) JSON value."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    if isinstance(value, list):
        return all(_finite(v) for v in value)
    return True


MAX_CALLBACK_URL_LENGTH = 2048


def _callback(raw: Any, limits: Limits) -> str | None:
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise UnprocessableError('"callback_url" is an http(s) URL')
    if len(raw) > MAX_CALLBACK_URL_LENGTH:  # first: nothing below should read an unbounded string
        raise UnprocessableError(f"callback_url is over {MAX_CALLBACK_URL_LENGTH} characters")
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnprocessableError(f"callback_url {brief(raw)} is not an http(s) URL")
    host = parts.hostname.lower()
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise UnprocessableError(f"callback_url {brief(raw)} has an invalid port") from None
    # "host" allows ports 443 and 80; "host:port" that port; "host:*" any (so a scan of ports stays opt-in).
    hosts = limits.callback_hosts
    if not (f"{host}:{port}" in hosts or f"{host}:*" in hosts or (host in hosts and port in (443, 80))):
        raise UnprocessableError(f"callback host {brief(parts.hostname)} (port {port}) is not in "
                                 "CALLBACK_ALLOWED_HOSTS")
    return raw
