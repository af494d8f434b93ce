"""A by-reference job's output: one Parquet file per chunk, then the manifest `_predq.json`, written last.

A part is written whole or not at all (a local file under a temporary name, then renamed; an object store's
upload appears only once complete), under a name that only its chunk index makes: a chunk scored again after
a worker died overwrites its own part, so the manifest names every part exactly once.
"""

from __future__ import annotations

import contextlib
import posixpath
import secrets
from collections.abc import Callable
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

MANIFEST = "_predq.json"
TEMPORARY_PREFIX = "_tmp-"
"""Names readers skip (a leading underscore), for parts still being written."""


def part_name(index: int) -> str:
    return f"part-{index:05d}.parquet"


def part_names(chunks: int) -> list[str]:
    return [part_name(i) for i in range(chunks)]


def write_part(fs: pafs.FileSystem, folder: str, index: int, table: pa.Table) -> None:
    _write_whole(fs, folder, part_name(index), lambda out: pq.write_table(table, out))


def _write_whole(fs: pafs.FileSystem, folder: str, name: str, write: Callable[[pa.NativeFile], None]) -> None:
    """Write `name` so that readers see all of it or nothing."""
    if fs.type_name != "local":  # an object appears only once its upload completes
        with fs.open_output_stream(posixpath.join(folder, name)) as out:
            write(out)
        return
    fs.create_dir(folder, recursive=True)
    temporary = posixpath.join(folder, f"{TEMPORARY_PREFIX}{secrets.token_hex(6)}-{name}")
    with fs.open_output_stream(temporary) as out:
        write(out)
    fs.move(temporary, posixpath.join(folder, name))


def read_part(fs: pafs.FileSystem, folder: str, index: int) -> pa.Table | None:
    path = posixpath.join(folder, part_name(index))
    try:
        with fs.open_input_file(path) as handle:
            return pq.read_table(handle)
    except FileNotFoundError:
        return None


def write_manifest(fs: pafs.FileSystem, folder: str, resource: dict[str, Any], rows: list[int]) -> None:
    """The manifest, once every part is written; leftovers of writes cut short are removed first."""
    if fs.type_name == "local":
        for info in fs.get_file_info(pafs.FileSelector(folder, allow_not_found=True)):
            if posixpath.basename(info.path).startswith(TEMPORARY_PREFIX) and not info.path.endswith(MANIFEST):
                fs.delete_file(info.path)
    files = [{"name": part_name(i), "rows": n} for i, n in enumerate(rows)]
    document = {"job": resource, "rows": sum(rows), "files": files}
    _write_whole(fs, folder, MANIFEST, lambda out: out.write(orjson.dumps(document, option=orjson.OPT_INDENT_2)))


def remove_manifest(fs: pafs.FileSystem, folder: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        fs.delete_file(posixpath.join(folder, MANIFEST))


def holds_files(fs: pafs.FileSystem, folder: str) -> bool:
    """Whether an output folder already holds anything (a new job's output must start empty)."""
    try:
        return any(True for _ in fs.get_file_info(pafs.FileSelector(folder, allow_not_found=True)))
    except NotADirectoryError:
        return True
