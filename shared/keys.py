"""The one place that builds Redis key names."""

from __future__ import annotations

PREFIX = "predq"
"""Every key predq writes starts with this, so a shared Redis stays readable."""


def key(*parts: object) -> str:
    """The Redis key for `parts`, e.g. key("job", job_id, "out", 3)."""
    return ":".join((PREFIX, *(str(p) for p in parts)))
