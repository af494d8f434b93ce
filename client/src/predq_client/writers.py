"""Result rows written to CSV, NDJSON or Parquet, under a temporary name renamed into place at the end.

The columns follow the service's own CSV form: `prediction`; one column per class for
`predict_proba`; `decision` or `decision_0`, `decision_1`, … for `decision_function`; and for
results with pass-through columns (objects), the object's keys.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Protocol

from predq_client.errors import BodyError

OUTPUT_FORMATS = {".csv": "csv", ".ndjson": "ndjson", ".jsonl": "ndjson", ".parquet": "parquet", ".pq": "parquet"}


class RowWriter(Protocol):
    def write(self, values: list[Any]) -> None: ...

    def close(self) -> None: ...


def output_format(path: Path, format: str | None) -> str:
    """The format to write `path` in: `format`, else the one its extension names."""
    fmt = format or OUTPUT_FORMATS.get(path.suffix.lower())
    if fmt not in ("csv", "ndjson", "parquet"):
        raise BodyError(f"{path}: name the output format (csv, ndjson or parquet); the extension "
                        f"{path.suffix!r} does not say")
    return fmt


@contextlib.contextmanager
def atomic_path(final: Path) -> Iterator[Path]:
    """A temporary path beside `final`, renamed to it when the block succeeds and removed when it does not."""
    fd, name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".partial", dir=final.parent or Path("."))
    os.close(fd)
    temporary = Path(name)
    try:
        yield temporary
        os.replace(temporary, final)
    except BaseException:  # Ctrl-C included: no partial file is left under any name
        temporary.unlink(missing_ok=True)
        raise


def columns_for(method: str, classes: list[Any] | None, first: Any) -> list[str]:
    """The column names of one result value, as the service's CSV header names them."""
    if isinstance(first, dict):
        return [str(key) for key in first]
    if method == "predict_proba" and classes:
        return [str(c) for c in classes]
    if method == "decision_function":
        return [f"decision_{i}" for i in range(len(first))] if isinstance(first, list) else ["decision"]
    return [f"value_{i}" for i in range(len(first))] if isinstance(first, list) else ["prediction"]


def record(value: Any, columns: list[str]) -> list[Any]:
    if isinstance(value, dict):
        return [value.get(column) for column in columns]
    return list(value) if isinstance(value, list) else [value]


class CsvWriter:
    def __init__(self, file: IO[str], columns: list[str]) -> None:
        self.file, self.columns = file, columns
        self.csv = csv.writer(file, lineterminator="\n")
        self.csv.writerow(columns)

    def write(self, values: list[Any]) -> None:
        self.csv.writerows(record(value, self.columns) for value in values)

    def close(self) -> None:
        self.file.close()


class NdjsonWriter:
    """One JSON value per line, as the service's own NDJSON results."""

    def __init__(self, file: IO[str]) -> None:
        self.file = file

    def write(self, values: list[Any]) -> None:
        self.file.writelines(json.dumps(value, separators=(",", ":")) + "\n" for value in values)

    def close(self) -> None:
        self.file.close()


class ParquetWriter:
    """One row group per page of results; the column types are those of the first page."""

    def __init__(self, path: Path, columns: list[str]) -> None:
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise BodyError("writing Parquet needs pyarrow: pip install 'predq-client[parquet]'") from None
        self.path, self.columns = path, columns
        self.writer: Any = None

    def write(self, values: list[Any]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        records = [record(value, self.columns) for value in values]
        table = pa.table({name: [r[i] for r in records] for i, name in enumerate(self.columns)})
        if self.writer is None:
            self.writer = pq.ParquetWriter(str(self.path), table.schema)
        self.writer.write_table(table.cast(self.writer.schema))

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def open_writer(path: Path, fmt: str, columns: list[str]) -> RowWriter:
    if fmt == "parquet":
        return ParquetWriter(path, columns)
    file = path.open("w", encoding="utf-8", newline="")
    return CsvWriter(file, columns) if fmt == "csv" else NdjsonWriter(file)
