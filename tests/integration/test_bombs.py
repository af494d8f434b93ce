"""Parser and memory bombs, sent over HTTP to the real API: each is refused early with a 4xx problem whose
detail says what was wrong, never a 500. One row per bomb; every body format and every JSON parameter.

Time and memory are bounded by construction (unit tests count the operations: tests/unit/test_bombs.py);
here what matters is the answer a client gets.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from shared.parsing.columns import MAX_BODY_COLUMNS
from shared.parsing.parquet_file import MAX_FOOTER_BYTES
from shared.parsing.streams import MAX_LINE_BYTES
from tests.integration.support import PROBLEM_TYPE, Api

JSON = "application/json"
NDJSON = "application/x-ndjson"
CSV = "text/csv"
PARQUET = "application/vnd.apache.parquet"
FEATURES = "sepal_length,sepal_width,petal_length,petal_width"
ONE_CSV_ROW = (FEATURES + "\n5.1,3.5,1.4,0.2\n").encode()
DEEP = 100_000
"""Nesting far past any parser's recursion limit."""


def _parquet(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


GOOD_PARQUET = _parquet(pa.table({name: [5.1] for name in FEATURES.split(",")}))


def _damaged_pages() -> bytes:
    """A real file whose footer is intact but whose first page header is zeros."""
    data = bytearray(_parquet(pa.table({name: list(range(1000)) for name in FEATURES.split(",")})))
    data[4:60] = bytes(56)
    return bytes(data)


def _json(doc: str) -> bytes:
    return doc.encode()


@dataclass(frozen=True)
class Bomb:
    name: str
    media_type: str
    body: bytes
    status: int
    detail: str
    """A phrase the problem's detail must hold: the answer says what was wrong."""
    query: dict[str, str] = field(default_factory=dict)
    path: str = "/jobs"


BOMBS = [
    # JSON bodies
    Bomb("json nested 100k deep", JSON, b'{"instances":' + b"[" * DEEP + b"]" * DEEP + b"}", 400, "deeper than"),
    Bomb("json unclosed nesting", JSON, b"[" * DEEP, 400, "deeper than"),
    Bomb("json 1e999999", JSON, b'{"instances":[[1e999999,1,1,1]]}', 422, "not a finite number"),
    Bomb("json 400-digit integer", JSON, b'{"instances":[[' + b"9" * 400 + b",1,1,1]]}", 422, "not a finite number"),
    Bomb("json 5000-digit integer", JSON, b'{"instances":[[' + b"9" * 5000 + b",1,1,1]]}", 422,
         "not a finite number"),
    Bomb("json lone surrogate in a key", JSON, _json('{"instances":[{"\\udc00":1}]}'), 400, "lone surrogate"),
    Bomb("json object row of 100k keys", JSON, json.dumps({"instances": [{f"k{i}": 1 for i in range(100_000)}]})
         .encode(), 422, "errors in the instances"),
    # the JSON parameters
    Bomb("metadata 200 levels deep is fine but 300 is not", JSON,
         _json('{"instances":[[1,1,1,1]],"metadata":{"a":' + "[" * 300 + "]" * 300 + "}}"), 422,
         "metadata cannot be stored: it nests"),
    Bomb("metadata 3000 levels deep", JSON, _json('{"instances":[[1,1,1,1]],"metadata":{"a":' + "[" * 3000 + "]" * 3000
                                                  + "}}"), 400, "deeper than"),
    Bomb("metadata with a lone surrogate", JSON, _json('{"instances":[[1,1,1,1]],"metadata":{"a":"\\ud800"}}'), 400,
         "lone surrogate"),
    Bomb("metadata 1e999", JSON, _json('{"instances":[[1,1,1,1]],"metadata":{"a":1e999}}'), 422, "not finite"),
    Bomb("metadata of 30k small values", JSON, json.dumps({"instances": [[1, 1, 1, 1]],
                                                           "metadata": {"a": list(range(30_000))}}).encode(), 422,
         "bytes in compact JSON"),
    Bomb("metadata query parameter deep", CSV, ONE_CSV_ROW, 422, "metadata cannot be stored: it nests",
         query={"metadata": '{"a":' + "[" * 600 + "]" * 600 + "}"}),
    Bomb("a query string past gunicorn's request line limit", CSV, ONE_CSV_ROW, 414, "request line",
         query={"metadata": '{"a":' + "[" * 3000 + "]" * 3000 + "}"}),
    Bomb("metadata query parameter with a lone surrogate", CSV, ONE_CSV_ROW, 400, "lone surrogate",
         query={"metadata": '{"a":"\\udc00"}'}),
    Bomb("passthrough of 50k names", JSON, json.dumps({"instances": [[1, 1, 1, 1]],
                                                       "passthrough": [f"p{i}" for i in range(50_000)]}).encode(),
         422, f"at most {MAX_BODY_COLUMNS}"),
    Bomb("passthrough query of 50k names: a request head over 64 KiB", CSV, ONE_CSV_ROW, 431,
         "headers are too large", query={"passthrough": ",".join(f"p{i}" for i in range(50_000))}),
    Bomb("callback_url of 1 MB", JSON, json.dumps({"instances": [[1, 1, 1, 1]],
                                                   "callback_url": "http://a/" + "x" * 1_000_000}).encode(), 422,
         "callback_url is over"),
    Bomb("callback_url nested", JSON, _json('{"instances":[[1,1,1,1]],"callback_url":' + "[" * 500 + "]" * 500 + "}"),
         422, "callback_url"),
    Bomb("version of 5000 digits", JSON, _json('{"instances":[[1,1,1,1]],"version":"' + "9" * 5000 + '"}'), 422,
         "version is a positive integer"),
    Bomb("version query of 3000 digits", CSV, ONE_CSV_ROW, 400, "version is a positive integer",
         query={"version": "9" * 3000}),
    Bomb("method of 1 MB", JSON, json.dumps({"instances": [[1, 1, 1, 1]], "method": "m" * 1_000_000}).encode(), 422,
         "unknown method"),
    Bomb("extra_columns nested", JSON, _json('{"instances":[[1,1,1,1]],"extra_columns":' + "[" * 200 + "]" * 200 + "}"),
         422, "extra_columns"),
    # NDJSON
    Bomb("ndjson nested 100k deep", NDJSON, b"[" * DEEP + b"]" * DEEP + b"\n", 400, "deeper than"),
    Bomb("ndjson 1e999999", NDJSON, b"[1e999999,1,1,1]\n", 422, "not a finite number"),
    Bomb("ndjson 5000-digit integer", NDJSON, b"[" + b"9" * 5000 + b",1,1,1]\n", 422, "not a finite number"),
    Bomb("ndjson line longer than the line limit", NDJSON, b"[" + b"1," * (MAX_LINE_BYTES // 2 + 1) + b"1]\n", 413,
         "longer than"),
    Bomb("ndjson lone surrogate", NDJSON, _json('{"\\ud800":1}\n'), 400, "lone surrogate"),
    # CSV
    Bomb("csv header of 100k columns", CSV, (",".join(f"c{i}" for i in range(100_000)) + "\n").encode(), 422,
         f"at most {MAX_BODY_COLUMNS}"),
    Bomb("csv header of 100k repeated names", CSV, (",".join("c" for _ in range(100_000)) + "\n").encode(), 422,
         f"at most {MAX_BODY_COLUMNS}"),
    Bomb("csv header of 9k repeated names", CSV, (",".join("c" for _ in range(9_000)) + "\n1\n").encode(), 400,
         "repeats"),
    Bomb("csv cell of 3 MB", CSV, (FEATURES + "\n" + "1" * 3_000_000 + ",1,1,1\n").encode(), 400,
         "a field is longer than"),
    Bomb("csv header name of 3 MB", CSV, ("x" * 3_000_000 + "\n1\n").encode(), 400, "a field is longer than"),
    Bomb("csv without a newline past the line limit", CSV, b"a" * (MAX_LINE_BYTES + 10), 413, "longer than"),
    Bomb("csv 1e999999", CSV, (FEATURES + "\n1e999999,1,1,1\n").encode(), 422, "not a finite number"),
    Bomb("csv 400-digit number", CSV, (FEATURES + "\n" + "9" * 400 + ",1,1,1\n").encode(), 422,
         "not a finite number"),
    Bomb("csv typed model 400-digit integer", CSV,
         b"plan,region,tenure_months,monthly_fee,autopay\nbasic,north," + b"9" * 400 + b",10,true\n", 422,
         "expected an integer", query={"model": "churn"}),
    Bomb("csv typed model 5000-digit integer", CSV,
         b"plan,region,tenure_months,monthly_fee,autopay\nbasic,north," + b"9" * 5000 + b",10,true\n", 422,
         "expected an integer", query={"model": "churn"}),
    Bomb("csv typed model 5000-digit integer with .0", CSV,
         b"plan,region,tenure_months,monthly_fee,autopay\nbasic,north," + b"9" * 5000 + b".0,10,true\n", 422,
         "expected an integer", query={"model": "churn"}),
    Bomb("csv typed header of 100k columns", CSV, (",".join(f"c{i}" for i in range(100_000)) + "\n").encode(), 422,
         f"at most {MAX_BODY_COLUMNS}", query={"model": "churn", "extra_columns": "ignore"}),
    # Parquet
    Bomb("parquet: garbage between PAR1 magics", PARQUET,
         b"PAR1" + bytes(range(256)) * 40 + (1000).to_bytes(4, "little") + b"PAR1", 400, "not a readable Parquet file"),
    Bomb("parquet: only the magic", PARQUET, b"PAR1", 400, "too short"),
    Bomb("parquet: magic then garbage", PARQUET, b"PAR1" + b"\xff" * 5000, 400, "does not start and end with PAR1"),
    Bomb("parquet: truncated", PARQUET, GOOD_PARQUET[: len(GOOD_PARQUET) // 2], 400, "does not start and end"),
    Bomb("parquet: footer claims 2 GB", PARQUET, GOOD_PARQUET[:-8] + (2**31 - 1).to_bytes(4, "little") + b"PAR1", 400,
         "footer claims"),
    Bomb("parquet: footer over the footer limit", PARQUET, b"PAR1" + bytes(MAX_FOOTER_BYTES + 16)
         + (MAX_FOOTER_BYTES + 1).to_bytes(4, "little") + b"PAR1", 413, "footer"),
    Bomb("parquet: damaged pages", PARQUET, _damaged_pages(), 400, "damaged"),
    Bomb("parquet: 12k columns", PARQUET, _parquet(pa.table({f"c{i}": [1.0] for i in range(12_000)})), 422,
         f"at most {MAX_BODY_COLUMNS}"),
    # the synchronous route reads the same bodies
    Bomb("sync: json nested 100k deep", JSON, b'{"instances":' + b"[" * DEEP + b"]" * DEEP + b"}", 400, "deeper than",
         path="/models/iris/predict"),
    Bomb("sync: parquet garbage", PARQUET, b"PAR1" + b"\x00" * 64 + b"PAR1", 400, "Parquet",
         path="/models/iris/predict"),
]


@pytest.mark.parametrize("bomb", BOMBS, ids=[b.name for b in BOMBS])
def test_each_bomb_is_refused_with_a_4xx_problem_that_says_why(api: Api, bomb: Bomb) -> None:
    query = {"dry_run": "true", **bomb.query} if bomb.path == "/jobs" else bomb.query
    answer = api.post(bomb.path, data=bomb.body, params=query, headers={"Content-Type": bomb.media_type})
    assert answer.status_code == bomb.status, answer.text[:300]
    assert answer.headers["Content-Type"] == PROBLEM_TYPE
    problem = answer.json()
    assert problem["status"] == bomb.status
    assert bomb.detail in problem["detail"] or any(bomb.detail in e["message"] for e in problem.get("errors", []))
    assert len(answer.content) < 64 * 1024, "a problem stays small whatever the body held"


@pytest.mark.parametrize("bomb", [b for b in BOMBS if b.path == "/jobs" and b.name.startswith("metadata")],
                         ids=lambda b: b.name)
def test_metadata_bombs_are_refused_by_a_real_submission_too(api: Api, bomb: Bomb) -> None:
    """Without dry_run, the job store would have to write the metadata: it must be refused before."""
    answer = api.post("/jobs", data=bomb.body, params=bomb.query, headers={"Content-Type": bomb.media_type})
    assert answer.status_code == bomb.status, answer.text[:300]


def test_metadata_holding_values_only_python_parses_is_stored_and_read_back(api: Api) -> None:
    """NaN elsewhere sends the body through Python's parser; its integers must still be ones orjson writes."""
    body = _json('{"instances":[[5.1,3.5,1.4,0.2]],"ignored":NaN,"metadata":{"big":' + "9" * 30
                 + ',"max":18446744073709551615,"emoji":"\\ud83d\\ude00"}}')
    answer = api.post("/jobs", data=body, headers={"Content-Type": JSON})
    assert answer.status_code == 202, answer.text[:300]
    job = api.get(answer.headers["Location"]).json()
    assert job["metadata"] == {"big": 1e30, "max": 18446744073709551615, "emoji": "\U0001f600"}
