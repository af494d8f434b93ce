"""Results files: the service's column names, and nothing under the final name unless the download completed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from predq_client import Client, RetryPolicy, UnreachableError
from predq_client.writers import columns_for

from tests.client.data import read_back

JOB: dict[str, Any] = {"job_id": "cd" * 16, "status": "succeeded", "rows": 4, "method": "predict",
       "progress": {"rows_done": 4, "rows_total": 4, "chunks_done": 2, "chunks_total": 2,
                    "rows_per_second": 10.0, "eta_seconds": 0.0}}


def test_columns_follow_the_services_csv_header() -> None:
    assert columns_for("predict", None, "setosa") == ["prediction"]
    assert columns_for("predict_proba", ["a", "b"], [0.2, 0.8]) == ["a", "b"]
    assert columns_for("decision_function", None, 0.5) == ["decision"]
    assert columns_for("decision_function", None, [0.1, 0.2, 0.3]) == ["decision_0", "decision_1", "decision_2"]
    assert columns_for("predict", None, {"id": 7, "prediction": 1}) == ["id", "prediction"]


def pages(request: httpx.Request) -> httpx.Response:
    if not request.url.path.endswith("/results"):
        return httpx.Response(200, json=JOB)
    offset = int(request.url.params["offset"])
    if offset >= 2:
        raise httpx.ReadError("the connection dropped", request=request)
    return httpx.Response(200, json={"results": ["x", "y"], "offset": 0, "limit": 2, "total": 4,
                                     "next": f"/jobs/{JOB['job_id']}/results?offset=2&limit=2"})


@pytest.mark.parametrize("suffix", [".csv", ".ndjson", ".parquet"])
def test_a_download_that_never_completes_leaves_no_file(tmp_path: Path, suffix: str) -> None:
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    retry = RetryPolicy(deadline_seconds=5, sleep=sleep, clock=lambda: now[0])
    with Client("http://predq.test", transport=httpx.MockTransport(pages), retry=retry) as predq, \
            pytest.raises(UnreachableError):
        predq.write_results(JOB["job_id"], tmp_path / f"out{suffix}", page_rows=2)
    assert list(tmp_path.iterdir()) == []


def test_a_completed_download_is_renamed_into_place(tmp_path: Path) -> None:
    def whole(request: httpx.Request) -> httpx.Response:
        if not request.url.path.endswith("/results"):
            return httpx.Response(200, json=JOB)
        return httpx.Response(200, json={"results": ["x", "y", "z", "w"], "offset": 0, "limit": 10, "total": 4,
                                         "next": None})

    with Client("http://predq.test", transport=httpx.MockTransport(whole)) as predq:
        assert predq.write_results(JOB["job_id"], tmp_path / "out.csv") == 4
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]
    assert read_back(tmp_path / "out.csv", "csv") == ["x", "y", "z", "w"]
