"""A whole POST body, whatever its form, resolved and validated against its model."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
import pytest

from shared.batch import limited_blocks
from shared.errors import (
    BadRequestError,
    ModelNotFoundError,
    PayloadTooLargeError,
    PredqError,
    UnprocessableError,
    UnsupportedMediaTypeError,
)
from shared.parsing.submission import MAX_METADATA_BYTES, Limits, open_batch, parse_version
from shared.registry import ModelEntry, ModelRegistry
from tests.unit.helpers import (
    BREAST_CANCER_FEATURES,
    IRIS_FEATURES,
    as_objects,
    breast_cancer_rows,
    iris_rows,
    to_csv,
    to_ndjson,
)

LIMITS = Limits(max_rows=1000)
ROWS = iris_rows(6)


@dataclass(frozen=True)
class Parsed:
    """A batch read to its end."""

    model: ModelEntry
    method: str
    X: np.ndarray
    metadata: dict[str, Any]
    callback_url: str | None

    @property
    def rows(self) -> int:
        return int(self.X.shape[0])


def parse_submission(content_type: str | None, body: bytes, query: dict[str, str], registry: ModelRegistry,
                     limits: Limits, route_model: str | None = None) -> Parsed:
    batch = open_batch(content_type, io.BytesIO(body), query, registry, limits, route_model)
    X = np.concatenate(list(limited_blocks(batch.blocks, limits.max_rows)))
    return Parsed(batch.model, batch.method, X, batch.metadata, batch.callback_url)


def parse_json(registry: ModelRegistry, doc: Any, query: dict[str, str] | None = None,
               limits: Limits = LIMITS, route_model: str | None = None,
               content_type: str = "application/json") -> Parsed:
    return parse_submission(content_type, orjson.dumps(doc), query or {}, registry, limits, route_model)


def raised(registry: ModelRegistry, content_type: str | None, body: bytes, query: dict[str, str] | None = None,
           limits: Limits = LIMITS, route_model: str | None = None) -> PredqError:
    with pytest.raises(PredqError) as caught:
        parse_submission(content_type, body, query or {}, registry, limits, route_model)
    return caught.value


# ---------------------------------------------------------------- forms


def test_json_body_with_only_instances_takes_the_default_model_at_its_latest_version(
        registry: ModelRegistry) -> None:
    sub = parse_json(registry, {"instances": ROWS})
    assert (sub.model.name, sub.model.version) == ("iris", 2)
    assert sub.method == "predict"
    assert sub.metadata == {}
    assert sub.callback_url is None
    assert sub.rows == len(ROWS)
    np.testing.assert_array_equal(sub.X, np.asarray(ROWS))


@pytest.mark.parametrize("content_type", ["application/json; charset=utf-8", "APPLICATION/JSON"])
def test_json_media_type_ignores_parameters_and_case(registry: ModelRegistry, content_type: str) -> None:
    sub = parse_json(registry, {"instances": ROWS}, content_type=content_type)
    assert sub.rows == len(ROWS)


def test_json_object_rows_equal_array_rows(registry: ModelRegistry) -> None:
    arrays = parse_json(registry, {"instances": ROWS})
    objects = parse_json(registry, {"instances": as_objects(ROWS, IRIS_FEATURES, reverse_keys=True)})
    np.testing.assert_array_equal(arrays.X, objects.X)


@pytest.mark.parametrize("content_type", ["application/x-ndjson", "application/ndjson", "application/jsonl"])
@pytest.mark.parametrize("form", ["arrays", "objects"])
def test_ndjson_rows_equal_json_rows(registry: ModelRegistry, content_type: str, form: str) -> None:
    lines: list[Any] = ROWS if form == "arrays" else as_objects(ROWS, IRIS_FEATURES, reverse_keys=True)
    sub = parse_submission(content_type, to_ndjson(lines), {"model": "iris", "version": "1"}, registry, LIMITS)
    assert (sub.model.name, sub.model.version) == ("iris", 1)
    np.testing.assert_array_equal(sub.X, np.asarray(ROWS))


def test_csv_rows_equal_json_rows_and_take_parameters_from_the_query(registry: ModelRegistry) -> None:
    query = {"model": "iris", "version": "1", "method": "predict_proba", "metadata": '{"batch": 7}'}
    sub = parse_submission("text/csv; charset=utf-8", to_csv(ROWS, IRIS_FEATURES), query, registry, LIMITS)
    assert (sub.model.name, sub.model.version, sub.method) == ("iris", 1, "predict_proba")
    assert sub.metadata == {"batch": 7}
    np.testing.assert_array_equal(sub.X, np.asarray(ROWS))


def test_null_is_accepted_as_missing_for_a_model_that_handles_missing_values(registry: ModelRegistry) -> None:
    rows: list[list[Any]] = [list(r) for r in breast_cancer_rows(3)]
    rows[1][5] = None
    sub = parse_json(registry, {"model": "breast-cancer", "instances": rows})
    assert np.isnan(sub.X[1, 5])
    assert np.isfinite(np.delete(sub.X.ravel(), 1 * len(BREAST_CANCER_FEATURES) + 5)).all()


def test_null_is_a_422_for_a_model_that_cannot_take_missing_values(registry: ModelRegistry) -> None:
    error = raised(registry, "application/json", orjson.dumps({"instances": [[5.1, None, 1.4, 0.2]]}))
    assert error.status == 422
    assert [(e.row, e.column) for e in error.errors or []] == [(0, "sepal_width")]


@pytest.mark.parametrize("content_type", [None, "", "text/plain", "application/xml", "multipart/form-data",
                                          "application/x-www-form-urlencoded"])
def test_unsupported_content_type_is_a_415(registry: ModelRegistry, content_type: str | None) -> None:
    error = raised(registry, content_type, orjson.dumps({"instances": ROWS}))
    assert isinstance(error, UnsupportedMediaTypeError)
    assert error.status == 415


# ---------------------------------------------------------------- shape (400) and fit (422)


@pytest.mark.parametrize(("body", "status"), [
    (b"[1, 2]", 400),
    (b'"instances"', 400),
    (b'{"model": "iris"}', 400),
    (b'{"instances": {"a": 1}}', 400),
    (b'{"instances": "5.1,3.5"}', 400),
    (b'{"instances": null}', 400),
    (b'{"instances": [1, 2, 3]}', 400),
    (b'{"instances": []}', 422),
    (b"{", 400),
], ids=["array-body", "string-body", "no-instances", "instances-object", "instances-string", "instances-null",
        "rows-numbers", "no-rows", "bad-json"])
def test_json_body_of_the_wrong_shape(registry: ModelRegistry, body: bytes, status: int) -> None:
    assert raised(registry, "application/json", body).status == status


def test_mixed_row_forms_are_a_400(registry: ModelRegistry) -> None:
    body = orjson.dumps({"instances": [ROWS[0], as_objects(ROWS[1:2], IRIS_FEATURES)[0]]})
    assert isinstance(raised(registry, "application/json", body), BadRequestError)


def test_empty_ndjson_and_header_only_csv_have_no_rows(registry: ModelRegistry) -> None:
    assert raised(registry, "application/x-ndjson", b"\n\n").status == 422
    assert raised(registry, "text/csv", b",".join(f.encode() for f in IRIS_FEATURES) + b"\n").status == 422


# ---------------------------------------------------------------- model and version


@pytest.mark.parametrize("version", [1, "1", "01"])
def test_version_may_be_a_number_or_a_string(registry: ModelRegistry, version: Any) -> None:
    sub = parse_json(registry, {"model": "iris", "version": version, "instances": ROWS})
    assert sub.model.version == 1
    assert sub.model.sha256 == registry.get("iris", 1).sha256


def test_the_two_iris_versions_are_different_artifacts(registry: ModelRegistry) -> None:
    one = parse_json(registry, {"version": 1, "instances": ROWS})
    two = parse_json(registry, {"version": "2", "instances": ROWS})
    assert one.model.sha256 != two.model.sha256


BAD_VERSIONS = [0, -1, 1.5, 1.0, True, "x", "", "1.0", " 1", "-1", "0", [1], {"v": 1}]


@pytest.mark.parametrize("version", BAD_VERSIONS, ids=[repr(v) for v in BAD_VERSIONS])
def test_a_version_that_is_not_a_positive_integer_is_refused_in_a_json_body(registry: ModelRegistry,
                                                                             version: Any) -> None:
    error = raised(registry, "application/json", orjson.dumps({"version": version, "instances": ROWS}))
    assert error.status == 422
    assert "version" in error.detail


@pytest.mark.parametrize("version", ["0", "x", "1.5", "-2"])
def test_a_bad_version_query_parameter_is_a_400(registry: ModelRegistry, version: str) -> None:
    error = raised(registry, "text/csv", to_csv(ROWS, IRIS_FEATURES), {"version": version})
    assert error.status == 400
    assert "version" in error.detail


def test_parse_version_reads_positive_integers() -> None:
    assert parse_version(None) is None
    assert parse_version(3) == 3
    assert parse_version("12") == 12
    with pytest.raises(UnprocessableError):
        parse_version("twelve", UnprocessableError)


def test_unknown_version_is_a_404(registry: ModelRegistry) -> None:
    error = raised(registry, "application/json", orjson.dumps({"version": 99, "instances": ROWS}))
    assert isinstance(error, ModelNotFoundError)
    assert error.status == 404


def test_unknown_model_is_a_404(registry: ModelRegistry) -> None:
    error = raised(registry, "application/json", orjson.dumps({"model": "no-such-model", "instances": ROWS}))
    assert isinstance(error, ModelNotFoundError)


@pytest.mark.parametrize("model", [1, ["iris"], {"name": "iris"}, True])
def test_a_model_that_is_not_a_name_is_a_422(registry: ModelRegistry, model: Any) -> None:
    assert raised(registry, "application/json", orjson.dumps({"model": model, "instances": ROWS})).status == 422


def test_route_model_applies_when_the_body_names_none(registry: ModelRegistry) -> None:
    sub = parse_json(registry, {"instances": [[0.0] * 10]}, route_model="diabetes")
    assert sub.model.name == "diabetes"


def test_a_body_naming_another_model_than_the_route_is_a_422(registry: ModelRegistry) -> None:
    error = raised(registry, "application/json", orjson.dumps({"model": "iris", "instances": ROWS}),
                   route_model="diabetes")
    assert error.status == 422


def test_rows_are_checked_against_the_chosen_model(registry: ModelRegistry) -> None:
    error = raised(registry, "application/json", orjson.dumps({"model": "diabetes", "instances": ROWS}))
    assert error.status == 422
    assert [e.row for e in error.errors or []] == list(range(len(ROWS)))


# ---------------------------------------------------------------- method


@pytest.mark.parametrize(("model", "method"), [("iris", "predict_proba"), ("iris", "decision_function"),
                                               ("breast-cancer", "decision_function"), ("diabetes", "predict")])
def test_a_method_the_model_has_is_kept(registry: ModelRegistry, model: str, method: str) -> None:
    n = registry.get(model).n_features
    sub = parse_json(registry, {"model": model, "method": method, "instances": [[0.5] * n]})
    assert sub.method == method


@pytest.mark.parametrize("method", ["explain", "fit", "__class__", "", "PREDICT", 1, ["predict"]])
def test_an_unknown_method_is_a_422(registry: ModelRegistry, method: Any) -> None:
    error = raised(registry, "application/json", orjson.dumps({"method": method, "instances": ROWS}))
    assert isinstance(error, UnprocessableError)


@pytest.mark.parametrize("method", ["predict_proba", "decision_function"])
def test_a_method_the_model_lacks_is_a_422(registry: ModelRegistry, method: str) -> None:
    error = raised(registry, "application/json",
                   orjson.dumps({"model": "diabetes", "method": method, "instances": [[0.0] * 10]}))
    assert isinstance(error, UnprocessableError)
    assert method in error.detail


def test_a_method_query_parameter_is_checked_too(registry: ModelRegistry) -> None:
    error = raised(registry, "text/csv", to_csv(ROWS, IRIS_FEATURES), {"method": "explain"})
    assert error.status == 422


# ---------------------------------------------------------------- metadata and callbacks


def test_metadata_is_kept(registry: ModelRegistry) -> None:
    metadata = {"batch": "2026-11", "tags": ["a", "b"], "n": 3, "nested": {"x": None}}
    assert parse_json(registry, {"instances": ROWS, "metadata": metadata}).metadata == metadata


@pytest.mark.parametrize("metadata", [[1, 2], "text", 3, True])
def test_metadata_that_is_not_an_object_is_a_400(registry: ModelRegistry, metadata: Any) -> None:
    error = raised(registry, "application/json", orjson.dumps({"instances": ROWS, "metadata": metadata}))
    assert isinstance(error, BadRequestError)


def _metadata_of_size(size: int) -> dict[str, str]:
    padding = size - len(orjson.dumps({"k": ""}))
    metadata = {"k": "x" * padding}
    assert len(orjson.dumps(metadata)) == size
    return metadata


def test_metadata_of_exactly_4_kib_is_accepted(registry: ModelRegistry) -> None:
    metadata = _metadata_of_size(MAX_METADATA_BYTES)
    assert parse_json(registry, {"instances": ROWS, "metadata": metadata}).metadata == metadata


def test_metadata_over_4_kib_is_a_422(registry: ModelRegistry) -> None:
    body = orjson.dumps({"instances": ROWS, "metadata": _metadata_of_size(MAX_METADATA_BYTES + 1)})
    error = raised(registry, "application/json", body)
    assert isinstance(error, UnprocessableError)


def test_metadata_size_counts_compact_json_not_the_body_whitespace(registry: ModelRegistry) -> None:
    metadata = _metadata_of_size(MAX_METADATA_BYTES)
    spaced = b'{"instances": ' + orjson.dumps(ROWS) + b', "metadata":    {  "k"  :  "' + \
        metadata["k"].encode() + b'"  }  }'
    sub = parse_submission("application/json", spaced, {}, registry, LIMITS)
    assert sub.metadata == metadata


def test_metadata_query_parameter_that_is_not_an_object_is_a_400(registry: ModelRegistry) -> None:
    assert raised(registry, "text/csv", to_csv(ROWS, IRIS_FEATURES), {"metadata": "[1]"}).status == 400
    assert raised(registry, "text/csv", to_csv(ROWS, IRIS_FEATURES), {"metadata": "{oops"}).status == 400


def test_a_callback_is_refused_when_no_host_is_allowed(registry: ModelRegistry) -> None:
    error = raised(registry, "application/json",
                   orjson.dumps({"instances": ROWS, "callback_url": "https://hooks.example.com/done"}))
    assert error.status == 422


def test_a_callback_to_an_allowed_host_is_kept(registry: ModelRegistry) -> None:
    limits = Limits(max_rows=1000, callback_hosts=frozenset({"hooks.example.com"}))
    url = "https://HOOKS.example.com/done?x=1"
    assert parse_json(registry, {"instances": ROWS, "callback_url": url}, limits=limits).callback_url == url


@pytest.mark.parametrize("url", ["ftp://hooks.example.com/x", "https://other.example.com/x", "hooks.example.com",
                                 "https:///path", 42, "https://hooks.example.com:22/x", "http://hooks.example.com:6379/",
                                 "https://hooks.example.com/" + "a" * 3000, "https://hooks.example.com:99999/"])
def test_a_callback_that_is_not_an_allowed_http_url_is_a_422(registry: ModelRegistry, url: Any) -> None:
    limits = Limits(max_rows=1000, callback_hosts=frozenset({"hooks.example.com"}))
    error = raised(registry, "application/json", orjson.dumps({"instances": ROWS, "callback_url": url}),
                   limits=limits)
    assert error.status == 422


def test_a_callback_port_is_allowed_only_as_listed(registry: ModelRegistry) -> None:
    limits = Limits(max_rows=1000, callback_hosts=frozenset({"hooks.example.com", "in.example.com:8443"}))
    for url in ("http://hooks.example.com/x", "https://hooks.example.com:443/x", "https://in.example.com:8443/x"):
        assert parse_json(registry, {"instances": ROWS, "callback_url": url}, limits=limits).callback_url == url
    error = raised(registry, "application/json",
                   orjson.dumps({"instances": ROWS, "callback_url": "https://in.example.com/x"}), limits=limits)
    assert error.status == 422


# ---------------------------------------------------------------- row limit


@pytest.mark.parametrize("form", ["json", "ndjson", "csv"])
def test_more_rows_than_max_rows_is_a_413(registry: ModelRegistry, form: str) -> None:
    rows = iris_rows(6)
    bodies = {"json": ("application/json", orjson.dumps({"instances": rows})),
              "ndjson": ("application/x-ndjson", to_ndjson(rows)),
              "csv": ("text/csv", to_csv(rows, IRIS_FEATURES))}
    content_type, body = bodies[form]
    error = raised(registry, content_type, body, limits=Limits(max_rows=5))
    assert isinstance(error, PayloadTooLargeError)
    assert "MAX_ROWS" in error.detail
    assert parse_submission(content_type, body, {}, registry, Limits(max_rows=6)).rows == 6


@pytest.mark.parametrize("content_type", ["application/vnd.apache.parquet", "application/x-parquet",
                                          "application/parquet"])
def test_parquet_rows_equal_json_rows(registry: ModelRegistry, content_type: str) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    buffer = io.BytesIO()
    pq.write_table(pa.table({name: [r[j] for r in ROWS] for j, name in enumerate(IRIS_FEATURES)}), buffer)
    sub = parse_submission(content_type, buffer.getvalue(), {"method": "predict_proba"}, registry, LIMITS)
    assert sub.method == "predict_proba"
    np.testing.assert_array_equal(sub.X, np.asarray(ROWS))


def test_limited_blocks_stop_as_soon_as_the_rows_pass_the_limit() -> None:
    consumed: list[int] = []

    def blocks() -> Any:
        for i in range(100):
            consumed.append(i)
            yield np.zeros((3, 4))

    with pytest.raises(PayloadTooLargeError):
        list(limited_blocks(blocks(), 7))
    assert consumed == [0, 1, 2]


def test_limited_blocks_without_rows_are_a_422() -> None:
    with pytest.raises(UnprocessableError, match="no rows"):
        list(limited_blocks(iter([]), 7))


def test_metadata_holding_nan_is_a_422(registry: ModelRegistry) -> None:
    body = b'{"instances": [[5.1, 3.5, 1.4, 0.2]], "metadata": {"a": NaN}}'
    assert raised(registry, "application/json", body).status == 422
