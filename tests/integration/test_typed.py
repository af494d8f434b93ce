"""Typed columns over the real stack: the churn pipeline in every body format, pass-through in every
results format, and typed bad input refused with nothing left behind."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import redis

from scripts.churn import CHURN_SCHEMA, churn_frame
from scripts.stack import LocalStack
from tests.integration.support import Api, accepted, assert_problem, assert_same_results, estimator, leaves_no_trace

pytestmark = pytest.mark.integration

ROWS = 250
"""Three 100-row chunks, the last one partial."""
NAMES = [c.name for c in CHURN_SCHEMA]
PARQUET = "application/vnd.apache.parquet"


def customers() -> pd.DataFrame:
    """Rows the model never saw, with missing regions and a plan it never saw ("max")."""
    df = churn_frame(ROWS, seed=11)
    df.loc[[3, 150], "plan"] = "max"
    return df


def records(df: pd.DataFrame) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads(df.to_json(orient="records"))
    return rows


def body(form: str, df: pd.DataFrame) -> tuple[bytes, str]:
    if form == "csv":
        return df.to_csv(index=False).encode(), "text/csv"
    if form == "ndjson":
        return b"".join(json.dumps(r).encode() + b"\n" for r in records(df)), "application/x-ndjson"
    out = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), out)
    return out.getvalue(), PARQUET


def submit(api: Api, form: str, df: pd.DataFrame, method: str, passthrough: list[str] | None = None) -> str:
    if form == "json":
        doc: dict[str, Any] = {"model": "churn", "method": method, "instances": records(df)}
        if passthrough:
            doc["passthrough"] = passthrough
        return str(api.submit(doc)["job_id"])
    data, content_type = body(form, df)
    params = {"model": "churn", "method": method, **({"passthrough": ",".join(passthrough)} if passthrough else {})}
    return str(accepted(api.post_raw(data, content_type, params=params))["job_id"])


def pipeline_answer(stack: LocalStack, method: str, df: pd.DataFrame) -> list[Any]:
    values: list[Any] = np.asarray(getattr(estimator(stack.model_dir, "churn", "1"), method)(df[NAMES])).tolist()
    return values


@pytest.mark.parametrize("method", ["predict", "predict_proba"])
@pytest.mark.parametrize("form", ["json", "ndjson", "csv", "parquet"])
def test_each_format_scores_as_the_pipeline_does_on_the_same_frame(api: Api, stack: LocalStack, form: str,
                                                                  method: str) -> None:
    df = customers()
    job = api.wait(submit(api, form, df, method))
    assert job["status"] == "succeeded", job["error"]
    assert job["progress"]["chunks_total"] == 3
    assert_same_results(job["results"], pipeline_answer(stack, method, df))


def _with_ids(df: pd.DataFrame) -> pd.DataFrame:
    return df.assign(customer_id=[f"cus-{i:04d}" for i in range(len(df))])[["customer_id", *NAMES]]


@pytest.mark.parametrize("form", ["json", "ndjson", "csv", "parquet"])
def test_passthrough_values_come_back_in_order_in_every_results_format(api: Api, stack: LocalStack,
                                                                       form: str) -> None:
    df = _with_ids(customers())
    ids = df["customer_id"].tolist()
    job = api.wait(submit(api, form, df, "predict", passthrough=["customer_id"]))
    assert job["status"] == "succeeded", job["error"]
    want = pipeline_answer(stack, "predict", df)
    assert job["results"] == [{"customer_id": i, "prediction": p} for i, p in zip(ids, want, strict=True)]
    assert api.results(job["job_id"], limit=70) == job["results"]
    url = f"/jobs/{job['job_id']}/results"
    table = list(csv.reader(io.StringIO(api.get(url, params={"format": "csv"}).text)))
    assert table[0] == ["customer_id", "prediction"]
    assert [r[0] for r in table[1:]] == ids and [r[1] for r in table[1:]] == want
    lines = [json.loads(line) for line in api.get(url, params={"format": "ndjson"}).text.splitlines()]
    assert lines == job["results"]
    parquet = api.get(url, headers={"Accept": PARQUET})
    assert parquet.headers["Content-Type"].startswith(PARQUET)
    back = pq.read_table(io.BytesIO(parquet.content))
    assert back.column_names == ["customer_id", "prediction"]
    assert back.column("customer_id").to_pylist() == ids and back.column("prediction").to_pylist() == want


def test_parquet_results_of_predict_proba_are_typed_columns_per_class(api: Api, stack: LocalStack) -> None:
    df = customers()
    job = api.wait(submit(api, "csv", df, "predict_proba"))
    back = pq.read_table(io.BytesIO(api.get(f"/jobs/{job['job_id']}/results", params={"format": "parquet"}).content))
    assert back.column_names == job["classes"] == ["churn", "stay"]
    assert all(pa.types.is_float64(t) for t in back.schema.types)
    assert_same_results([list(r) for r in zip(*(back.column(c).to_pylist() for c in back.column_names),
                                              strict=True)], pipeline_answer(stack, "predict_proba", df))


def test_json_passthrough_keeps_value_types(api: Api) -> None:
    rows = [{"id": i, "vip": i % 2 == 0, **r} for i, r in enumerate(records(customers().head(5)))]
    job = api.run({"model": "churn", "instances": rows, "passthrough": ["id", "vip"]})
    assert [(r["id"], r["vip"]) for r in job["results"]] == [(i, i % 2 == 0) for i in range(5)]


def _bad_rows() -> list[dict[str, Any]]:
    return records(customers().head(3))


BAD_JSON = [
    ("plan", 7), ("plan", None), ("tenure_months", 1.5), ("tenure_months", "12"), ("monthly_fee", "9.5"),
    ("monthly_fee", True), ("autopay", 1), ("autopay", "yes"), ("plan", "p" * 2000),
]


@pytest.mark.parametrize(("column", "value"), BAD_JSON, ids=[f"{c}-{str(v)[:8]}" for c, v in BAD_JSON])
def test_wrong_json_types_are_422s_naming_row_and_column(api: Api, stack_redis: redis.Redis, column: str,
                                                         value: Any) -> None:
    rows = _bad_rows()
    rows[2][column] = value
    with leaves_no_trace(stack_redis):
        problem = assert_problem(api.post("/jobs", json={"model": "churn", "instances": rows}), 422)
    assert (problem["errors"][0]["row"], problem["errors"][0]["column"]) == (2, column)


def test_wrong_csv_and_parquet_types_are_4xx_naming_the_column(api: Api, stack_redis: redis.Redis) -> None:
    df = customers().head(4)
    text = df.to_csv(index=False).splitlines()
    text[3] = text[3].replace(",True", ",maybe").replace(",False", ",maybe")
    with leaves_no_trace(stack_redis):
        problem = assert_problem(api.post_raw(("\n".join(text) + "\n").encode(), "text/csv",
                                              params={"model": "churn"}), 422)
        assert (problem["errors"][0]["row"], problem["errors"][0]["column"]) == (2, "autopay")
        wrong = df.assign(plan=[1, 2, 3, 4])
        data, _ = body("parquet", wrong)
        problem = assert_problem(api.post_raw(data, PARQUET, params={"model": "churn"}), 422)
        assert problem["errors"][0]["column"] == "plan"
        data, _ = body("csv", df)
        problem = assert_problem(api.post_raw(data, "text/csv", params={"model": "churn", "passthrough": "id"}), 422)
        assert problem["errors"][0]["column"] == "id"
