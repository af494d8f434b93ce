"""CPU seconds spent by processes and their children, read from /proc (Linux): where a benchmark's time goes.

On two cores every process of the stack (the client, the API, Redis, the workers) shares the same CPUs, so a
job's wall time is bounded below by the CPU they all spend divided by two; this counts that CPU per role.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, user + system seconds) of a live process; None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / TICKS


def tree_seconds(roots: Mapping[str, list[int]]) -> dict[str, float]:
    """role -> CPU seconds of its root processes and every descendant alive now."""
    parents: dict[int, int] = {}
    seconds: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (found := _stat(int(entry))) is not None:
            parents[int(entry)], seconds[int(entry)] = found
    children: dict[int, list[int]] = {}
    for pid, parent in parents.items():
        children.setdefault(parent, []).append(pid)
    totals: dict[str, float] = {}
    for role, pids in roots.items():
        todo, total = list(pids), 0.0
        while todo:
            pid = todo.pop()
            total += seconds.get(pid, 0.0)
            todo.extend(children.get(pid, []))
        totals[role] = total
    return totals


def self_seconds() -> float:
    """This process's own CPU seconds (all its threads)."""
    times = os.times()
    return times.user + times.system
