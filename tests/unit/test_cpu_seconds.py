"""The benchmark's CPU accounting counts a process's descendants, not only the process itself."""

from __future__ import annotations

import subprocess
import sys

from scripts.cpu_seconds import tree_seconds

BURN = ("import time, sys\n"
        "while time.process_time() < 0.3: pass\n"
        "print('burnt', flush=True)\n"
        "sys.stdin.read()\n")


def test_the_cpu_of_a_grandchild_counts_for_its_root() -> None:
    # `; true` keeps sh from replacing itself with python: the burner is a grandchild of the root
    shell = subprocess.Popen(["sh", "-c", f'"{sys.executable}" -c "$0"; true', BURN], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert shell.stdout is not None and shell.stdout.readline() == "burnt\n"  # its CPU is spent, not slept
        used = tree_seconds({"shell": [shell.pid], "nobody": []})
        assert used["shell"] >= 0.29
        assert used["nobody"] == 0.0
    finally:
        shell.communicate(timeout=30)
