"""RFC 3339 timestamps in UTC with milliseconds, as the API writes them."""

from __future__ import annotations

from datetime import UTC, datetime


def rfc3339(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    moment = datetime.fromtimestamp(seconds, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
