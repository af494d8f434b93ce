"""The parser pieces that refuse bombs: each bound holds by construction, checked by counting operations or
by what is (not) called, never by the clock. tests/integration/test_bombs.py sends the same bombs over HTTP."""

from __future__ import annotations

import io
import math
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from shared.errors import BadRequestError, PayloadTooLargeError, UnprocessableError, brief
from shared.parsing import parquet_file
from shared.parsing.bodies import check_header, header_order, load_json
from shared.parsing.columns import MAX_BODY_COLUMNS, RowSpec
from shared.parsing.csv_stream import csv_rows, read_header
from shared.parsing.csv_typed import _convert
from shared.parsing.csv_typed import check_typed_header as check_typed_header
from shared.parsing.parquet_file import MAX_FOOTER_BYTES, open_parquet, read_batches
from shared.parsing.streams import line_blocks
from shared.parsing.submission import _metadata, _passthrough, parse_version
from shared.registry import ModelRegistry
from shared.schema import Column

# ----------------------------------------------------------------------------------------------- JSON


def test_nesting_past_orjsons_limit_is_a_400_not_a_recursion_error() -> None:
    for body in (b"[" * 100_000 + b"]" * 100_000, b"[" * 100_000, b'{"a":' * 50_000):
        with pytest.raises(BadRequestError, match="deeper than"):
            load_json(body)


def test_integers_beyond_64_bits_read_as_floats_as_orjson_reads_them() -> None:
    # 100,000 digits: int() would refuse past 4,300 (a 500) and is quadratic below; a float is read in one pass.
    doc = load_json(b"[NaN, " + b"9" * 100_000 + b", 18446744073709551615, -9223372036854775808, "
                    + b"18446744073709551616, " + b"1" * 25 + b"]")
    assert math.isnan(doc[0]) and doc[1] == math.inf
    assert doc[2] == 2**64 - 1 and type(doc[2]) is int and doc[3] == -(2**63) and type(doc[3]) is int
    assert type(doc[4]) is float and doc[5] == float("1" * 25)


def test_a_lone_surrogate_is_a_400_and_a_pair_is_text() -> None:
    with pytest.raises(BadRequestError, match="lone surrogate"):
        load_json(b'{"a": ["\\udc00"]}')
    with pytest.raises(BadRequestError, match="lone surrogate"):
        load_json(b'{"\\ud800": 1}')
    assert load_json(b'["\\ud83d\\ude00", NaN]')[0] == "\U0001f600"


def test_brief_quotes_any_client_value_in_a_few_characters() -> None:
    nested: list[Any] = []
    for _ in range(5_000):  # repr() of this would overflow the stack
        nested = [nested]
    assert brief(nested) == "an array of 1 items"
    assert len(brief("x" * 10_000_000)) <= 60 and len(brief(10**5000)) <= 60
    assert brief("\ud800") == "'\\ud800'"  # escaped: orjson can write the detail


@pytest.mark.parametrize(("metadata", "error", "phrase"), [
    ({"a": 2**64}, UnprocessableError, "integer beyond 64 bits"),
    ({"a": "\udfff"}, UnprocessableError, "lone surrogate"),
    ({"a": math.nan}, UnprocessableError, "not finite"),
    ({"a": list(range(2_000))}, UnprocessableError, "bytes in compact JSON"),
    ([1], BadRequestError, "is a JSON object"),
])
def test_metadata_the_job_store_could_not_write_is_refused_at_once(metadata: Any, error: type[Exception],
                                                                   phrase: str) -> None:
    with pytest.raises(error, match=phrase):
        _metadata(metadata)


def test_metadata_deeper_than_the_store_writes_is_a_422_naming_the_depth() -> None:
    deep: Any = 1
    for _ in range(300):
        deep = [deep]
    with pytest.raises(UnprocessableError, match="deeper than 254"):
        _metadata({"a": deep})
    assert _metadata({"a": [[[1]]], "b": 2**63}) == {"a": [[[1]]], "b": 2**63}


def test_a_version_of_thousands_of_digits_is_refused_before_int_reads_it() -> None:
    with pytest.raises(BadRequestError, match="positive integer"):
        parse_version("9" * 100_000)  # int() would raise ValueError past 4,300 digits
    assert parse_version("12") == 12


def test_a_typed_csv_integer_of_thousands_of_digits_is_not_an_integer_and_int_never_reads_it() -> None:
    column = Column("n", "integer", False)
    assert _convert("9" * 100_000, column, 1024) is None  # int() would refuse past 4,300 digits: a 500
    assert _convert("9" * 5000 + ".0", column, 1024) is None
    assert _convert("-9223372036854775807", column, 1024) == -(2**63) + 1
    assert _convert("9223372036854775808", column, 1024) is None


# ------------------------------------------------------------------------------- columns: linear checks


class CountedName(str):
    """A column name that counts comparisons: a check linear in the header makes O(n) of them."""

    comparisons = 0

    def __eq__(self, other: object) -> bool:
        CountedName.comparisons += 1
        return str.__eq__(self, other)

    __hash__ = str.__hash__


def _names(n: int) -> list[str]:
    CountedName.comparisons = 0
    return [CountedName(f"c{i}") for i in range(n)]


def test_header_checks_compare_each_name_a_bounded_number_of_times() -> None:
    n = MAX_BODY_COLUMNS // 5
    header = _names(n)
    with pytest.raises(UnprocessableError):
        header_order(header, ["sepal_length", "petal_width"])
    check_typed = RowSpec((Column("c1", "number", False),), ignore_extra=True)
    check_typed_header(header, check_typed)
    assert CountedName.comparisons <= 10 * n  # list.count / list.index per name would make n * n


def test_passthrough_names_are_checked_in_linear_comparisons(registry: ModelRegistry) -> None:
    names = _names(MAX_BODY_COLUMNS)
    assert len(_passthrough(names, registry.get("iris"))) == MAX_BODY_COLUMNS
    assert CountedName.comparisons <= 10 * MAX_BODY_COLUMNS


def test_more_columns_than_the_cap_are_a_422_before_any_check() -> None:
    with pytest.raises(UnprocessableError, match=f"at most {MAX_BODY_COLUMNS}"):
        check_header(["c"] * (MAX_BODY_COLUMNS + 1))
    with pytest.raises(BadRequestError, match="repeats 'c'"):
        check_header(["c"] * MAX_BODY_COLUMNS)


# ------------------------------------------------------------------------------------- CSV and lines


class CountingStream(io.BytesIO):
    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.served = 0

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        self.served += len(data)
        return data


def test_a_line_past_the_cap_is_a_413_after_reading_at_most_the_cap_and_one_block() -> None:
    stream = CountingStream(b"x" * 10_000_000)
    with pytest.raises(PayloadTooLargeError, match="line 1 is longer than 1000 bytes"):
        list(line_blocks(stream, block_bytes=256, max_line_bytes=1000))
    assert stream.served <= 1000 + 256


def test_a_line_that_ends_in_the_next_read_is_measured_whole() -> None:
    with pytest.raises(PayloadTooLargeError, match="line 2"):
        list(line_blocks(io.BytesIO(b"ok\n" + b"x" * 1200 + b"\nok\n"), block_bytes=1000, max_line_bytes=1000))
    blocks = list(line_blocks(io.BytesIO(b"a\n" + b"y" * 900 + b"\nb"), block_bytes=256, max_line_bytes=1000))
    assert b"".join(block for _, block in blocks) == b"a\n" + b"y" * 900 + b"\nb\n"


def test_the_csv_modules_errors_are_400s_in_predqs_words() -> None:
    with pytest.raises(BadRequestError, match="CSV line 2 cannot be read: a field is longer than") as caught:
        list(csv_rows(b"a\n" + b"1" * 200_000 + b"\n", 1))
    assert "field limit" not in caught.value.detail and "_csv" not in caught.value.detail
    with pytest.raises(BadRequestError, match="CSV line 1 \\(the header\\) cannot be read"):
        read_header(iter([(1, b"x" * 200_000 + b"\n")]))


# ------------------------------------------------------------------------------------------- Parquet


def _parquet(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def _no_pyarrow(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_: Any, **__: Any) -> None:
        raise AssertionError("pyarrow was asked to parse a footer that the checks should have refused")

    monkeypatch.setattr(parquet_file.pq, "ParquetFile", refuse)


@pytest.mark.parametrize(("body", "error", "phrase"), [
    (b"PAR1", BadRequestError, "too short"),
    (b"PAR1" + b"\xff" * 100, BadRequestError, "does not start and end with PAR1"),
    (b"PAR1" + bytes(16) + (2**31 - 1).to_bytes(4, "little") + b"PAR1", BadRequestError, "footer claims"),
    (b"PAR1" + bytes(MAX_FOOTER_BYTES + 8) + (MAX_FOOTER_BYTES + 1).to_bytes(4, "little") + b"PAR1",
     PayloadTooLargeError, "footer"),
])
def test_a_footer_out_of_bounds_is_refused_before_pyarrow_reads_it(monkeypatch: pytest.MonkeyPatch, body: bytes,
                                                                   error: type[Exception], phrase: str) -> None:
    _no_pyarrow(monkeypatch)
    with pytest.raises(error, match=phrase):
        open_parquet(io.BytesIO(body))


def test_a_damaged_footer_is_a_400_without_pyarrows_message() -> None:
    with pytest.raises(BadRequestError) as caught:
        open_parquet(io.BytesIO(b"PAR1" + bytes(range(256)) * 4 + (500).to_bytes(4, "little") + b"PAR1"))
    assert "not a readable Parquet file" in caught.value.detail and "Thrift" not in caught.value.detail


def test_the_footers_column_and_row_counts_are_checked_before_any_page_is_read() -> None:
    wide = _parquet(pa.table({f"c{i}": [1.0] for i in range(MAX_BODY_COLUMNS + 1)}))
    with pytest.raises(UnprocessableError, match=f"at most {MAX_BODY_COLUMNS}"):
        open_parquet(io.BytesIO(wide))
    with pytest.raises(PayloadTooLargeError, match="MAX_ROWS"):
        open_parquet(io.BytesIO(_parquet(pa.table({"a": list(range(11))}))), max_rows=10)


def test_a_damaged_page_is_a_400() -> None:
    data = bytearray(_parquet(pa.table({"a": list(range(1000))})))
    data[4:60] = bytes(56)
    parquet = open_parquet(io.BytesIO(bytes(data)))
    with pytest.raises(BadRequestError, match="damaged"):
        list(read_batches(parquet, ["a"], 100))


def test_an_integer_query_parameter_of_thousands_of_digits_is_a_400(client: Any) -> None:
    # The test client has no request-line limit, so this reaches the parameter's own check.
    answer = client.get("/jobs", query_string={"limit": "9" * 5000})
    assert answer.status_code == 400 and "is an integer" in answer.get_json()["detail"]
    assert len(answer.get_data()) < 1000
