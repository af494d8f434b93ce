"""Input files for the client's tests and the model's own answers to them."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from sklearn.datasets import load_iris

from tests.integration.support import assert_same_results, reference

IRIS_FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def iris_rows(n_rows: int) -> np.ndarray:
    """`n_rows` iris rows (the data set repeated), so a job spans several 100-row chunks."""
    X = load_iris().data
    return np.asarray(np.resize(X, (n_rows, X.shape[1])), dtype=np.float64)


def write_csv(path: Path, X: np.ndarray) -> Path:
    with path.open("w", newline="") as file:
        out = csv.writer(file)
        out.writerow(IRIS_FEATURES)
        out.writerows(X.tolist())
    return path


def write_parquet(path: Path, X: np.ndarray) -> Path:
    pq.write_table(pa.table({name: X[:, j] for j, name in enumerate(IRIS_FEATURES)}), path)
    return path


def expected(model_dir: Path, version: str, method: str, X: np.ndarray) -> list[Any]:
    return reference(model_dir, "iris", version, method, X)


def read_back(path: Path, fmt: str) -> list[Any]:
    """The rows of a results file as JSON values: one per row (a list for several columns)."""
    if fmt == "ndjson":
        return [json.loads(line) for line in path.read_text().splitlines()]
    if fmt == "parquet":
        rows = pq.read_table(path).to_pylist()
    else:
        with path.open(newline="") as file:
            rows = [{k: _number(v) for k, v in row.items()} for row in csv.DictReader(file)]
    return [next(iter(row.values())) if len(row) == 1 else list(row.values()) for row in rows]


def _number(text: str) -> Any:
    try:
        return float(text)
    except ValueError:
        return text


def assert_results(got: list[Any], want: list[Any]) -> None:
    assert_same_results(got, want)
