"""The library against a real local stack: submit files, tables and rows, wait, write every format."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from predq_client import Client, ConflictError, NotFoundError, RefusedError, WaitTimeoutError

from scripts.stack import LocalStack
from tests.client.conftest import paused_workers
from tests.client.data import IRIS_FEATURES, assert_results, expected, iris_rows, read_back, write_csv, write_parquet

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("out_format", ["csv", "ndjson", "parquet"])
def test_csv_file_scored_and_written_in_every_format(predq: Client, stack_models: Path, tmp_path: Path,
                                                     out_format: str) -> None:
    X = iris_rows(1000)
    uploaded: list[tuple[int, int | None]] = []
    job = predq.submit(write_csv(tmp_path / "rows.csv", X), model="iris",
                       on_upload=lambda sent, total: uploaded.append((sent, total)))
    assert job.status == "queued" and job.rows == 1000
    assert uploaded[-1][0] == uploaded[-1][1] == (tmp_path / "rows.csv").stat().st_size
    job = predq.wait(job.job_id, timeout=120)
    assert job.status == "succeeded"
    want = expected(stack_models, job.model["version"], "predict", X)
    out = tmp_path / f"predictions.{out_format}"
    assert predq.write_results(job.job_id, out) == 1000
    assert_results(read_back(out, out_format), want)
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".partial")] == []


def test_parquet_file_predict_proba_with_progress(predq: Client, stack_models: Path, tmp_path: Path) -> None:
    X = iris_rows(700)
    job = predq.submit(write_parquet(tmp_path / "rows.parquet", X), model="iris", method="predict_proba")
    seen: list[str] = []
    job = predq.wait(job.job_id, timeout=120, on_progress=lambda current: seen.append(current.status))
    assert job.status == "succeeded" and seen[-1] == "succeeded"
    assert job.progress.rows_done == 700 and job.progress.eta_seconds == 0
    want = expected(stack_models, job.model["version"], "predict_proba", X)
    assert_results(list(predq.results(job.job_id, page_rows=250)), want)
    predq.write_results(job.job_id, tmp_path / "proba.parquet")
    import pyarrow.parquet as pq

    assert pq.read_table(tmp_path / "proba.parquet").column_names == [str(c) for c in job.classes or []]
    assert_results(read_back(tmp_path / "proba.parquet", "parquet"), want)


def test_tables_rows_and_streams_score_alike(predq: Client, stack_models: Path) -> None:
    X = iris_rows(300)
    frame = pd.DataFrame(X, columns=IRIS_FEATURES)
    objects = frame.to_dict(orient="records")

    def one_shot() -> Iterator[list[float]]:  # a generator: sent once, spooled so that a retry could resend it
        yield from X.tolist()

    csv_text = frame.to_csv(index=False).encode()
    inputs = [frame, X.tolist(), objects, one_shot(), (csv_text[i:i + 999] for i in range(0, len(csv_text), 999))]
    formats = [None, None, None, None, "csv"]
    want = expected(stack_models, "2", "predict", X)
    for data, fmt in zip(inputs, formats, strict=True):
        job = predq.wait(predq.submit(data, model="iris", version=2, format=fmt).job_id, timeout=120)
        assert job.status == "succeeded", job.error
        assert_results(list(predq.results(job.job_id)), want)


class BreakOnce(httpx.BaseTransport):
    """Cuts the first results page it carries in the middle of its body, as a dropped connection would."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.broken = 0
        self.result_offsets: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        answer = self.inner.handle_request(request)
        if not request.url.path.endswith("/results"):
            return answer
        self.result_offsets.append(request.url.params["offset"])
        if self.broken:
            return answer
        self.broken += 1
        return httpx.Response(answer.status_code, headers=answer.headers, stream=CutStream(answer))

    def close(self) -> None:
        self.inner.close()


class CutStream(httpx.SyncByteStream):
    def __init__(self, answer: httpx.Response) -> None:
        self.answer = answer

    def __iter__(self) -> Iterator[bytes]:
        body = self.answer.read()
        yield body[: len(body) // 2]
        raise httpx.ReadError("connection reset in the middle of the body")

    def close(self) -> None:
        self.answer.close()


def test_download_cut_in_the_middle_resumes(client_stack: LocalStack, stack_models: Path, tmp_path: Path) -> None:
    X = iris_rows(900)
    cutter = BreakOnce()
    with Client(client_stack.base_url, transport=cutter, retry_seconds=10) as predq:
        job = predq.wait(predq.submit(X.tolist(), model="iris").job_id, timeout=120)
        list(predq.results(job.job_id, page_rows=400))  # the first page breaks once and is fetched again
        assert cutter.broken == 1 and cutter.result_offsets == ["0", "0", "400", "800"]
        out = tmp_path / "resumed.csv"
        predq.write_results(job.job_id, out, page_rows=400)
    assert_results(read_back(out, "csv"), expected(stack_models, job.model["version"], "predict", X))


def test_cancel_a_queued_job(predq: Client, client_stack: LocalStack) -> None:
    with paused_workers(client_stack):
        job = predq.submit(iris_rows(500).tolist(), model="iris")
        with pytest.raises(WaitTimeoutError):
            predq.wait(job.job_id, timeout=0.5)
        cancelled = predq.cancel(job.job_id)
    assert cancelled.status == "cancelled" and cancelled.terminal
    assert predq.wait(job.job_id).status == "cancelled"
    with pytest.raises(ConflictError) as again:
        predq.cancel(job.job_id)
    assert again.value.status == 409 and again.value.problem.detail
    with pytest.raises(ConflictError):
        list(predq.results(job.job_id))


def test_refused_body_carries_the_problem_and_its_errors(predq: Client) -> None:
    rows = [[5.1, 3.5, 1.4, 0.2], [6.7, "3.0", 5.2, 2.3], [1.0, 2.0, 3.0]]
    with pytest.raises(RefusedError) as refused:
        predq.submit(rows, model="iris")
    problem = refused.value.problem
    assert problem.status == 422 and problem.title and problem.detail
    assert (1, "sepal_width") in {(e.row, e.column) for e in problem.errors}
    assert any(e.row == 2 for e in problem.errors)


def test_unknown_model_and_job_are_not_found(predq: Client) -> None:
    with pytest.raises(NotFoundError) as unknown:
        predq.submit([[1.0, 2.0]], model="no-such-model")
    assert unknown.value.status == 404
    with pytest.raises(NotFoundError):
        predq.job("0" * 32)


def test_a_retried_submission_makes_one_job(predq: Client) -> None:
    rows = iris_rows(10).tolist()
    first = predq.submit(rows, model="iris", idempotency_key="client-test-retry")
    second = predq.submit(rows, model="iris", idempotency_key="client-test-retry")
    assert first.job_id == second.job_id


def test_a_job_by_reference_answers_as_its_rows_uploaded(predq: Client, stack_models: Path, tmp_path: Path) -> None:
    X = iris_rows(30)
    source = write_parquet(tmp_path / "rows.parquet", X)
    job = predq.submit_uri(f"file://{source}", output_uri=f"file://{tmp_path}/scores/", model="iris",
                           method="predict_proba")
    final = predq.wait(job.job_id, timeout=120)
    assert final.status == "succeeded"
    assert final.raw["output"]["files"][-1] == "_predq.json"
    assert_results(list(predq.results(job.job_id)), expected(stack_models, "2", "predict_proba", X))


def test_a_uri_the_service_does_not_allow_is_refused_naming_the_setting(predq: Client) -> None:
    with pytest.raises(RefusedError) as refused:
        predq.submit_uri("s3://predq-client-tests/rows.parquet", model="iris")
    assert refused.value.status == 422 and "STORAGE_ALLOWED_PREFIXES" in refused.value.problem.detail


def test_jobs_and_models_list(predq: Client) -> None:
    job = predq.submit(iris_rows(5).tolist(), model="iris")
    assert job.job_id in {listed.job_id for listed in predq.jobs(limit=50)}
    assert any(m["name"] == "iris" and m["default"] for m in predq.models())
    np.testing.assert_equal(len(list(predq.jobs(limit=1))), 1)
