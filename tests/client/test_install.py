"""`pip install ./client` in a fresh venv gives the library and the `predq` command, and nothing of the service."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from shared.settings import REPO_ROOT

pytestmark = pytest.mark.slow


def test_pip_install_of_the_client_folder_in_a_fresh_venv(tmp_path: Path) -> None:
    source = tmp_path / "client"
    shutil.copytree(REPO_ROOT / "client", source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", str(source)], capture_output=True,
                         text=True, check=False)
    assert pip.returncode == 0, pip.stderr[-3000:]
    version = subprocess.run([str(venv / "bin" / "predq"), "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.strip() == "predq, version 0.1.0"
    probe = ("import importlib.util as u, pathlib, predq_client; "
             "print(sorted(m for m in ('api', 'shared', 'worker', 'scripts') if u.find_spec(m))); "
             "print((pathlib.Path(predq_client.__file__).parent / 'py.typed').is_file())")
    out = subprocess.run([str(venv / "bin" / "python"), "-c", probe], capture_output=True, text=True, check=True,
                         cwd=tmp_path).stdout.split()
    assert out == ["[]", "True"]
