"""A by-reference chunk in a worker: its rows read straight from storage and validated as a body's would be,
and its results written back as a Parquet part."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from shared.errors import ChunkFailedError, PredqError
from shared.job import Job
from shared.parsing.columns import RowSpec
from shared.parsing.parquet import BATCH_ROWS, parquet_arrays
from shared.parsing.parquet_typed import parquet_tables
from shared.parsing.submission import is_typed, row_blocks
from shared.registry import ModelEntry, ModelRegistry, job_entry
from shared.storage import parts
from shared.storage.locations import StoragePolicy, storage_reason
from shared.store import as_table


class StoredChunks:
    """Reads jobs' inputs from, and writes their results to, the storage their URIs name."""

    def __init__(self, policy: StoragePolicy, registry: ModelRegistry, max_string_bytes: int) -> None:
        self.policy = policy
        self.registry = registry
        self.max_string_bytes = max_string_bytes

    def read_input(self, job: Job, index: int, segment: dict[str, Any]) -> pa.Table:
        """The chunk's rows, validated; ChunkFailedError naming rows of the whole input when they do not fit."""
        assert job.source is not None
        entry = job_entry(self.registry, job.model)
        # The body's own choice of extra_columns: the same validation path as the rows posted as a body.
        spec = RowSpec(entry.schema, tuple(job.passthrough), bool(job.source.get("ignore_extra")),
                       self.max_string_bytes)
        first, stop = job.chunk_bounds(index)
        try:
            blocks = self._blocks(job.source, segment, entry, spec, stop - first)
            tables = [as_table(X, list(entry.features)) for X in blocks]
        except PredqError as exc:
            raise ChunkFailedError(_shifted(exc, first)) from None
        except (OSError, pa.ArrowException) as exc:
            raise ChunkFailedError("its input could not be read from storage: "
                                   f"{storage_reason(exc, job.source['files'][segment['f']])}") from exc
        table = pa.concat_tables(tables) if len(tables) != 1 else tables[0]
        if table.num_rows != stop - first:  # a line break inside a CSV field, or a file changed since
            raise ChunkFailedError(f"{table.num_rows} rows were read where the input held {stop - first} when the "
                                   "job was accepted (did the file change, or does a CSV field hold a line break?)")
        return table

    def _blocks(self, source: dict[str, Any], segment: dict[str, Any], entry: ModelEntry, spec: RowSpec,
                segment_rows: int) -> Iterator[np.ndarray | pa.Table]:
        fs = self.policy.filesystem(source["uri"])
        path = source["files"][segment["f"]]
        if source["format"] == "parquet":
            typed = is_typed(entry, spec)
            with fs.open_input_file(path) as handle:
                first, last = segment["g"]
                columns = spec.columns if typed else list(entry.features)
                table = pq.ParquetFile(handle).read_row_groups(range(first, last + 1), columns=columns)
            batches = table.slice(segment["skip"], segment["take"]).to_batches(BATCH_ROWS)
            if typed:
                return parquet_tables(batches, spec)
            return parquet_arrays(batches, entry.features, entry.handles_missing)
        start, stop = segment["b"]
        with fs.open_input_file(path) as handle:
            data = handle.read_at(stop - start, start)
        if source["format"] == "csv":
            data = source["header"].encode() + b"\n" + data
        return row_blocks(source["format"], io.BytesIO(data), entry, spec, segment_rows)

    def write_part(self, job: Job, index: int, table: pa.Table) -> None:
        assert job.output is not None
        parts.write_part(self.policy.filesystem(job.output["uri"]), job.output["path"], index, table)

    def read(self, job: Job, index: int) -> pa.Table | None:
        assert job.output is not None
        return parts.read_part(self.policy.filesystem(job.output["uri"]), job.output["path"], index)

    def write_manifest(self, job: Job, resource: dict[str, Any]) -> None:
        assert job.output is not None
        rows = [stop - start for start, stop in (job.chunk_bounds(i) for i in range(job.chunks_total))]
        parts.write_manifest(self.policy.filesystem(job.output["uri"]), job.output["path"], resource, rows)

    def withdraw_manifest(self, job: Job) -> None:
        """The job ended otherwise (cancelled) while its manifest was written: no manifest for it."""
        assert job.output is not None
        parts.remove_manifest(self.policy.filesystem(job.output["uri"]), job.output["path"])


def _shifted(exc: PredqError, first: int) -> str:
    """A validation problem of a chunk, its rows counted from the start of the whole input."""
    errors = getattr(exc, "errors", None) or []
    shown = [f"row {e.row + first if e.row is not None else '?'}"
             + (f", column {e.column}" if e.column else "") + f": {e.message}" for e in errors[:5]]
    return exc.detail + (" (" + "; ".join(shown) + ")" if shown else "")
