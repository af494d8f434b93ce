"""Query parameters with strict casts: anything malformed is a 400 naming the parameter."""

from __future__ import annotations

from collections.abc import Mapping

from shared.errors import BadRequestError

TRUE = ("true", "1", "yes")
FALSE = ("false", "0", "no")


def flag(query: Mapping[str, str], name: str) -> bool:
    raw = query.get(name)
    if raw is None:
        return False
    if raw.lower() in TRUE:
        return True
    if raw.lower() in FALSE:
        return False
    raise BadRequestError(f"?{name} is true or false, got {raw!r}")


def integer(query: Mapping[str, str], name: str, default: int, low: int, high: int | None = None) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit()) or int(raw) < low or (high is not None and int(raw) > high):
        bounds = f"{low} to {high}" if high is not None else f"{low} or more"
        raise BadRequestError(f"?{name} is an integer, {bounds}; got {raw!r}")
    return int(raw)


def seconds(query: Mapping[str, str], name: str, most: float) -> float:
    """A non-negative number of seconds; more than `most` counts as `most`."""
    raw = query.get(name)
    if raw is None:
        return 0.0
    try:
        value = float(raw)
    except ValueError:
        raise BadRequestError(f"?{name} is a number of seconds, got {raw!r}") from None
    if not 0 <= value < float("inf"):
        raise BadRequestError(f"?{name} is a number of seconds, 0 or more; got {raw!r}")
    return min(value, most)
