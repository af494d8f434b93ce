"""Fault-suite fixtures: one stack for the session (redis-server with appendonly yes on a free port, gunicorn,
two Celery workers), healed between tests; the closing table, written to docs/faults.md when the session ends.

The stack's model store holds the demo models plus two made here: `slow-forest` (bench-forest, 0.3 s per chunk,
so faults land mid-chunk) and `poison` (kills the process that scores a row starting with 666).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scripts.make_models import write_demo_models
from shared import artifacts
from shared.registry import read_entry, write_model
from shared.settings import REPO_ROOT
from tests.faults.report import FaultReport
from tests.faults.stack import FaultStack, fault_stack_of
from tests.faults.support import (
    FEATURES,
    POISON_FEATURES,
    POISON_MODEL,
    SLOW_DELAY_SECONDS,
    SLOW_MODEL,
    Client,
)
from tests.integration.support import start_stack
from tests.models import PoisonModel, SlowModel

REPORT_PATH = REPO_ROOT / "docs" / "faults.md"
MAX_QUEUED_JOBS = 40
"""Backpressure in the fault stack: the concurrent submitters meet 503s, as they would in production."""

_report = FaultReport()


@pytest.fixture(scope="session")
def fault_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo models, slow-forest and poison; every fault stack uses it, so this is where a machine without
    redis-server (it cannot be restarted in place when faked) skips the suite."""
    if shutil.which("redis-server") is None:
        pytest.skip("the fault suite needs redis-server on PATH")
    root = tmp_path_factory.mktemp("fault-models")
    checkout_models = REPO_ROOT / "models"
    if checkout_models.is_dir():
        shutil.copytree(checkout_models, root, dirs_exist_ok=True)
    write_demo_models(root, log=lambda _line: None)
    write_model(root, SLOW_MODEL, 1, SlowModel(forest_of(root), SLOW_DELAY_SECONDS), FEATURES, False,
                fmt="joblib")  # plain Python classes of the tests: pickled, trusted by hash
    write_model(root, POISON_MODEL, 1, PoisonModel(), POISON_FEATURES, False, fmt="joblib")
    return root


def forest_of(model_dir: Path) -> Any:
    return artifacts.read(read_entry("bench-forest", 1, model_dir / "bench-forest" / "1").path, None)


@pytest.fixture(scope="session")
def forest(fault_model_dir: Path) -> Any:
    """The reference: bench-forest itself, whose predict every slow-forest row must equal."""
    return forest_of(fault_model_dir)


@pytest.fixture(scope="session")
def fault_storage(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder the fault stack's jobs by reference read from and write to (file://)."""
    return tmp_path_factory.mktemp("fault-storage").resolve()


@pytest.fixture(scope="session")
def fault_stack(fault_model_dir: Path, fault_storage: Path,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultStack]:
    stack = fault_stack_of(fault_model_dir, tmp_path_factory.mktemp("fault-logs"), 2,
                           MAX_QUEUED_JOBS=str(MAX_QUEUED_JOBS), STORAGE_ROOTS=str(fault_storage),
                           STORAGE_ALLOWED_PREFIXES=f"file://{fault_storage}/")
    with start_stack(stack) as running:
        faults = FaultStack(running, workers=2)
        yield faults
        faults.redis.close()


@pytest.fixture
def faults(fault_stack: FaultStack) -> FaultStack:
    """The session stack, healed: Redis, the API and two workers up, no live job."""
    fault_stack.heal()
    return fault_stack


@pytest.fixture
def client(fault_stack: FaultStack) -> Iterator[Client]:
    http = Client(fault_stack.base_url)
    yield http
    http.close()


@pytest.fixture(scope="session")
def report() -> FaultReport:
    return _report


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Write the table when the whole suite ran (a run of a few tests only prints its rows)."""
    if not _report.complete():
        return
    REPORT_PATH.parent.mkdir(exist_ok=True)
    REPORT_PATH.write_text(
        "# Fault suite results\n\n"
        f"Written by `make faults` (tests/faults) on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"pytest exit status {int(exitstatus)}. Lost: rows not answered, or answered other than the model's own "
        "`predict` on the same rows. Duplicated: rows counted more than once. Recovery: seconds from the fault "
        "(or from its end, where noted) until every job of the scenario was terminal.\n\n" + _report.markdown())


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _report.rows:
        terminalreporter.write_sep("=", "fault suite")
        terminalreporter.write_line(_report.markdown())
