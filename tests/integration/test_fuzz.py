"""The fuzz run: schemathesis over the service's own /openapi.json, and hypothesis-made bodies of every
format, against the real stack (gunicorn, Redis, Celery workers). No answer is a 5xx, and every answer is
one the document describes (status, content type, headers, body schema).

The budget is fixed and the generation derandomized (the same cases every run, not a flaky sample):
FUZZ_CASES_PER_OPERATION per operation and generation mode, FUZZ_BODIES_PER_FORMAT per body format.
The counts are printed (`-s`) and recorded in docs/hostile-clients.md.
"""

from __future__ import annotations

import io
import json
from collections import Counter
from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from scripts.stack import LocalStack
from tests.integration.support import Api

FUZZ_CASES_PER_OPERATION = 25
"""Cases per operation and generation mode (positive: valid by the document; negative: invalid)."""

FUZZ_BODIES_PER_FORMAT = 60
"""Hypothesis-made bodies per format (JSON, NDJSON, CSV, Parquet)."""

REQUEST_TIMEOUT = 60
"""Seconds one request may take; long polls ask for 30 at most."""

FEATURES = ("sepal_length", "sepal_width", "petal_length", "petal_width")
"""The default model's columns: the bodies are near-misses of a real batch, so they reach the parsers' depths."""

CONFORMANCE = [status_code_conformance, content_type_conformance, response_headers_conformance,
               response_schema_conformance]
"""The document's promises about answers. The checks that judge the service's validation against the
document's schemas (positive_data_acceptance, negative_data_rejection) are left out: the document cannot
say which model a batch fits, so a body valid by the schema may rightly be a 422."""


class Tally:
    """Every answer's status, so the run can say how many cases it sent and how many were 5xx."""

    def __init__(self) -> None:
        self.statuses: Counter[int] = Counter()

    def record(self, response: requests.Response) -> None:
        self.statuses[response.status_code] += 1

    @property
    def cases(self) -> int:
        return sum(self.statuses.values())

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)


def _fixed(max_examples: int) -> Callable[[Any], Any]:
    """Hypothesis settings for CI: derandomized, no example database, no shrinking (a failure is reported
    as generated), no deadline (a slow shared machine must not fail a case)."""
    return settings(max_examples=max_examples, derandomize=True, database=None, deadline=None,
                    phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def document(stack: LocalStack) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(stack.base_url + "/openapi.json")


def _no_long_polls(case: Any) -> None:
    """A generated ?wait holds a thread for up to 30 s on a real job; the fuzz run's budget is cases, not waits."""
    if case.query and "wait" in case.query:
        case.query["wait"] = 0


def _modes(operation: Any) -> list[GenerationMode]:
    """Negative cases need something to make invalid: a parameter or a body."""
    raw = operation.definition.raw
    return [GenerationMode.POSITIVE, *([GenerationMode.NEGATIVE] if "parameters" in raw or "requestBody" in raw
                                        else [])]


def _real_paths(operation: Any, values: dict[str, str]) -> list[dict[str, str] | None]:
    """Generated path parameters, and where every one of them has a real value, those too: a random job id is
    a 404 at once, and the results, cancel and long-poll code behind a real one would go unfuzzed."""
    names = {p["name"] for p in operation.definition.raw.get("parameters", []) if p["in"] == "path"}
    return [None, {name: values[name] for name in names}] if names and names <= set(values) else [None]


def test_every_documented_operation_answers_as_documented_and_never_5xx(
        stack: LocalStack, api: Api, document: schemathesis.BaseSchema) -> None:
    tally = Tally()
    session = requests.Session()
    operations = [result.ok() for result in document.get_all_operations()]
    real = {"job_id": api.run({"model": "iris", "instances": [[5.1, 3.5, 1.4, 0.2]] * 3})["job_id"], "name": "iris"}
    unsatisfiable: list[str] = []
    for operation in operations:
        for mode, paths in ((mode, paths) for mode in _modes(operation) for paths in _real_paths(operation, real)):
            @_fixed(FUZZ_CASES_PER_OPERATION)
            @given(case=operation.as_strategy(generation_mode=mode, path_parameters=paths))
            def run(case: Any) -> None:
                _no_long_polls(case)
                response = case.call(base_url=stack.base_url, session=session, timeout=REQUEST_TIMEOUT)
                tally.record(response)
                assert response.status_code < 500, f"{case.method} {case.formatted_path} {case.query}: " \
                                                    f"{response.status_code} {response.text[:300]}"
                case.validate_response(response, checks=CONFORMANCE)

            try:
                run()
            except Unsatisfiable:  # every parameter takes any string: nothing the document calls invalid
                assert mode is GenerationMode.NEGATIVE, f"{operation.label}: no valid case can be made"
                unsatisfiable.append(operation.label)
    print(f"\nschemathesis: {len(operations)} operations, {tally.cases} cases, {tally.server_errors} 5xx; "
          f"statuses {dict(sorted(tally.statuses.items()))}; no invalid case for {sorted(set(unsatisfiable))}")
    assert tally.server_errors == 0
    assert tally.cases >= len(operations) * FUZZ_CASES_PER_OPERATION


CHURN = ("plan", "region", "tenure_months", "monthly_fee", "autopay")
"""The typed demo model's columns (string, nullable string, integer, number, boolean): the typed parsers."""
MODELS = {"iris": FEATURES, "churn": CHURN}

CELLS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True), st.integers(min_value=-(2**70), max_value=2**70),
    st.booleans(), st.none(), st.text(max_size=20), st.just("1e999999"), st.just("9" * 5000))
VALID_ROWS = {
    "iris": st.lists(st.lists(st.floats(min_value=-1e6, max_value=1e6), min_size=4, max_size=4), min_size=1,
                     max_size=8),
    "churn": st.lists(st.fixed_dictionaries({
        "plan": st.sampled_from(["basic", "plus", "pro"]), "region": st.one_of(st.none(), st.just("north")),
        "tenure_months": st.integers(0, 120), "monthly_fee": st.floats(0, 500), "autopay": st.booleans()}),
        min_size=1, max_size=8),
}
"""Rows each model takes: some bodies must pass, so the accepting path is fuzzed too."""


def _rows(model: str) -> st.SearchStrategy[list[Any]]:
    columns = MODELS[model]
    return st.one_of(VALID_ROWS[model], st.lists(st.one_of(
        st.lists(CELLS, max_size=len(columns) + 2),
        st.dictionaries(st.sampled_from([*columns, "x", ""]), CELLS, max_size=len(columns) + 2)), max_size=8))


SUBMISSIONS = st.sampled_from(sorted(MODELS)).flatmap(lambda model: st.tuples(st.just(model), _rows(model)))
"""(model, rows): near-misses of a real batch of that model, so they reach the parsers' depths."""
NAMES = st.lists(st.one_of(st.sampled_from([*FEATURES, *CHURN]), st.text(max_size=12)), min_size=0, max_size=7)
JSON_VALUES = st.recursive(st.one_of(st.none(), st.booleans(), st.floats(), st.integers(), st.text(max_size=10)),
                           lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                   st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                           max_leaves=12)
MUTATIONS = st.one_of(st.just(None), st.tuples(st.integers(min_value=0), st.binary(min_size=1, max_size=16)),
                      st.integers(min_value=0))
"""None: the body as made; (at, bytes): those bytes written over it at `at`; an integer: cut off there."""


def _mutated(body: bytes, mutation: Any) -> bytes:
    if mutation is None or not body:
        return body
    if isinstance(mutation, int):
        return body[: mutation % len(body)]
    at, patch = mutation
    at %= len(body)
    return body[:at] + patch + body[at + len(patch):]


def _json_body(model: str, rows: list[Any], extra: dict[str, Any]) -> bytes:
    return json.dumps({"model": model, "instances": rows, **extra}, allow_nan=True).encode()


def _ndjson_body(_model: str, rows: list[Any], _extra: dict[str, Any]) -> bytes:
    return b"".join(json.dumps(row, allow_nan=True).encode() + b"\n" for row in rows)


def _csv_body(model: str, rows: list[Any], _extra: dict[str, Any]) -> bytes:
    header = list(rows[0]) if rows and isinstance(rows[0], dict) else list(MODELS[model])
    lines = [",".join(header)]
    for row in rows:
        values = row.values() if isinstance(row, dict) else row
        lines.append(",".join("" if v is None else str(v) for v in values))
    return ("\n".join(lines) + "\n").encode()


def _parquet_body(model: str, rows: list[Any], _extra: dict[str, Any]) -> bytes:
    names = MODELS[model]
    columns: dict[str, list[Any]] = {}
    for row in rows:
        for j, value in enumerate(row.values() if isinstance(row, dict) else row):
            columns.setdefault(names[j] if j < len(names) else f"c{j}", []).append(value)
    try:
        table = pa.table({name: pa.array(values[: min(map(len, columns.values()))])
                          for name, values in columns.items()})
    except (pa.ArrowException, ValueError, TypeError, OverflowError):  # mixed types: still send a valid file
        table = pa.table({name: [1.5] for name in names})
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


FORMATS = {"application/json": _json_body, "application/x-ndjson": _ndjson_body, "text/csv": _csv_body,
           "application/vnd.apache.parquet": _parquet_body}


@pytest.mark.parametrize("media_type", list(FORMATS))
def test_made_bodies_of_every_format_answer_as_documented_and_never_5xx(
        stack: LocalStack, document: schemathesis.BaseSchema, media_type: str) -> None:
    tally = Tally()
    session = requests.Session()
    make = FORMATS[media_type]
    submit = document["/jobs"]["POST"]
    predict = document["/models/{name}/predict"]["POST"]

    @_fixed(FUZZ_BODIES_PER_FORMAT)
    @given(submission=SUBMISSIONS,
           extra=st.dictionaries(st.sampled_from(["metadata", "passthrough", "method", "version", "callback_url",
                                                  "extra_columns", "model"]), JSON_VALUES, max_size=2),
           mutation=MUTATIONS, names=NAMES, synchronous=st.booleans(), dry_run=st.booleans())
    def run(submission: tuple[str, list[Any]], extra: dict[str, Any], mutation: Any, names: list[str],
            synchronous: bool, dry_run: bool) -> None:
        model, rows = submission
        body = _mutated(make(model, rows, extra), mutation)
        query = {"passthrough": ",".join(names)} if names and not synchronous else {}
        if media_type != "application/json" and not synchronous:
            query["model"] = model
        if dry_run and not synchronous:
            query["dry_run"] = "true"
        operation, path = (predict, f"/models/{model}/predict") if synchronous else (submit, "/jobs")
        response = session.post(stack.base_url + path, data=body, params=query, timeout=REQUEST_TIMEOUT,
                                headers={"Content-Type": media_type})
        tally.record(response)
        assert response.status_code < 500, f"{path} {media_type} {body[:200]!r}: {response.status_code} " \
                                           f"{response.text[:300]}"
        case = operation.Case(path_parameters={"name": model} if synchronous else {}, query=query,
                              media_type=media_type, body=body)
        case.validate_response(response, checks=CONFORMANCE)

    run()
    print(f"\n{media_type}: {tally.cases} bodies, {tally.server_errors} 5xx; "
          f"statuses {dict(sorted(tally.statuses.items()))}")
    assert tally.server_errors == 0
