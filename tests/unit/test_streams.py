"""Streamed bodies: blocks of whole lines, and CSV, NDJSON and Parquet parsed a block at a time."""

from __future__ import annotations

import hashlib
import io
import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from shared.errors import BadRequestError, PayloadTooLargeError, PredqError, UnprocessableError
from shared.parsing.csv_stream import iter_csv
from shared.parsing.ndjson_stream import iter_ndjson
from shared.parsing.parquet import iter_parquet
from shared.parsing.streams import LimitedReader, line_blocks, utf8
from tests.unit.helpers import IRIS_FEATURES, as_objects, iris_rows, to_csv, to_ndjson

ROWS = iris_rows(40)
BLOCK_SIZES = [1 << 22, 64, 7]
"""The real block size, and blocks small enough that a body spans many of them."""

# ---------------------------------------------------------------- blocks of lines


@pytest.mark.parametrize("size", [1, 3, 10, 1000])
def test_line_blocks_cut_at_line_ends_and_number_their_first_line(size: int) -> None:
    body = b"a,b\n1,2\n\n3,4\n5,6"
    blocks = list(line_blocks(io.BytesIO(body), size))
    assert b"".join(b for _, b in blocks) == body + b"\n"
    lines_before = 0
    for first_line, block in blocks:
        assert block.endswith(b"\n")
        assert first_line == lines_before + 1
        lines_before += block.count(b"\n")


def test_line_blocks_of_an_empty_body_are_none() -> None:
    assert list(line_blocks(io.BytesIO(b""), 16)) == []
    assert list(line_blocks(io.BytesIO(b"  "), 16)) == []


def test_limited_reader_hashes_what_it_reads() -> None:
    reader = LimitedReader(io.BytesIO(b"x" * 3000), 5000)
    assert reader.read(1000) == b"x" * 1000
    reader.drain()
    assert reader.read_bytes == 3000
    assert reader.digest.digest() == hashlib.sha256(b"x" * 3000).digest()


def test_limited_reader_refuses_to_read_past_its_limit() -> None:
    reader = LimitedReader(io.BytesIO(b"x" * 3000), 2999)
    with pytest.raises(PayloadTooLargeError, match="MAX_BODY_BYTES"):
        reader.drain()


def test_utf8_names_the_line_that_is_not_utf8() -> None:
    assert utf8("é\n".encode(), 1) == "é\n"
    with pytest.raises(BadRequestError, match="line 12"):
        utf8(b"ok\nok\n\xff\n", 10)


# ---------------------------------------------------------------- CSV


def csv_array(body: bytes, size: int, handles_missing: bool = False) -> np.ndarray:
    blocks = list(iter_csv(io.BytesIO(body), IRIS_FEATURES, handles_missing, block_bytes=size))
    return np.concatenate(blocks) if blocks else np.empty((0, 4))


def refusal(make: Callable[[], Iterator[np.ndarray]]) -> PredqError:
    with pytest.raises(PredqError) as caught:
        list(make())
    return caught.value


def cells(error: PredqError) -> list[tuple[Any, Any]]:
    return [(e.get("row"), e.get("column")) for e in error.to_problem().get("errors", [])]


@pytest.mark.parametrize("size", BLOCK_SIZES)
def test_csv_rows_read_back_in_order_whatever_the_block_size(size: int) -> None:
    np.testing.assert_array_equal(csv_array(to_csv(ROWS, IRIS_FEATURES), size), np.asarray(ROWS))


@pytest.mark.parametrize("size", BLOCK_SIZES)
def test_csv_header_order_is_by_name(size: int) -> None:
    names = ["petal_width", "sepal_width", "sepal_length", "petal_length"]
    body = to_csv([[r[IRIS_FEATURES.index(n)] for n in names] for r in ROWS], names)
    np.testing.assert_array_equal(csv_array(body, size), np.asarray(ROWS))


@pytest.mark.parametrize("start", ["\ufeff", "\r\n\r\n"], ids=["byte-order-mark", "blank-lines"])
def test_csv_with_crlf_and_what_may_come_before_the_header(start: str) -> None:
    body = (start + ",".join(IRIS_FEATURES) + "\r\n5.1,3.5,1.4,0.2\r\n\r\n4.9,3.0,1.4,0.2\r\n").encode()
    np.testing.assert_array_equal(csv_array(body, 1 << 20), [[5.1, 3.5, 1.4, 0.2], [4.9, 3.0, 1.4, 0.2]])


def test_csv_cells_with_spaces_and_quotes_are_numbers() -> None:
    body = (",".join(IRIS_FEATURES) + '\n 5.1 ,"3.5", +1.4,.2\n').encode()
    np.testing.assert_array_equal(csv_array(body, 1 << 20), [[5.1, 3.5, 1.4, 0.2]])


@pytest.mark.parametrize("size", BLOCK_SIZES)
def test_csv_empty_cell_is_missing_for_a_model_that_handles_them(size: int) -> None:
    body = to_csv([[5.1, None, 1.4, 0.2], *ROWS[:5], [None, 1.0, 2.0, None]], IRIS_FEATURES)
    out = csv_array(body, size, handles_missing=True)
    assert math.isnan(out[0, 1]) and math.isnan(out[6, 0]) and math.isnan(out[6, 3])
    assert np.isnan(out).sum() == 3


@pytest.mark.parametrize("size", BLOCK_SIZES)
def test_csv_empty_cell_is_a_422_naming_row_and_column(size: int) -> None:
    rows: list[list[Any]] = [list(r) for r in ROWS]
    rows[17][2] = None
    error = refusal(lambda: iter_csv(io.BytesIO(to_csv(rows, IRIS_FEATURES)), IRIS_FEATURES, False, size))
    assert isinstance(error, UnprocessableError)
    assert cells(error) == [(17, "petal_length")]


@pytest.mark.parametrize("cell", ["abc", "nan", "NaN", "inf", "-inf", "Infinity", "1e309", "true", "1_000", "0x1"])
@pytest.mark.parametrize("size", BLOCK_SIZES)
def test_csv_cell_that_is_not_a_finite_number_is_a_422_naming_row_and_column(cell: str, size: int) -> None:
    body = to_csv(ROWS[:30], IRIS_FEATURES) + f"1.0,2.0,3.0,{cell}\n".encode() + to_csv(ROWS[:5], IRIS_FEATURES)[
        len(",".join(IRIS_FEATURES)) + 1:]
    error = refusal(lambda: iter_csv(io.BytesIO(body), IRIS_FEATURES, True, size))
    assert isinstance(error, UnprocessableError)
    assert cells(error) == [(30, "petal_width")]


@pytest.mark.parametrize("size", BLOCK_SIZES)
def test_csv_bad_cells_in_many_blocks_are_all_found_with_absolute_rows(size: int) -> None:
    rows: list[list[Any]] = [list(r) for r in ROWS]
    for i in (3, 21, 38):
        rows[i][0] = "bad"
    body = to_csv(rows, IRIS_FEATURES).replace(b"'bad'", b"bad")
    error = refusal(lambda: iter_csv(io.BytesIO(body), IRIS_FEATURES, False, size))
    assert cells(error) == [(3, "sepal_length"), (21, "sepal_length"), (38, "sepal_length")]


def test_csv_lists_at_most_100_errors_and_counts_them_all() -> None:
    body = (",".join(IRIS_FEATURES) + "\n" + "x,y,1,2\n" * 150).encode()
    error = refusal(lambda: iter_csv(io.BytesIO(body), IRIS_FEATURES, False))
    assert len(cells(error)) == 100
    assert "300" in error.detail


@pytest.mark.parametrize("size", BLOCK_SIZES)
@pytest.mark.parametrize("extra", ["1.0,2.0", "1.0,2.0,3.0,4.0,5.0"], ids=["short", "long"])
def test_csv_ragged_row_is_a_400_naming_its_line(size: int, extra: str) -> None:
    body = to_csv(ROWS[:25], IRIS_FEATURES) + extra.encode() + b"\n" + b"1,2,3,4\n"
    error = refusal(lambda: iter_csv(io.BytesIO(body), IRIS_FEATURES, False, size))
    assert isinstance(error, BadRequestError)
    assert "line 27" in error.detail


def test_csv_ragged_line_number_counts_blank_lines() -> None:
    body = (",".join(IRIS_FEATURES) + "\n\n1,2,3,4\n\n1,2\n").encode()
    error = refusal(lambda: iter_csv(io.BytesIO(body), IRIS_FEATURES, False))
    assert "line 5" in error.detail


@pytest.mark.parametrize("size", BLOCK_SIZES)
def test_csv_that_is_not_utf8_is_a_400(size: int) -> None:
    body = to_csv(ROWS[:20], IRIS_FEATURES) + b"1,2,3,\xe9\n"
    error = refusal(lambda: iter_csv(io.BytesIO(body), IRIS_FEATURES, False, size))
    assert isinstance(error, BadRequestError)
    assert "UTF-8" in error.detail


def test_csv_not_utf8_right_after_the_header_names_its_line() -> None:
    body = (",".join(IRIS_FEATURES) + "\n5.1,3.5,1.4,0.2\n").encode() + b"1,2,3,\xe9\n"
    error = refusal(lambda: iter_csv(io.BytesIO(body), IRIS_FEATURES, False))
    assert isinstance(error, BadRequestError)
    assert error.detail == "line 3 is not UTF-8"
    header = b"sepal_length,\xe9\n"
    assert refusal(lambda: iter_csv(io.BytesIO(header), IRIS_FEATURES, False)).detail == "line 1 is not UTF-8"


def test_csv_header_ended_by_a_bare_carriage_return() -> None:
    body = (",".join(IRIS_FEATURES) + "\r5.1,3.5,1.4,0.2\n4.9,3.0,1.4,0.2\n").encode()
    np.testing.assert_array_equal(csv_array(body, 1 << 20), [[5.1, 3.5, 1.4, 0.2], [4.9, 3.0, 1.4, 0.2]])


@pytest.mark.parametrize("body", [b"", b"\n\n", b"  \n"])
def test_an_empty_csv_is_a_400(body: bytes) -> None:
    assert isinstance(refusal(lambda: iter_csv(io.BytesIO(body), IRIS_FEATURES, False)), BadRequestError)


def test_a_header_only_csv_has_no_rows() -> None:
    assert csv_array((",".join(IRIS_FEATURES) + "\n").encode(), 1 << 20).shape == (0, 4)


def test_csv_header_naming_an_unknown_feature_is_a_422() -> None:
    body = b"sepal_length,sepal_width,petal_length,petal_width,colour\n1,2,3,4,5\n"
    error = refusal(lambda: iter_csv(io.BytesIO(body), IRIS_FEATURES, False))
    assert isinstance(error, UnprocessableError)
    assert cells(error) == [(None, "colour")]


# ---------------------------------------------------------------- NDJSON


def ndjson_array(body: bytes, size: int, handles_missing: bool = False) -> np.ndarray:
    return np.concatenate(list(iter_ndjson(io.BytesIO(body), IRIS_FEATURES, handles_missing, block_bytes=size)))


@pytest.mark.parametrize("size", BLOCK_SIZES)
@pytest.mark.parametrize("form", ["arrays", "objects"])
def test_ndjson_rows_read_back_in_order_whatever_the_block_size(size: int, form: str) -> None:
    lines: list[Any] = ROWS if form == "arrays" else as_objects(ROWS, IRIS_FEATURES, reverse_keys=True)
    np.testing.assert_array_equal(ndjson_array(to_ndjson(lines), size), np.asarray(ROWS))


def test_ndjson_skips_blank_lines_and_takes_a_last_line_without_newline() -> None:
    body = b"\n[5.1, 3.5, 1.4, 0.2]\r\n\n  \n[4.9, 3.0, 1.4, 0.2]"
    np.testing.assert_array_equal(ndjson_array(body, 1 << 20), [[5.1, 3.5, 1.4, 0.2], [4.9, 3.0, 1.4, 0.2]])


@pytest.mark.parametrize("size", BLOCK_SIZES)
def test_ndjson_bad_line_is_a_400_naming_the_line(size: int) -> None:
    body = to_ndjson(ROWS[:12]) + b"\n[1.0, 2.0,, 3.0]\n" + to_ndjson(ROWS[:3])
    error = refusal(lambda: iter_ndjson(io.BytesIO(body), IRIS_FEATURES, False, size))
    assert isinstance(error, BadRequestError)
    assert "line 14" in error.detail


@pytest.mark.parametrize("body", [b"[5.1, 3.5\n1.4, 0.2]\n", b"[5.1, 3.5, 1.4, 0.2], [4.9, 3.0, 1.4, 0.2]\n",
                                  b'{"sepal_length": 5.1, "sepal_width": 3.5\n"petal_length": 1.4, '
                                  b'"petal_width": 0.2}\n'],
                         ids=["row-over-two-lines", "two-rows-on-one-line", "object-over-two-lines"])
def test_ndjson_lines_that_are_not_json_values_are_a_400(body: bytes) -> None:
    error = refusal(lambda: iter_ndjson(io.BytesIO(body), IRIS_FEATURES, False))
    assert isinstance(error, BadRequestError)
    assert "line 1" in error.detail


@pytest.mark.parametrize("size", BLOCK_SIZES)
def test_ndjson_bad_cells_are_422s_with_absolute_rows(size: int) -> None:
    lines: list[Any] = [list(r) for r in ROWS]
    lines[5][1] = "3.5"
    lines[33][3] = None
    error = refusal(lambda: iter_ndjson(io.BytesIO(to_ndjson(lines)), IRIS_FEATURES, False, size))
    assert isinstance(error, UnprocessableError)
    assert cells(error) == [(5, "sepal_width"), (33, "petal_width")]


@pytest.mark.parametrize("size", BLOCK_SIZES)
def test_ndjson_non_finite_literals_are_422s(size: int) -> None:
    body = to_ndjson(ROWS[:20]) + b"[NaN, 1, 2, 3]\n[1, Infinity, 2, 3]\n[1, 2, 1e309, 3]\n"
    error = refusal(lambda: iter_ndjson(io.BytesIO(body), IRIS_FEATURES, True, size))
    assert cells(error) == [(20, "sepal_length"), (21, "sepal_width"), (22, "petal_length")]


def test_ndjson_null_is_missing_for_a_model_that_handles_them() -> None:
    out = ndjson_array(b"[null, 1, 2, 3]\n" + to_ndjson(ROWS[:2]), 1 << 20, handles_missing=True)
    assert math.isnan(out[0, 0])
    assert np.isfinite(out[1:]).all()


@pytest.mark.parametrize("size", BLOCK_SIZES)
def test_ndjson_mixing_arrays_and_objects_is_a_400(size: int) -> None:
    body = to_ndjson(ROWS[:20]) + to_ndjson(as_objects(ROWS[:20], IRIS_FEATURES))
    assert isinstance(refusal(lambda: iter_ndjson(io.BytesIO(body), IRIS_FEATURES, False, size)), BadRequestError)


def test_ndjson_row_that_is_neither_array_nor_object_is_a_400() -> None:
    body = to_ndjson(ROWS[:3]) + b'"5.1,3.5,1.4,0.2"\n'
    assert isinstance(refusal(lambda: iter_ndjson(io.BytesIO(body), IRIS_FEATURES, False)), BadRequestError)


def test_ndjson_row_that_is_neither_names_its_absolute_row() -> None:
    body = to_ndjson(ROWS[:30]) + b"7\n"
    error = refusal(lambda: iter_ndjson(io.BytesIO(body), IRIS_FEATURES, False, 64))
    assert cells(error) == [(30, None)]


def test_ndjson_not_utf8_is_a_400() -> None:
    body = to_ndjson(ROWS[:2]) + b'["\xff", 1, 2, 3]\n'
    error = refusal(lambda: iter_ndjson(io.BytesIO(body), IRIS_FEATURES, False))
    assert isinstance(error, BadRequestError)
    assert "line 3" in error.detail


# ---------------------------------------------------------------- Parquet


def parquet(columns: dict[str, Any]) -> io.BytesIO:
    buffer = io.BytesIO()
    pq.write_table(pa.table(columns), buffer)
    buffer.seek(0)
    return buffer


def iris_columns(rows: list[list[float]]) -> dict[str, Any]:
    return {name: [r[j] for r in rows] for j, name in enumerate(IRIS_FEATURES)}


def test_parquet_columns_are_read_by_name() -> None:
    columns = iris_columns(ROWS)
    shuffled = {name: columns[name] for name in reversed(IRIS_FEATURES)}
    out = np.concatenate(list(iter_parquet(parquet(shuffled), IRIS_FEATURES, False)))
    np.testing.assert_array_equal(out, np.asarray(ROWS))


def test_parquet_integer_columns_are_numbers() -> None:
    columns: dict[str, Any] = {name: pa.array([1, 2], pa.int32()) for name in IRIS_FEATURES}
    out = np.concatenate(list(iter_parquet(parquet(columns), IRIS_FEATURES, False)))
    np.testing.assert_array_equal(out, [[1, 1, 1, 1], [2, 2, 2, 2]])


def test_parquet_null_is_missing_only_for_a_model_that_handles_them() -> None:
    columns = iris_columns(ROWS[:4])
    columns["sepal_width"] = [1.0, None, 2.0, 3.0]
    out = np.concatenate(list(iter_parquet(parquet(columns), IRIS_FEATURES, True)))
    assert math.isnan(out[1, 1])
    error = refusal(lambda: iter_parquet(parquet(columns), IRIS_FEATURES, False))
    assert cells(error) == [(1, "sepal_width")]


def test_parquet_non_finite_value_is_a_422() -> None:
    columns = iris_columns(ROWS[:4])
    columns["petal_width"] = [1.0, 2.0, float("inf"), float("nan")]
    error = refusal(lambda: iter_parquet(parquet(columns), IRIS_FEATURES, True))
    assert cells(error) == [(2, "petal_width"), (3, "petal_width")]


@pytest.mark.parametrize("change", ["unknown", "missing", "strings", "booleans"])
def test_parquet_columns_that_do_not_fit_are_422s_naming_them(change: str) -> None:
    columns: dict[str, Any] = iris_columns(ROWS[:2])
    expected = {"unknown": "colour", "missing": "petal_width", "strings": "sepal_length",
                "booleans": "sepal_width"}[change]
    if change == "unknown":
        columns["colour"] = [1.0, 2.0]
    elif change == "missing":
        del columns["petal_width"]
    elif change == "strings":
        columns["sepal_length"] = ["5.1", "4.9"]
    else:
        columns["sepal_width"] = [True, False]
    error = refusal(lambda: iter_parquet(parquet(columns), IRIS_FEATURES, False))
    assert isinstance(error, UnprocessableError)
    assert cells(error) == [(None, expected)]


def test_a_body_that_is_not_parquet_is_a_400() -> None:
    assert isinstance(refusal(lambda: iter_parquet(io.BytesIO(b"PAR1 not really"), IRIS_FEATURES, False)),
                      BadRequestError)

