"""Arrays to the bytes Redis keeps, and back, without pickle."""

from __future__ import annotations

import io

import numpy as np
import pytest

from shared.codecs import decode_array, encode_array


@pytest.mark.parametrize("array", [
    np.array([0.1, -2.5, 1e300, 5e-324], dtype=np.float64),
    np.array([[0.1, 0.9], [0.25, 0.75], [1.0, 0.0]], dtype=np.float64),
    np.array([0, 1, -7, 2**62], dtype=np.int64),
    np.array([[1, 2, 3]], dtype=np.int32),
    np.array(["setosa", "versicolor", "virginica"]),
    np.array([np.nan, np.inf, -np.inf]),
    np.zeros((0, 3)),
], ids=["float64", "2d-float", "int64", "2d-int32", "labels", "non-finite", "empty-2d"])
def test_arrays_round_trip_exactly(array: np.ndarray) -> None:
    back = decode_array(encode_array(array))
    assert back.dtype == array.dtype
    assert back.shape == array.shape
    np.testing.assert_array_equal(back, array)


def test_float64_round_trip_keeps_every_bit() -> None:
    array = np.random.default_rng(0).standard_normal((50, 7))
    assert decode_array(encode_array(array)).tobytes() == array.tobytes()


def test_non_contiguous_slices_round_trip() -> None:
    array = np.arange(40, dtype=np.float64).reshape(8, 5)[::2, 1:4]
    np.testing.assert_array_equal(decode_array(encode_array(array)), array)


def test_object_arrays_of_labels_become_strings_not_pickles() -> None:
    labels = np.array(["setosa", "virginica", "setosa"], dtype=object)
    data = encode_array(labels)
    back = decode_array(data)
    assert back.dtype.kind == "U"
    assert back.tolist() == ["setosa", "virginica", "setosa"]


def test_encoded_object_arrays_load_without_pickle() -> None:
    data = encode_array(np.array(["a", 1, 2.5], dtype=object))
    back = np.load(io.BytesIO(data), allow_pickle=False)
    assert back.tolist() == ["a", "1", "2.5"]


def test_decode_refuses_pickled_bytes() -> None:
    buffer = io.BytesIO()
    np.save(buffer, np.array([{"evil": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="pickle"):
        decode_array(buffer.getvalue())


def test_decoded_labels_are_plain_json_values() -> None:
    back = decode_array(encode_array(np.array(["setosa", "versicolor"])))
    assert [type(v) for v in back.tolist()] == [str, str]


def test_typed_tables_round_trip_compressed_and_float_tables_raw() -> None:
    import pyarrow as pa

    from shared.codecs import array_table, decode_table, encode_table, float_matrix

    typed = pa.table({"plan": ["pro", None, "basic"] * 100, "n": pa.array([1, 2, 3] * 100, pa.int64()),
                      "ok": [True, False, True] * 100})
    data = encode_table(typed)
    assert decode_table(data).equals(typed)
    assert len(data) < typed.nbytes  # LZ4 at work
    X = np.arange(12, dtype=np.float64).reshape(4, 3)
    back = decode_table(encode_table(array_table(X, ["a", "b", "c"])))
    np.testing.assert_array_equal(float_matrix(back, ["a", "b", "c"]), X)


def test_a_chunk_written_as_npy_by_an_earlier_release_still_reads() -> None:
    from shared.codecs import decode_table, float_matrix

    X = np.arange(6, dtype=np.float64).reshape(3, 2)
    table = decode_table(encode_array(X))
    np.testing.assert_array_equal(float_matrix(table, table.column_names), X)
