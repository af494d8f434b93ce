"""The jobs page in Debian's chromium against a real stack: key, submit CSV and Parquet, watch, chart,
download, cancel, and a screenshot (docs/jobs-page.png when UPDATE_SCREENSHOT=1)."""

from __future__ import annotations

import contextlib
import csv
import os
import re
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import requests
from playwright.sync_api import Page, expect

from scripts.stack import LocalStack
from shared.settings import REPO_ROOT
from tests.browser.conftest import API_KEY, OfflinePage

pytestmark = pytest.mark.browser

IRIS = ("sepal_length", "sepal_width", "petal_length", "petal_width")
JOB_TIMEOUT_MS = 90_000
ACCEPTED = re.compile(r"^Job ([0-9a-f]+) accepted")


def iris_rows(n: int, seed: int = 0) -> np.ndarray:
    return np.round(np.random.default_rng(seed).uniform(0.5, 7.5, size=(n, len(IRIS))), 2)


def write_csv(path: Path, X: np.ndarray) -> Path:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(IRIS)
        writer.writerows(X.tolist())
    return path


def write_parquet(path: Path, X: np.ndarray) -> Path:
    pq.write_table(pa.table({name: X[:, i] for i, name in enumerate(IRIS)}), path)
    return path


def sign_in(page: Page, base_url: str) -> None:
    page.goto(base_url + "/ui")
    expect(page.locator("#message")).to_contain_text("valid key")
    page.fill("#api-key", API_KEY)
    page.click("#save-key")
    expect(page.locator("#model option[value=iris]")).to_have_count(1)


def submit(page: Page, file: Path, model: str = "iris", method: str = "predict") -> str:
    page.select_option("#model", model)
    page.select_option("#method", method)
    page.set_input_files("#file", str(file))
    page.locator("#message").evaluate("node => { node.textContent = ''; }")
    page.click("#submit")
    message = page.locator("#message")
    expect(message).to_have_text(ACCEPTED)
    found = ACCEPTED.match(message.inner_text())
    assert found is not None
    return found.group(1)


def row(page: Page, job_id: str) -> str:
    return f'#jobs tr[data-job-id="{job_id}"]'


@contextlib.contextmanager
def workers_paused(stack: LocalStack) -> Iterator[None]:
    """Every worker process group stopped (SIGSTOP): jobs stay queued until the block ends."""
    for proc in stack.worker_procs:
        os.killpg(proc.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for proc in stack.worker_procs:
            os.killpg(proc.pid, signal.SIGCONT)


def test_submit_watch_download_and_cancel(ui_stack: LocalStack, offline_page: OfflinePage,
                                          tmp_path: Path) -> None:
    page = offline_page.page
    sign_in(page, ui_stack.base_url)

    X = iris_rows(3000)
    job_id = submit(page, write_csv(tmp_path / "rows.csv", X))
    expect(page.locator(row(page, job_id) + " .status")).to_have_text("succeeded", timeout=JOB_TIMEOUT_MS)
    expect(page.locator(row(page, job_id) + " .pct")).to_contain_text("100% (3,000 / 3,000)")
    expect(page.locator('#detail-fields dd[data-field="status"]')).to_have_text("succeeded")
    points = int(page.locator("#chart").get_attribute("data-points") or 0)
    assert points >= 3, f"the chart drew {points} points"

    with page.expect_download() as download:
        page.click(row(page, job_id) + " button.download")
    saved = tmp_path / "downloaded.csv"
    download.value.save_as(saved)
    expected = requests.get(f"{ui_stack.base_url}/jobs/{job_id}/results?format=csv",
                            headers={"Authorization": f"Bearer {API_KEY}"}, timeout=60)
    assert saved.read_text() == expected.text
    assert len(saved.read_text().splitlines()) == 1 + len(X)

    parquet_id = submit(page, write_parquet(tmp_path / "rows.parquet", iris_rows(1200, seed=1)),
                        method="predict_proba")
    expect(page.locator(row(page, parquet_id) + " .status")).to_have_text("succeeded", timeout=JOB_TIMEOUT_MS)

    with workers_paused(ui_stack):
        doomed = submit(page, write_csv(tmp_path / "doomed.csv", iris_rows(800, seed=2)))
        expect(page.locator(row(page, doomed) + " .status")).to_have_text("queued")
        page.click(row(page, doomed) + " button.cancel")
        expect(page.locator(row(page, doomed) + " .status")).to_have_text("cancelled")

    page.click(row(page, job_id) + " button.open")
    expect(page.locator("#detail-id")).to_have_text(job_id)
    shot = tmp_path / "jobs-page.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    print(f"screenshot: {shot}")
    if os.environ.get("UPDATE_SCREENSHOT") == "1":
        shutil.copyfile(shot, REPO_ROOT / "docs" / "jobs-page.png")
    assert not offline_page.blocked, f"the page asked other hosts for {offline_page.blocked}"
    assert not offline_page.errors, offline_page.errors
