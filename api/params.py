"""Query parameters with strict casts: anything malformed is a 400 naming the parameter."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared.errors import BadRequestError, brief

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


MAX_INTEGER_DIGITS = 18
"""An integer query parameter (offset, limit) longer than this is out of any bound predq takes."""


def integer(query: Mapping[str, str], name: str, default: int, low: int, high: int | None = None) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    # The length first: int() of thousands of digits is slow and refused past 4,300 (a server without
    # gunicorn's request-line limit, the test client, would pass them through).
    if not (raw.isascii() and raw.isdigit()) or len(raw) > MAX_INTEGER_DIGITS or int(raw) < low or (
            high is not None and int(raw) > high):
        bounds = f"{low} to {high}" if high is not None else f"{low} or more"
        raise BadRequestError(f"?{name} is an integer, {bounds}; got {brief(raw)}")
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


# --------------------------------------------------------------------------- declared once, read and documented
@dataclass(frozen=True)
class Query:
    """A query parameter: views read it with `read`, the OpenAPI document describes it with `openapi`."""

    name: str
    description: str

    def schema(self) -> dict[str, Any]:
        return {"type": "string"}

    def openapi(self) -> dict[str, Any]:
        return {"name": self.name, "in": "query", "required": False, "description": self.description,
                "schema": self.schema()}

    def read(self, query: Mapping[str, str]) -> Any:
        return query.get(self.name)


@dataclass(frozen=True)
class Flag(Query):
    def schema(self) -> dict[str, Any]:
        return {"type": "string", "enum": [*TRUE, *FALSE], "default": "false"}

    def read(self, query: Mapping[str, str]) -> bool:
        return flag(query, self.name)


@dataclass(frozen=True)
class Integer(Query):
    default: int = 0
    low: int = 0
    high: int | None = None

    def schema(self) -> dict[str, Any]:
        bounds = {"maximum": self.high} if self.high is not None else {}
        return {"type": "integer", "minimum": self.low, "default": self.default, **bounds}

    def read(self, query: Mapping[str, str]) -> int:
        return integer(query, self.name, self.default, self.low, self.high)


@dataclass(frozen=True)
class Seconds(Query):
    most: float = 30.0

    def schema(self) -> dict[str, Any]:
        return {"type": "number", "minimum": 0, "description": f"more than {self.most:g} counts as {self.most:g}"}

    def read(self, query: Mapping[str, str]) -> float:
        return seconds(query, self.name, self.most)


@dataclass(frozen=True)
class Choice(Query):
    choices: tuple[str, ...] = ()

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "enum": list(self.choices)}

    def read(self, query: Mapping[str, str]) -> str | None:
        raw = query.get(self.name)
        if raw is not None and raw not in self.choices:
            raise BadRequestError(f"?{self.name} is one of {', '.join(self.choices)}; got {raw!r}")
        return raw
