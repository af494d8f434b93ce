"""The outside contract suite (../shared/contract), run as its own pytest against a default-chunk-size stack."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from scripts.stack import LocalStack
from shared.registry import ModelRegistry
from shared.schema import is_all_number
from shared.settings import REPO_ROOT
from tests.integration.support import start_stack

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CONTRACT_SUITE = Path(REPO_ROOT).parent / "shared" / "contract"
SUITE_TIMEOUT = 600
def typed_models(model_dir: Path) -> list[str]:
    """Models with a column that is not a number (churn, and any a test registered meanwhile).

    The suite writes number rows to every model GET /models lists: it predates typed columns, so it runs
    against the all-number models (tests/integration/test_typed.py covers the others)."""
    registry = ModelRegistry(model_dir, "iris")
    return [e.name for e in registry.latest_entries() if not is_all_number(e.schema)]
SUPERSEDED = "not (test_unknown_format_is_400 and parquet)"
"""Checks that API.md's section "Typed columns, pass-through, Parquet results" has since overruled:
?format=parquet is now a results format, not an unknown one."""


@pytest.fixture(scope="module")
def default_stack(stack_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """Two workers and every setting at its default (10,000-row chunks)."""
    if not CONTRACT_SUITE.is_dir():
        pytest.skip(f"no contract suite at {CONTRACT_SUITE}")
    model_dir = tmp_path_factory.mktemp("contract-models")
    shutil.copytree(stack_model_dir, model_dir, dirs_exist_ok=True)
    with start_stack(LocalStack(workers=2, model_dir=str(model_dir),
                                log_dir=str(tmp_path_factory.mktemp("contract-stack-logs")))) as running:
        for name in typed_models(model_dir):  # the stack writes every demo model; the registry sees them go
            shutil.rmtree(model_dir / name)
        yield running


def test_contract_suite_passes(default_stack: LocalStack, tmp_path: Path) -> None:
    env = {**os.environ, "ACCEPT_URL": default_stack.base_url, "ACCEPT_MODEL_DIR": default_stack.model_dir,
           "PYTHONDONTWRITEBYTECODE": "1", "ACCEPT_BIG_ROWS": "50000"}
    for name in ("ACCEPT_KEY", "ACCEPT_INLINE_MAX", "ACCEPT_SYNC_MAX", "PYTEST_ADDOPTS", "PYTEST_PLUGINS"):
        env.pop(name, None)
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", SUPERSEDED,
                          str(CONTRACT_SUITE)],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=SUITE_TIMEOUT)
    tail = "\n".join((run.stdout + run.stderr).splitlines()[-60:])
    assert run.returncode == 0, f"the contract suite exited {run.returncode}:\n{tail}"
