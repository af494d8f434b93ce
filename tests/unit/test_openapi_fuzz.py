"""A fuzz run driven by the OpenAPI document: every operation, with odd path, query and body values,
answers one of the statuses the document lists for it, and never a 500."""

from __future__ import annotations

import random
from typing import Any

import pytest
from flask.testing import FlaskClient

ODD_VALUES = ("", "0", "-1", "1e309", "NaN", "true", "x" * 300, "%00", "💥", "[1]", "{}", "10000000000000000000000")
ODD_BODIES = (b"", b"{", b"[]", b'{"instances": []}', b'{"instances": [[1, 2]]}', b"a,b\n1,2\n", b"\xff\xfe",
              b'{"instances": [[5.1, 3.5, 1.4, 0.2]], "method": "nope"}', b"PAR1\x00\x00PAR1")
SEED = 20261201


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, op) for path, item in document["paths"].items() for method, op in item.items()]


def test_every_operation_answers_only_what_it_documents(client: FlaskClient) -> None:
    document = client.get("/openapi.json").get_json()
    rng = random.Random(SEED)
    tried = 0
    for path, method, op in operations(document):
        allowed = {int(status) for status in op["responses"]} | {404, 405}  # an odd path may name nothing
        for _ in range(12):
            url = path
            for param in op.get("parameters", []):
                if param["in"] == "path":
                    url = url.replace("{" + param["name"] + "}", rng.choice(["iris", "abc", "0" * 32, "..", "%2e"]))
            query = {p["name"]: rng.choice(ODD_VALUES) for p in op.get("parameters", [])
                     if p["in"] == "query" and rng.random() < 0.6}
            kwargs: dict[str, Any] = {"query_string": query}
            if "requestBody" in op:
                kwargs["data"] = rng.choice(ODD_BODIES)
                kwargs["content_type"] = rng.choice(list(op["requestBody"]["content"]))
            answer = client.open(url, method=method.upper(), **kwargs)
            assert answer.status_code != 500, f"{method.upper()} {url} {query}: 500 {answer.get_data()[:200]!r}"
            assert answer.status_code in allowed, \
                f"{method.upper()} {url} {query} answered {answer.status_code}, not among {sorted(allowed)}"
            tried += 1
    assert tried >= 12 * 15


@pytest.mark.parametrize("content_type", ["text/csv", "application/x-ndjson", "application/vnd.apache.parquet"])
def test_documented_body_types_are_accepted_by_dry_run(client: FlaskClient, content_type: str) -> None:
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    names = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    if content_type == "text/csv":
        body = (",".join(names) + "\n5.1,3.5,1.4,0.2\n").encode()
    elif content_type == "application/x-ndjson":
        body = b"[5.1, 3.5, 1.4, 0.2]\n"
    else:
        out = io.BytesIO()
        pq.write_table(pa.table({n: [v] for n, v in zip(names, [5.1, 3.5, 1.4, 0.2], strict=True)}), out)
        body = out.getvalue()
    document = client.get("/openapi.json").get_json()
    assert content_type in document["paths"]["/jobs"]["post"]["requestBody"]["content"]
    answer = client.post("/jobs?dry_run=true&model=iris", data=body, content_type=content_type)
    assert answer.status_code == 200 and answer.get_json() == {"valid": True, "rows": 1}
