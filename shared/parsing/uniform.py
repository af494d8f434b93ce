"""One column type per job: later blocks of a streamed body take the types of the first."""

from __future__ import annotations

import pyarrow as pa

from shared.parsing.rows import ErrorCollector


class Uniform:
    """Casts each table to the first one's schema; pass-through values inferred per block may differ
    (integers, then floats), while chunks and Parquet results need one type per column."""

    def __init__(self, errors: ErrorCollector) -> None:
        self.errors = errors
        self.schema: pa.Schema | None = None

    def fit(self, table: pa.Table) -> pa.Table:
        if self.schema is None or table.schema.equals(self.schema):
            self.schema = self.schema or table.schema
            return table
        try:
            return table.cast(self.schema)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            changed = [f.name for f, g in zip(table.schema, self.schema, strict=True) if f.type != g.type]
            for name in changed:
                self.errors.add("pass-through values change type from earlier rows; send one type per column",
                                column=name)
            return table
