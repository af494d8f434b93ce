"""JSON rows to the model's float64 array: forms, feature order and every kind of bad cell."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from shared.errors import BadRequestError, UnprocessableError
from shared.parsing.rows import ErrorCollector, row_form, rows_to_array
from tests.unit.helpers import IRIS_FEATURES, as_objects, iris_rows

ROWS = iris_rows(9)


@pytest.mark.parametrize("fast", [True, False], ids=["whole-array", "cell-by-cell"])
def test_object_rows_in_any_key_order_give_the_array_rows_array(fast: bool) -> None:
    from_arrays = rows_to_array(ROWS, IRIS_FEATURES, False, may_hold_booleans=not fast)
    in_order = rows_to_array(as_objects(ROWS, IRIS_FEATURES), IRIS_FEATURES, False, may_hold_booleans=not fast)
    reversed_keys = rows_to_array(as_objects(ROWS, IRIS_FEATURES, reverse_keys=True), IRIS_FEATURES, False,
                                  may_hold_booleans=not fast)
    assert from_arrays.dtype == np.float64
    assert from_arrays.shape == (len(ROWS), 4)
    np.testing.assert_array_equal(from_arrays, np.asarray(ROWS))
    np.testing.assert_array_equal(in_order, from_arrays)
    np.testing.assert_array_equal(reversed_keys, from_arrays)


def test_object_rows_with_shuffled_keys_per_row_are_reordered_by_name() -> None:
    rows: list[dict[str, Any]] = [{"petal_width": 4, "sepal_length": 1, "petal_length": 3, "sepal_width": 2},
                                  {"sepal_width": 6, "petal_width": 8, "sepal_length": 5, "petal_length": 7}]
    for fast in (True, False):
        out = rows_to_array(rows, IRIS_FEATURES, False, may_hold_booleans=not fast)
        np.testing.assert_array_equal(out, [[1, 2, 3, 4], [5, 6, 7, 8]])


def test_integers_become_floats() -> None:
    out = rows_to_array([[1, 2, 3, 4]], IRIS_FEATURES, False, may_hold_booleans=False)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, [[1.0, 2.0, 3.0, 4.0]])


def test_single_feature_object_rows_give_a_column() -> None:
    out = rows_to_array([{"x": 1.5}, {"x": 2.5}], ["x"], False, may_hold_booleans=False)
    assert out.shape == (2, 1)
    np.testing.assert_array_equal(out, [[1.5], [2.5]])


def test_rows_mixing_arrays_and_objects_are_a_400() -> None:
    with pytest.raises(BadRequestError, match="mix"):
        rows_to_array([ROWS[0], as_objects(ROWS[1:2], IRIS_FEATURES)[0]], IRIS_FEATURES, False)


@pytest.mark.parametrize("bad", [5.1, "5.1,3.5,1.4,0.2", None, True], ids=["number", "string", "null", "boolean"])
def test_a_row_that_is_neither_array_nor_object_is_a_400_naming_the_row(bad: Any) -> None:
    with pytest.raises(BadRequestError) as caught:
        rows_to_array([ROWS[0], ROWS[1], bad], IRIS_FEATURES, False)
    assert caught.value.status == 400
    assert caught.value.errors is not None
    assert [e.row for e in caught.value.errors] == [2]
    assert "row 2" in caught.value.detail


def test_row_form_names_the_single_form() -> None:
    assert row_form(ROWS) is list
    assert row_form(as_objects(ROWS, IRIS_FEATURES)) is dict


def _errors(instances: list[Any], handles_missing: bool = False, fast: bool = False,
            features: list[str] = IRIS_FEATURES) -> list[dict[str, Any]]:
    with pytest.raises(UnprocessableError) as caught:
        rows_to_array(instances, features, handles_missing, may_hold_booleans=not fast)
    assert caught.value.status == 422
    assert caught.value.errors is not None
    return caught.value.to_problem()["errors"]


@pytest.mark.parametrize("fast", [True, False])
@pytest.mark.parametrize("row", [[1.0, 2.0, 3.0], [1.0, 2.0, 3.0, 4.0, 5.0], []], ids=["short", "long", "empty"])
def test_wrong_number_of_values_is_a_422_for_the_whole_row(row: list[float], fast: bool) -> None:
    errors = _errors([ROWS[0], row], fast=fast)
    assert len(errors) == 1
    assert errors[0]["row"] == 1
    assert "column" not in errors[0]
    assert str(len(row)) in errors[0]["message"]


@pytest.mark.parametrize("fast", [True, False])
def test_unknown_key_is_a_422_naming_the_key(fast: bool) -> None:
    row = {**as_objects(ROWS[:1], IRIS_FEATURES)[0], "colour": 3.0}
    errors = _errors([as_objects(ROWS[:1], IRIS_FEATURES)[0], row], fast=fast)
    assert errors == [{"row": 1, "column": "colour", "message": errors[0]["message"]}]
    assert "colour" in errors[0]["message"]


@pytest.mark.parametrize("fast", [True, False])
def test_missing_key_is_a_422_naming_the_feature(fast: bool) -> None:
    row = as_objects(ROWS[:1], IRIS_FEATURES)[0]
    del row["petal_width"]
    errors = _errors([as_objects(ROWS[:1], IRIS_FEATURES)[0], row], fast=fast)
    assert [(e["row"], e["column"]) for e in errors] == [(1, "petal_width")]


def test_renamed_key_is_reported_as_unknown_and_missing() -> None:
    row = as_objects(ROWS[:1], IRIS_FEATURES)[0]
    row["petal_widht"] = row.pop("petal_width")
    errors = _errors([row])
    assert {(e["row"], e["column"]) for e in errors} == {(0, "petal_widht"), (0, "petal_width")}


BAD_CELLS = [
    pytest.param("1.4", id="numeric-string"),
    pytest.param("", id="empty-string"),
    pytest.param(True, id="true"),
    pytest.param(False, id="false"),
    pytest.param(math.nan, id="NaN"),
    pytest.param(math.inf, id="Infinity"),
    pytest.param(-math.inf, id="-Infinity"),
    pytest.param(10**400, id="huge-integer"),
    pytest.param([1.4], id="array"),
    pytest.param({"v": 1.4}, id="object"),
]


@pytest.mark.parametrize("form", ["array", "object"])
@pytest.mark.parametrize("bad", BAD_CELLS)
def test_a_cell_that_is_not_a_finite_number_is_a_422_naming_row_and_column(bad: Any, form: str) -> None:
    row = [*ROWS[3][:2], bad, ROWS[3][3]]
    instances: list[Any] = [ROWS[0], ROWS[1], ROWS[2], row]
    if form == "object":
        instances = as_objects(instances, IRIS_FEATURES)
    errors = _errors(instances)
    assert errors == [{"row": 3, "column": "petal_length", "message": errors[0]["message"]}]


@pytest.mark.parametrize("bad", [math.nan, math.inf], ids=["NaN", "Infinity"])
def test_non_finite_numbers_are_refused_by_the_whole_array_path_too(bad: float) -> None:
    errors = _errors([ROWS[0], [bad, 1.0, 2.0, 3.0]], fast=True)
    assert [(e["row"], e["column"]) for e in errors] == [(1, "sepal_length")]


def test_null_is_a_422_where_the_model_cannot_take_missing_values() -> None:
    errors = _errors([ROWS[0], [None, 1.0, None, 3.0]], handles_missing=False)
    assert [(e["row"], e["column"]) for e in errors] == [(1, "sepal_length"), (1, "petal_length")]


@pytest.mark.parametrize("fast", [True, False])
def test_null_is_a_missing_value_where_the_model_handles_them(fast: bool) -> None:
    arrays = rows_to_array([[None, 1.0, 2.0, 3.0]], IRIS_FEATURES, True, may_hold_booleans=not fast)
    assert math.isnan(arrays[0, 0])
    np.testing.assert_array_equal(arrays[0, 1:], [1.0, 2.0, 3.0])
    objects = rows_to_array([{"sepal_length": 1.0, "sepal_width": None, "petal_length": 2.0, "petal_width": 3.0}],
                            IRIS_FEATURES, True, may_hold_booleans=not fast)
    assert math.isnan(objects[0, 1])
    np.testing.assert_array_equal(objects[0, [0, 2, 3]], [1.0, 2.0, 3.0])


def test_booleans_are_refused_even_when_missing_values_are_allowed() -> None:
    errors = _errors([[True, 1.0, 2.0, 3.0]], handles_missing=True)
    assert [(e["row"], e["column"]) for e in errors] == [(0, "sepal_length")]


def test_every_bad_cell_of_every_row_is_reported_in_order() -> None:
    instances = [["a", 1.0, 2.0, "b"], ROWS[0], [1.0, None, 2.0, 3.0]]
    errors = _errors(instances)
    assert [(e["row"], e["column"]) for e in errors] == [(0, "sepal_length"), (0, "petal_width"),
                                                          (2, "sepal_width")]


def test_at_most_100_errors_are_listed_but_all_are_counted() -> None:
    instances = [["x", "y", 1.0, 2.0] for _ in range(150)]
    with pytest.raises(UnprocessableError) as caught:
        rows_to_array(instances, IRIS_FEATURES, False)
    problem = caught.value.to_problem()
    assert len(problem["errors"]) == 100
    assert problem["errors"][0] == {"row": 0, "column": "sepal_length", "message": problem["errors"][0]["message"]}
    assert problem["errors"][99]["row"] == 49
    assert "300 errors" in problem["detail"]


def test_a_few_errors_are_all_listed() -> None:
    errors = _errors([["x", 1.0, 2.0, 3.0] for _ in range(7)])
    assert len(errors) == 7
    assert [e["row"] for e in errors] == list(range(7))


def test_error_collector_keeps_the_first_errors_and_counts_them_all() -> None:
    collector = ErrorCollector(keep=2)
    for i in range(5):
        collector.add("bad", row=i, column="c")
    assert [e.row for e in collector.errors] == [0, 1]
    with pytest.raises(UnprocessableError, match="5 errors"):
        collector.raise_if_any("the rows")


def test_error_collector_without_errors_raises_nothing() -> None:
    collector = ErrorCollector()
    collector.raise_if_any("the rows")
    assert collector.count == 0


def test_a_cell_that_is_not_a_number_is_quoted_briefly_whatever_its_size() -> None:
    errors = ErrorCollector()
    rows_to_array([["x" * 1_000_000, [1] * 100_000, True, 1.0]], IRIS_FEATURES, False, True, 0, errors)
    messages = [e.message for e in errors.errors]
    assert messages[0].startswith("expected a number, got a string 'xxx") and len(messages[0]) < 120
    assert messages[1] == "expected a number, got an array of 100000 items"
    assert messages[2] == "expected a number, got a boolean True"
