"""Bulk scoring: a 1,000,000-row CSV job streams in, is scored by two workers and comes back whole."""

from __future__ import annotations

import io
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import make_classification

from scripts.stack import LocalStack
from tests.integration.support import Api, accepted, estimator, start_stack

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BIG_ROWS = 1_000_000
FEATURES = [f"f{i}" for i in range(20)]


@pytest.fixture(scope="module")
def bulk_stack(stack_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """Two workers with the default chunk size, as a deployment would run."""
    with start_stack(LocalStack(workers=2, model_dir=str(stack_model_dir),
                                log_dir=str(tmp_path_factory.mktemp("bulk-logs")))) as running:
        yield running


def test_a_million_row_csv_job_answers_every_row_in_order(bulk_stack: LocalStack) -> None:
    X, _ = make_classification(n_samples=BIG_ROWS, n_features=20, random_state=7)
    X = np.round(X, 6)
    with tempfile.TemporaryFile() as body, Api(bulk_stack.base_url) as api:
        body.write((",".join(FEATURES) + "\n").encode())
        np.savetxt(body, X, fmt="%.6f", delimiter=",")
        body.seek(0)
        job = accepted(api.post_raw(body, "text/csv", params={"model": "bench-logreg"}))
        assert job["rows"] == BIG_ROWS
        final = api.wait(job["job_id"], timeout=300)
        assert final["status"] == "succeeded", final["error"]
        assert final["progress"]["rows_done"] == BIG_ROWS
        answer = api.get(f"/jobs/{job['job_id']}/results", params={"format": "csv"})
    assert answer.status_code == 200
    lines = answer.content.split(b"\n")
    assert lines[0] == b"prediction"
    got = np.loadtxt(io.BytesIO(b"\n".join(lines[1:])), dtype=np.int64)
    want = estimator(bulk_stack.model_dir, "bench-logreg", "1").predict(X)
    assert got.shape == (BIG_ROWS,)
    np.testing.assert_array_equal(got, want)
