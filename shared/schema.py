"""A model's input schema: each column's name, type (number, integer, boolean, string) and nullability."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

TYPES = ("number", "integer", "boolean", "string")
"""The column types a schema may name, as the HTTP contract spells them."""

ARROW_TYPES = {"number": pa.float64(), "integer": pa.int64(), "boolean": pa.bool_(), "string": pa.string()}
"""How each type is held in chunks (and parsed from CSV and Parquet)."""


class SchemaError(ValueError):
    """A descriptor's schema that cannot be used."""


@dataclass(frozen=True)
class Column:
    """One input column of a model."""

    name: str
    type: str
    nullable: bool

    def to_public(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "nullable": self.nullable}

    @property
    def arrow_type(self) -> pa.DataType:
        return ARROW_TYPES[self.type]


Schema = tuple[Column, ...]


def numeric_schema(features: Iterable[str], handles_missing: bool) -> Schema:
    """The all-`number` schema of a model fitted on a plain array (and of descriptors written before schemas)."""
    return tuple(Column(name, "number", handles_missing) for name in features)


def parse_schema(raw: Any, features: Sequence[str]) -> Schema:
    """A descriptor's `schema` list; it must name the descriptor's features, in order."""
    if not isinstance(raw, list):
        raise SchemaError("schema is a list of {name, type, nullable}")
    columns = []
    for item in raw:
        if not isinstance(item, dict) or item.get("type") not in TYPES or not isinstance(item.get("name"), str):
            raise SchemaError(f"schema entry {item!r} needs a name and a type in {', '.join(TYPES)}")
        columns.append(Column(item["name"], item["type"], bool(item.get("nullable", False))))
    if [c.name for c in columns] != list(features):
        raise SchemaError("the schema's column names differ from the descriptor's features")
    return tuple(columns)


def is_all_number(schema: Schema) -> bool:
    """True when every column is a number: such batches take the float64 array fast path."""
    return all(column.type == "number" for column in schema)


def arrow_schema(schema: Schema) -> pa.Schema:
    return pa.schema([pa.field(c.name, c.arrow_type, nullable=c.nullable) for c in schema])


def infer_schema(dtypes: Sequence[tuple[str, Any]], nullable: Iterable[str] = ()) -> Schema:
    """A schema from (column, pandas/numpy dtype) pairs, as a fitted DataFrame or a sample has them."""
    may_be_null = set(nullable)
    return tuple(Column(name, type_of_dtype(dtype), name in may_be_null) for name, dtype in dtypes)


def type_of_dtype(dtype: Any) -> str:
    """The schema type a pandas or numpy dtype stands for; anything not numeric or boolean is a string."""
    kind = getattr(dtype, "kind", "O")
    name = str(dtype).lower()
    if kind == "b" or name == "boolean":
        return "boolean"
    if kind in "iu" or name.startswith(("int", "uint")):
        return "integer"
    if kind == "f" or name.startswith("float"):
        return "number"
    return "string"
