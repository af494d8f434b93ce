"""JSON bodies and CSV cells to values, with 400s and 422s that name the place."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from shared.errors import BadRequestError, UnprocessableError
from shared.parsing.bodies import csv_to_array, header_order, load_json, may_hold_booleans
from shared.parsing.rows import ErrorCollector
from tests.unit.helpers import IRIS_FEATURES, iris_rows

# ---------------------------------------------------------------- JSON


@pytest.mark.parametrize(("text", "check"), [
    (b"[NaN]", math.isnan),
    (b"[Infinity]", lambda v: v == math.inf),
    (b"[-Infinity]", lambda v: v == -math.inf),
    (b"[1e309]", lambda v: v == math.inf),
])
def test_non_finite_literals_parse_so_validation_can_refuse_them(text: bytes, check: Any) -> None:
    value = load_json(text)
    assert check(value[0])


def test_valid_json_parses_to_python_values() -> None:
    assert load_json(b'{"instances": [[1, 2.5]], "x": null}') == {"instances": [[1, 2.5]], "x": None}


@pytest.mark.parametrize("text", [b"{", b'{"instances": [1,]}', b"", b"nope"])
def test_bad_json_is_a_400(text: bytes) -> None:
    with pytest.raises(BadRequestError, match="not valid JSON"):
        load_json(text)


def test_bad_json_names_line_and_column() -> None:
    with pytest.raises(BadRequestError) as caught:
        load_json(b'{\n"instances": [1, }')
    assert "line 2" in caught.value.detail


def test_json_that_is_not_utf8_is_a_400() -> None:
    with pytest.raises(BadRequestError, match="not UTF-8"):
        load_json(b'{"instances": "\xff\xfe"}')


def test_may_hold_booleans_sees_true_and_false_literals() -> None:
    assert may_hold_booleans(b"[[true, 1]]")
    assert may_hold_booleans(b"[[false, 1]]")
    assert not may_hold_booleans(b"[[1, 2.5, null]]")


# ---------------------------------------------------------------- CSV cells


def _csv_array(header: list[str], rows: list[list[str]], handles_missing: bool = False) -> np.ndarray:
    errors = ErrorCollector()
    out = csv_to_array(header, rows, IRIS_FEATURES, handles_missing, errors)
    errors.raise_if_any("the CSV rows")
    return out


def _csv_errors(header: list[str], rows: list[list[str]], handles_missing: bool = False) -> list[dict[str, Any]]:
    with pytest.raises(UnprocessableError) as caught:
        _csv_array(header, rows, handles_missing)
    return caught.value.to_problem()["errors"]


def test_csv_columns_are_matched_to_features_by_header_name() -> None:
    rows = iris_rows(3)
    shuffled = ["petal_width", "sepal_length", "petal_length", "sepal_width"]
    cells = [[repr(r[IRIS_FEATURES.index(n)]) for n in shuffled] for r in rows]
    np.testing.assert_array_equal(_csv_array(shuffled, cells), np.asarray(rows))


def test_header_order_gives_each_features_position() -> None:
    assert header_order(["petal_width", "sepal_length", "petal_length", "sepal_width"], IRIS_FEATURES) == [1, 3, 2, 0]


def test_csv_cells_may_carry_spaces_signs_and_exponents() -> None:
    out = _csv_array(IRIS_FEATURES, [[" 5.1 ", "+3.5", "1.4e0", ".2"]])
    np.testing.assert_array_equal(out, [[5.1, 3.5, 1.4, 0.2]])


def test_empty_csv_cell_is_a_missing_value_where_the_model_handles_them() -> None:
    out = _csv_array(IRIS_FEATURES, [["5.1", "", "1.4", "0.2"]], handles_missing=True)
    assert math.isnan(out[0, 1])
    np.testing.assert_array_equal(out[0, [0, 2, 3]], [5.1, 1.4, 0.2])


def test_empty_csv_cell_is_a_422_where_the_model_cannot_take_missing_values() -> None:
    errors = _csv_errors(IRIS_FEATURES, [["5.1", "3.5", "1.4", "0.2"], ["5.1", " ", "1.4", "0.2"]])
    assert [(e["row"], e["column"]) for e in errors] == [(1, "sepal_width")]


@pytest.mark.parametrize("cell", ["abc", "nan", "inf", "1e309", "1_000", "true", "0x10", "1,5", "--1"])
def test_non_numeric_csv_cell_is_a_422_naming_row_and_column(cell: str) -> None:
    errors = _csv_errors(IRIS_FEATURES, [["1", "2", "3", "4"], ["1", "2", "3", "4"], ["1", "2", cell, "4"]])
    assert [(e["row"], e["column"]) for e in errors] == [(2, "petal_length")]


def test_csv_header_with_an_unknown_name_is_a_422_naming_it() -> None:
    with pytest.raises(UnprocessableError) as caught:
        header_order([*IRIS_FEATURES, "colour"], IRIS_FEATURES)
    errors = caught.value.to_problem()["errors"]
    assert [e.get("column") for e in errors] == ["colour"]
    assert all("row" not in e for e in errors)


def test_csv_header_missing_a_feature_is_a_422_naming_it() -> None:
    with pytest.raises(UnprocessableError) as caught:
        header_order(IRIS_FEATURES[:3], IRIS_FEATURES)
    assert [e.get("column") for e in caught.value.to_problem()["errors"]] == ["petal_width"]


def test_csv_header_repeating_a_name_is_a_400() -> None:
    with pytest.raises(BadRequestError, match="repeats"):
        header_order(["sepal_length", "sepal_length", "petal_length", "petal_width"], IRIS_FEATURES)
