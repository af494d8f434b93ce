"""A big plain JSON body parsed a block of rows at a time answers exactly as the whole parse does."""

from __future__ import annotations

import functools
import io
import math
from typing import Any

import numpy as np
import orjson
import pytest

from shared.batch import limited_blocks
from shared.errors import BadRequestError, PredqError, RowLimitError, UnprocessableError
from shared.parsing import json_rows
from shared.parsing.submission import Limits, open_batch
from shared.registry import ModelRegistry
from tests.unit.helpers import iris_rows

LIMITS = Limits(max_rows=1000)
BLOCK_BYTES = 200
"""About six iris rows a block."""

Outcome = tuple[int, list[np.ndarray]] | tuple[type, str, list[Any]]


def outcome(registry: ModelRegistry, data: bytes, monkeypatch: pytest.MonkeyPatch, split: bool,
            limits: Limits = LIMITS) -> Outcome:
    """(blocks, arrays) of a body that is taken, or (error type, message, field errors) of one refused."""
    with monkeypatch.context() as patch:
        patch.setattr(json_rows, "MIN_SPLIT_BYTES", 0 if split else 1 << 40)
        patch.setattr(json_rows, "iter_json_rows", functools.partial(json_rows.iter_json_rows,
                                                                     block_bytes=BLOCK_BYTES))
        try:
            batch = open_batch("application/json", io.BytesIO(data), {}, registry, limits)
            blocks = list(limited_blocks(batch.blocks, limits.max_rows))
        except PredqError as error:
            return type(error), str(error), [(e.row, e.column, e.message) for e in error.errors or []]
    return len(blocks), blocks


def same_outcome(registry: ModelRegistry, data: bytes, monkeypatch: pytest.MonkeyPatch,
                 limits: Limits = LIMITS) -> Outcome:
    split, whole = (outcome(registry, data, monkeypatch, s, limits) for s in (True, False))
    if isinstance(whole[0], int):
        assert isinstance(split[0], int)
        assert np.array_equal(np.concatenate(split[1]), np.concatenate(whole[1]))
    else:
        assert split == whole
    return split


def body(rows: Any, **members: Any) -> bytes:
    return orjson.dumps({**members, "instances": rows})


def test_rows_in_blocks_equal_the_whole_parse(registry: ModelRegistry, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = iris_rows(120)
    blocks, arrays = same_outcome(registry, body(rows, model="iris", metadata={"a": [1, 2]}), monkeypatch)
    assert isinstance(blocks, int) and blocks > 5
    assert np.array_equal(np.concatenate(arrays), np.array(rows))
    spaced = b'{"model": "iris",\n "instances": [\n' + b",\n  ".join(orjson.dumps(r) for r in rows) + b"\n]\n}\n"
    spaced_blocks = same_outcome(registry, spaced, monkeypatch)[0]
    assert isinstance(spaced_blocks, int) and spaced_blocks > 5


@pytest.mark.parametrize("data", [
    b'{"instances": [[1, 2, 3, 4]], "model": "iris"}',  # rows not last
    b'{"instances": [{"sepal_length": 1}]}',  # object rows
    b'{"instances": [[1, 2, 3, "4"]]}',  # a string in the rows
    b'{"instances": [[1, 2, 3, 4], {}]}',
    b'{"metadata": {"instances": [[1, 2, 3, 4]]}}',  # not the top-level member
    b'{"instances": [[1, 2, 3, 4]]} x',
    b'[[1, 2, 3, 4]]',
])
def test_other_shapes_are_parsed_whole(data: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(json_rows, "MIN_SPLIT_BYTES", 0)
    assert json_rows.split_instances(data) is None


def test_the_plain_shape_splits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(json_rows, "MIN_SPLIT_BYTES", 0)
    split = json_rows.split_instances(b'{"model": "iris", "instances" : [[1, 2, 3, 4], [5, 6, 7, null]] }\n')
    assert split is not None and split.doc == {"model": "iris", "instances": []} and split.has_rows


def test_a_body_that_is_not_json_answers_as_the_whole_parse(registry: ModelRegistry,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    good = body(iris_rows(60))
    for broken in (good.replace(b"],[", b"],,[", 1), good[:-40] + b"x" + good[-39:],
                   good[:-2] + b"],[[1,2,3,4]]}"):  # two arrays where the rows are one
        error_type, message, _ = same_outcome(registry, broken, monkeypatch)
        assert error_type is BadRequestError, message


def test_bad_rows_in_later_blocks_are_named_as_the_whole_array_numbers_them(
        registry: ModelRegistry, monkeypatch: pytest.MonkeyPatch) -> None:
    rows: list[Any] = iris_rows(80)
    rows[3][1] = None
    rows[50] = rows[50][:3]
    rows[71][2] = True
    data = body(rows).replace(b"1.3", b"Infinity", 1)  # orjson refuses it: the standard parser reads it
    error_type, _, errors = same_outcome(registry, data, monkeypatch)
    assert error_type is UnprocessableError
    assert {row for row, _, _ in errors} >= {3, 50, 71}


@pytest.mark.parametrize("change", [
    lambda rows: rows.__setitem__(40, [[1, 2], 3, 4, 5]),  # an array in a cell
    lambda rows: rows.__setitem__(40, [[1, 2, 3, 4], [1, 2, 3, 4]]),  # a row of rows
    lambda rows: rows.__setitem__(40, 5),  # a number where a row belongs
    lambda rows: rows.__setitem__(40, []),
])
def test_rows_of_the_wrong_shape_answer_as_the_whole_parse(change: Any, registry: ModelRegistry,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    rows: list[Any] = iris_rows(80)
    change(rows)
    assert not isinstance(same_outcome(registry, body(rows), monkeypatch)[0], int)


def test_row_limit_and_empty_rows_answer_as_the_whole_parse(registry: ModelRegistry,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    assert same_outcome(registry, body(iris_rows(30)), monkeypatch, Limits(max_rows=29))[0] is RowLimitError
    assert same_outcome(registry, body([]), monkeypatch)[0] is UnprocessableError
    nan_rows: list[Any] = iris_rows(30)
    nan_rows[20][0] = math.nan  # orjson writes null: a missing value iris cannot take
    assert same_outcome(registry, body(nan_rows), monkeypatch)[0] is UnprocessableError


def test_a_refusal_found_before_the_rows_are_counted_answers_as_the_whole_parse(
        registry: ModelRegistry, monkeypatch: pytest.MonkeyPatch) -> None:
    """The whole parse counts the rows first: over MAX_ROWS is a 413 whatever else is wrong."""
    limits = Limits(max_rows=29)
    boolean_last = [*iris_rows(29), [True, 1, 2, 3]]
    for refused in (body(iris_rows(30), model="no-such-model"), body(iris_rows(30), method="nope"), body(boolean_last)):
        assert same_outcome(registry, refused, monkeypatch, limits)[0] is RowLimitError
    error_type, _, _ = same_outcome(registry, body(iris_rows(20), model="no-such-model"), monkeypatch, limits)
    assert error_type is not RowLimitError and issubclass(error_type, PredqError)


def test_a_boolean_in_one_block_is_read_as_the_whole_parse_reads_it(
        registry: ModelRegistry, monkeypatch: pytest.MonkeyPatch) -> None:
    rows: list[Any] = iris_rows(80)
    rows[45][1] = False
    error_type, _, errors = same_outcome(registry, body(rows), monkeypatch)
    assert error_type is UnprocessableError and [row for row, _, _ in errors] == [45]
