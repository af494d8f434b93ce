"""Chunk size that fits the model: measured seconds per row, a target chunk duration, bounds."""

from __future__ import annotations

import fakeredis
import pytest

from shared.settings import Settings
from shared.sizing import ChunkSizer
from tests.unit.conftest import StackFactory
from tests.unit.helpers import iris_rows

MODEL = {"name": "bench-logreg", "version": "1", "sha256": "ab" * 32}


def _sizer(**env: str) -> ChunkSizer:
    settings = Settings.from_env({"CHUNK_ROWS": "10000", "TARGET_CHUNK_SECONDS": "0.25", **env})
    return ChunkSizer(fakeredis.FakeRedis(server=fakeredis.FakeServer()), settings)


def test_an_unmeasured_model_gets_chunk_rows() -> None:
    assert _sizer().rows_for(MODEL, 20) == 10_000


def test_a_measured_model_gets_chunks_of_the_target_duration() -> None:
    sizer = _sizer()
    sizer.observe(MODEL, seconds=0.5, rows=10_000)  # 50 µs a row: 0.25 s is 5,000 rows
    assert sizer.rows_for(MODEL, 20) == 5_000


@pytest.mark.parametrize(("seconds_per_row", "columns", "rows"), [
    (1e-9, 20, 104_857),   # cheap model, wide rows: MAX_CHUNK_BYTES (16 MiB of 8-byte cells) bounds it
    (1e-9, 2, 200_000),    # cheap and narrow: CHUNK_ROWS_MAX
    (1.0, 20, 1_000),      # a second a row: CHUNK_ROWS_MIN
])
def test_sized_chunks_stay_within_their_bounds(seconds_per_row: float, columns: int, rows: int) -> None:
    sizer = _sizer()
    sizer.observe(MODEL, seconds=seconds_per_row * 1000, rows=1000)
    assert sizer.rows_for(MODEL, columns) == rows


def test_the_cost_is_a_moving_average_of_chunks() -> None:
    sizer = _sizer()
    sizer.observe(MODEL, seconds=1.0, rows=10_000)   # 100 µs a row
    sizer.observe(MODEL, seconds=0.0, rows=10_000)   # then a free chunk moves it by a fifth
    assert sizer.rows_for(MODEL, 20) == int(0.25 / 80e-6)


def test_target_zero_always_uses_chunk_rows() -> None:
    sizer = _sizer(TARGET_CHUNK_SECONDS="0")
    sizer.observe(MODEL, seconds=0.5, rows=10_000)
    assert sizer.rows_for(MODEL, 20) == 10_000


def test_a_second_job_of_a_measured_model_reports_its_sized_chunks(make_stack: StackFactory) -> None:
    stack = make_stack({"TARGET_CHUNK_SECONDS": "1000", "CHUNK_ROWS_MIN": "3", "CHUNK_ROWS_MAX": "7"})
    first = stack.client.post("/jobs", json={"instances": iris_rows(10)}).get_json()
    stack.run()  # scored: the workers measured iris; any real cost asks for more rows than the bound allows
    second = stack.client.post("/jobs", json={"instances": iris_rows(10)}).get_json()

    assert first["chunk_rows"] == stack.settings.chunk_rows == 4
    assert second["chunk_rows"] == 7
    assert second["progress"]["chunks_total"] == 2
