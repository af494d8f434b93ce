"""Typed columns through the API and a worker (Flask test client, fakeredis): the churn pipeline."""

from __future__ import annotations

import io
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from scripts.churn import CHURN_SCHEMA, churn_frame, churn_model
from shared.metrics import METRICS
from shared.registry import load_estimator, write_model
from tests.unit.conftest import Stack, StackFactory
from tests.unit.helpers import assert_problem, redis_keys

NAMES = [c.name for c in CHURN_SCHEMA]


@pytest.fixture(scope="module")
def churn_dir(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("typed-models")
    shutil.copytree(model_dir, root, dirs_exist_ok=True)
    write_model(root, "churn", 1, churn_model(), NAMES, True, CHURN_SCHEMA)
    return root


@pytest.fixture
def typed(make_stack: StackFactory, churn_dir: Path) -> Stack:
    return make_stack({"MODEL_DIR": str(churn_dir), "MAX_STRING_BYTES": "16"})


def frame(n: int = 12) -> pd.DataFrame:
    return churn_frame(n, seed=7)


def records(df: pd.DataFrame) -> list[dict[str, Any]]:
    out = df.astype(object).where(df.notna(), None).to_dict(orient="records")
    return [{k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()} for row in out]


def expected(stack: Stack, df: pd.DataFrame, method: str) -> list[Any]:
    model = load_estimator(stack.registry.get("churn"))
    return np.asarray(getattr(model, method)(df)).tolist()  # type: ignore[no-any-return]


def run_job(stack: Stack, response: Any) -> dict[str, Any]:
    assert response.status_code == 202, response.get_data(as_text=True)
    stack.run()
    job: dict[str, Any] = stack.client.get(response.headers["Location"]).get_json()
    assert job["status"] == "succeeded", job
    return job


@pytest.mark.parametrize("method", ["predict", "predict_proba"])
def test_json_rows_score_as_the_pipeline_does_on_the_same_frame(typed: Stack, method: str) -> None:
    df = frame()
    body = {"model": "churn", "method": method, "instances": records(df)}
    job = run_job(typed, typed.client.post("/jobs", json=body))
    assert job["results"] == expected(typed, df, method)


def test_models_show_the_schema(typed: Stack) -> None:
    entry = typed.client.get("/models/churn").get_json()
    assert entry["schema"][0] == {"name": "plan", "type": "string", "nullable": False}
    assert [c["type"] for c in entry["schema"]] == ["string", "string", "integer", "number", "boolean"]
    iris = typed.client.get("/models/iris").get_json()
    assert {c["type"] for c in iris["schema"]} == {"number"}


def test_csv_and_parquet_bodies_score_like_json(typed: Stack) -> None:
    df = frame(30)
    want = expected(typed, df, "predict")
    csv_body = df.to_csv(index=False).replace("True", "true").replace("False", "FALSE").encode()
    job = run_job(typed, typed.client.post("/jobs?model=churn", data=csv_body, content_type="text/csv"))
    assert job["results"] == want
    buffer = io.BytesIO()
    df.to_parquet(buffer, index=False)
    job = run_job(typed, typed.client.post("/jobs?model=churn", data=buffer.getvalue(),
                                           content_type="application/vnd.apache.parquet"))
    assert job["results"] == want


def test_passthrough_comes_back_in_every_format(typed: Stack) -> None:
    df = frame(5)
    rows = [{"id": f"c{i}", **row} for i, row in enumerate(records(df))]
    job = run_job(typed, typed.client.post("/jobs", json={"model": "churn", "instances": rows,
                                                          "passthrough": ["id"], "method": "predict_proba"}))
    classes = job["classes"]
    want = expected(typed, df, "predict_proba")
    assert [r["id"] for r in job["results"]] == [f"c{i}" for i in range(5)]
    np.testing.assert_allclose([[r[str(c)] for c in classes] for r in job["results"]], want, rtol=1e-12)
    url = f"/jobs/{job['job_id']}/results"
    csv_text = typed.client.get(url + "?format=csv").get_data(as_text=True).splitlines()
    assert csv_text[0] == ",".join(["id", *classes])
    assert [line.split(",")[0] for line in csv_text[1:]] == [f"c{i}" for i in range(5)]
    lines = typed.client.get(url + "?format=ndjson").get_data().splitlines()
    assert [orjson.loads(line)["id"] for line in lines] == [f"c{i}" for i in range(5)]
    table = pq.read_table(io.BytesIO(typed.client.get(url, headers={"Accept": "application/vnd.apache.parquet"})
                                     .get_data()))
    assert table.column_names == ["id", *classes]
    assert table.column("id").to_pylist() == [f"c{i}" for i in range(5)]


def test_parquet_results_of_a_plain_job(typed: Stack) -> None:
    df = frame(7)
    job = run_job(typed, typed.client.post("/jobs", json={"model": "churn", "instances": records(df)}))
    data = typed.client.get(f"/jobs/{job['job_id']}/results?format=parquet").get_data()
    table = pq.read_table(io.BytesIO(data))
    assert table.column_names == ["prediction"]
    assert table.column("prediction").to_pylist() == expected(typed, df, "predict")


def test_extra_columns_are_422_unless_ignored(typed: Stack) -> None:
    rows = [{"note": "x", **row} for row in records(frame(3))]
    body = assert_problem(typed.client.post("/jobs", json={"model": "churn", "instances": rows}), 422)
    assert body["errors"][0]["column"] == "note"
    job = run_job(typed, typed.client.post("/jobs", json={"model": "churn", "instances": rows,
                                                          "extra_columns": "ignore"}))
    assert len(job["results"]) == 3


def good_row() -> dict[str, Any]:
    return {"plan": "pro", "region": None, "tenure_months": 3, "monthly_fee": 20.5, "autopay": True}


@pytest.mark.parametrize(("column", "value", "words"), [
    ("plan", 1, "expected a string"),
    ("plan", None, "not nullable"),
    ("plan", "x" * 17, "MAX_STRING_BYTES"),
    ("tenure_months", 2.5, "expected an integer"),
    ("tenure_months", "3", "expected an integer"),
    ("tenure_months", True, "expected an integer"),
    ("monthly_fee", "20.5", "expected a number"),
    ("monthly_fee", False, "expected a number"),
    ("autopay", 1, "expected a boolean"),
    ("autopay", "true", "expected a boolean"),
])
def test_json_cells_are_never_coerced(typed: Stack, column: str, value: Any, words: str) -> None:
    before = redis_keys(typed.redis) | {METRICS.encode()}
    rows = [good_row(), {**good_row(), column: value}]
    body = assert_problem(typed.client.post("/jobs", json={"model": "churn", "instances": rows}), 422)
    assert body["errors"][0]["row"] == 1 and body["errors"][0]["column"] == column
    assert words in body["errors"][0]["message"]
    assert redis_keys(typed.redis) <= before  # nothing but the error counters


@pytest.mark.parametrize(("cell", "column", "words"), [
    ("pro,north,x,1.0,true", "tenure_months", "expected an integer"),
    ("pro,north,3,abc,true", "monthly_fee", "expected a number"),
    ("pro,north,3,1.0,yes", "autopay", "expected a boolean"),
    (",north,3,1.0,true", "plan", "not nullable"),
])
def test_csv_cells_read_as_their_type(typed: Stack, cell: str, column: str, words: str) -> None:
    body = (",".join(NAMES) + "\npro,,3,1.0,True\n" + cell + "\n").encode()
    problem = assert_problem(typed.client.post("/jobs?model=churn", data=body, content_type="text/csv"), 422)
    assert (problem["errors"][0]["row"], problem["errors"][0]["column"]) == (1, column)
    assert words in problem["errors"][0]["message"]


def _parquet(table: pa.Table) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


def test_parquet_column_of_the_wrong_type_is_a_422(typed: Stack) -> None:
    df = frame(4)
    df["autopay"] = df["autopay"].astype(np.int64)
    problem = assert_problem(typed.client.post("/jobs?model=churn", data=_parquet(pa.Table.from_pandas(df)),
                                               content_type="application/vnd.apache.parquet"), 422)
    assert problem["errors"][0]["column"] == "autopay"


def test_parquet_float_feeds_an_integer_only_when_whole(typed: Stack) -> None:
    df = frame(4)
    df["tenure_months"] = df["tenure_months"].astype(np.float64)
    ok = typed.client.post("/jobs?model=churn&dry_run=true", data=_parquet(pa.Table.from_pandas(df)),
                           content_type="application/vnd.apache.parquet")
    assert ok.status_code == 200, ok.get_data(as_text=True)
    df.loc[2, "tenure_months"] = 2.5
    problem = assert_problem(typed.client.post("/jobs?model=churn", data=_parquet(pa.Table.from_pandas(df)),
                                               content_type="application/vnd.apache.parquet"), 422)
    assert (problem["errors"][0]["row"], problem["errors"][0]["column"]) == (2, "tenure_months")


def test_a_passthrough_name_missing_from_the_body_is_a_422(typed: Stack) -> None:
    body = (",".join(NAMES) + "\npro,,3,1.0,true\n").encode()
    problem = assert_problem(typed.client.post("/jobs?model=churn&passthrough=id", data=body,
                                               content_type="text/csv"), 422)
    assert problem["errors"][0]["column"] == "id"


def test_non_utf8_csv_cell_is_a_4xx(typed: Stack) -> None:
    body = (",".join(NAMES) + "\n").encode() + b"pr\xe9,north,3,1.0,true\n"
    response = typed.client.post("/jobs?model=churn", data=body, content_type="text/csv")
    assert 400 <= response.status_code < 500


def test_sync_predict_takes_typed_rows_and_passthrough(typed: Stack) -> None:
    df = frame(3)
    rows = [{"id": i, **row} for i, row in enumerate(records(df))]
    answer = typed.client.post("/models/churn/predict", json={"instances": rows, "passthrough": ["id"]})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert answer.get_json()["results"] == [{"id": i, "prediction": p}
                                           for i, p in enumerate(expected(typed, df, "predict"))]
