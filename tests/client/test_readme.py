"""Every runnable example of README.md runs against a local stack and prints what it says it prints."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from scripts.stack import LocalStack
from shared.settings import REPO_ROOT
from tests.client.readme import RUN, SERVE_ADDRESS, SHOWN_ONLY, blocks, unmatched

README = REPO_ROOT / "README.md"
BLOCK_TIMEOUT_SECONDS = 180
"""A guard against a hung example only."""


def test_every_fence_is_either_run_or_marked_shown_only() -> None:
    found = blocks(README.read_text())
    unknown = [(b.line, b.language) for b in found if b.language not in RUN + SHOWN_ONLY]
    assert not unknown, f"fences neither run nor shown-only (use bash, python or sh): {unknown}"
    assert sum(b.language == "bash" for b in found) >= 6
    assert all(b.expected or b.language == "python" for b in found if b.language in RUN), \
        "every runnable block shows what it prints with `# =>` lines"


@pytest.mark.integration
def test_readme_examples_run(client_stack: LocalStack, tmp_path: Path) -> None:
    address = client_stack.base_url.removeprefix("http://")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREDQ_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"  # predq and python3 of the venv
    failures = []
    for block in blocks(README.read_text()):
        if block.language not in RUN:
            continue
        code = block.code.replace(SERVE_ADDRESS, address)
        argv = ["bash", "-euo", "pipefail", "-c", code] if block.language == "bash" else [sys.executable, "-c", code]
        done = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=BLOCK_TIMEOUT_SECONDS, check=False)
        missing = unmatched(block.expected, done.stdout)
        if done.returncode != 0 or missing:
            failures.append(f"README.md:{block.line} ({block.language}) exited {done.returncode}; not shown: "
                            f"{missing}\n--- stdout\n{done.stdout[-2000:]}\n--- stderr\n{done.stderr[-2000:]}")
    assert not failures, "\n\n".join(failures)
