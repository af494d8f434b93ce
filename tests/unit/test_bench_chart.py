"""scripts/bench_chart.py: make bench's figures drawn as a PNG."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from scripts import bench_chart
from shared.settings import REPO_ROOT

FIGURES = json.loads((REPO_ROOT / "docs" / "benchmarks-2026-11-26.json").read_text())


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


def test_the_chart_of_every_model_and_format_is_a_png(tmp_path: Path) -> None:
    path = bench_chart.write_chart(FIGURES, tmp_path / "chart" / "bench.png")
    width, height = png_size(path)
    assert width > height > 300


def test_a_chart_needs_figures(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"no model\.format figures"):
        bench_chart.write_chart({"rows": 1}, tmp_path / "bench.png")


def test_the_command_line_reads_bench_json_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "figures.json"
    source.write_text(json.dumps({k: v for k, v in FIGURES.items() if not k.startswith("bench-forest")}))
    assert bench_chart.main([str(source), str(tmp_path / "out.png")]) == 0
    assert capsys.readouterr().out.strip().endswith("out.png")
    png_size(tmp_path / "out.png")
