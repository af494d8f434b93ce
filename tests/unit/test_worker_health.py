"""The worker's healthcheck finds the node name its container's Celery runs as."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from shared.settings import REPO_ROOT
from worker.health import node_name


def _cmdline(tmp_path: Path, *argv: str) -> Path:
    path = tmp_path / "cmdline"
    path.write_bytes(b"\0".join(a.encode() for a in argv) + b"\0")
    return path


def test_worker_node_wins(tmp_path: Path) -> None:
    cmdline = _cmdline(tmp_path, "celery", "worker", "--hostname", "a@b")
    assert node_name({"WORKER_NODE": "w1@box"}, cmdline) == "w1@box"


@pytest.mark.parametrize("option", [["--hostname", "worker-1a2b@%h"], ["-n", "worker-1a2b@%h"],
                                    ["--hostname=worker-1a2b@%h"]])
def test_the_hostname_pid_1_runs_with_is_expanded_as_celery_does(tmp_path: Path, option: list[str]) -> None:
    cmdline = _cmdline(tmp_path, "/opt/venv/bin/python", "/opt/venv/bin/celery", "--app", "worker", "worker", *option)
    assert node_name({}, cmdline) == f"worker-1a2b@{socket.gethostname()}"


def test_a_value_without_at_is_the_host_part_as_in_celery(tmp_path: Path) -> None:
    assert node_name({}, _cmdline(tmp_path, "celery", "worker", "-n", "gpu-box")) == "celery@gpu-box"


def test_without_a_hostname_it_is_celerys_default(tmp_path: Path) -> None:
    expected = f"celery@{socket.gethostname()}"
    assert node_name({}, _cmdline(tmp_path, "celery", "--app", "worker", "worker")) == expected
    assert node_name({}, tmp_path / "missing") == expected


def test_the_health_check_imports_no_model_library_and_builds_no_app() -> None:
    """Docker runs it every 10 s: it must stay a Redis round trip, not a scikit-learn import."""
    code = ("import sys, worker.health; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'sklearn', 'joblib', 'pyarrow', 'flask'}), "
            "'app' in vars(sys.modules['worker']))")
    out = subprocess.run([sys.executable, "-X", "importtime", "-c", code], cwd=REPO_ROOT, capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "[] False"
    assert "sklearn" not in out.stderr  # -X importtime lists every module imported
