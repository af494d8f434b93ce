"""Planning a by-reference input: line-aligned byte ranges for CSV and NDJSON, row-group runs for Parquet."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

from shared.storage import plan
from shared.storage.locations import Location
from shared.storage.plan import line_cuts, plan_parquet


class _Blocks(io.BytesIO):
    """A stream that answers at most `size` bytes per read: line ends fall across block edges."""

    def __init__(self, data: bytes, size: int) -> None:
        super().__init__(data)
        self.size = size

    def read(self, n: int | None = -1) -> bytes:
        return super().read(self.size)


def _cut(data: bytes, chunk_rows: int, header: bool, block: int) -> tuple[str | None, list[bytes]]:
    title, cuts = line_cuts(_Blocks(data, block), chunk_rows, header)
    pieces = [data[start:stop] for start, stop, _ in cuts]
    for (_, _, rows), piece in zip(cuts, pieces, strict=True):
        assert rows == sum(1 for line in piece.split(b"\n") if line.strip(b"\r"))
    return title, pieces


@pytest.mark.parametrize("block", [1, 2, 3, 7, 64, 1 << 20])
def test_line_cuts_give_every_line_once_in_chunks_of_chunk_rows(block: int) -> None:
    lines = [f"{i},{i * 2}".encode() for i in range(23)]
    data = b"a,b\r\n" + b"\n".join(lines) + b"\n"
    header, pieces = _cut(data, 5, True, block)
    assert header == "a,b"
    assert b"".join(pieces) == data[len(b"a,b\r\n"):]
    assert [len([x for x in p.split(b"\n") if x]) for p in pieces] == [5, 5, 5, 5, 3]


@pytest.mark.parametrize("block", [1, 4, 1 << 20])
def test_blank_lines_count_as_no_row_and_a_last_line_without_its_end_counts(block: int) -> None:
    data = b'{"a": 1}\n\n{"a": 2}\r\n\r\n{"a": 3}\n{"a": 4}'
    _, pieces = _cut(data, 2, False, block)
    assert b"".join(pieces) == data
    assert len(pieces) == 2 and pieces[1].endswith(b'{"a": 4}')


def test_a_csv_with_only_a_header_has_no_rows() -> None:
    header, pieces = _cut(b"a,b\n", 10, True, 1 << 20)
    assert header == "a,b" and pieces == []


def test_parquet_chunks_pack_whole_row_groups_and_split_groups_over_the_bound_evenly(tmp_path: Path) -> None:
    table = pa.table({"x": np.arange(1_000, dtype=np.float64)})
    pq.write_table(table.slice(0, 300), tmp_path / "a.parquet", row_group_size=40)  # 8 groups of 40 (one of 20)
    pq.write_table(table.slice(300), tmp_path / "b.parquet", row_group_size=350)  # two groups of 350, four parts each
    location = Location(f"file://{tmp_path}/", pafs.LocalFileSystem(), str(tmp_path))
    planned = plan_parquet(location, [str(tmp_path / "a.parquet"), str(tmp_path / "b.parquet")], 100, 100)
    assert planned.rows == 1_000
    sizes = np.diff(planned.offsets).tolist()
    assert sizes == [80, 80, 80, 60, 88, 88, 88, 86, 88, 88, 88, 86]
    assert planned.segments[0] == {"f": 0, "g": [0, 1], "skip": 0, "take": 80}
    assert planned.segments[4] == {"f": 1, "g": [0, 0], "skip": 0, "take": 88}


def test_a_folders_format_is_told_from_its_file_names_and_hidden_files_are_skipped(tmp_path: Path) -> None:
    (tmp_path / "x.csv").write_text("a\n1\n")
    (tmp_path / "_SUCCESS").write_text("")
    (tmp_path / ".x.csv.crc").write_text("")
    location = Location(f"file://{tmp_path}/", pafs.LocalFileSystem(), str(tmp_path) + "/")
    fmt, files = plan.input_files(location, None)
    assert fmt == "csv" and files == [str(tmp_path / "x.csv")]


def test_a_group_under_the_split_bound_is_one_chunk_however_big(tmp_path: Path) -> None:
    pq.write_table(pa.table({"x": np.arange(1_000, dtype=np.float64)}), tmp_path / "a.parquet", row_group_size=600)
    location = Location(f"file://{tmp_path}/", pafs.LocalFileSystem(), str(tmp_path))
    planned = plan_parquet(location, [str(tmp_path / "a.parquet")], 100, 1_000)
    assert np.diff(planned.offsets).tolist() == [600, 400]
