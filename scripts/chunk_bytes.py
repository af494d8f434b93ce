"""Redis bytes per input row of one chunk, before (.npy float64) and now (Arrow IPC), for bench-logreg and churn.

    python -m scripts.chunk_bytes [--rows 10000]
"""

from __future__ import annotations

import argparse
import sys

import pyarrow as pa

from scripts.bench import make_rows
from scripts.bench_limit import FEATURES
from scripts.churn import churn_frame
from shared.codecs import array_table, encode_array, encode_table


def figures(rows: int) -> dict[str, dict[str, float | None]]:
    X = make_rows(rows, seed=1)
    churn = pa.Table.from_pandas(churn_frame(rows, seed=1), preserve_index=False)
    return {
        "bench-logreg": {"npy": len(encode_array(X)) / rows,
                         "arrow": len(encode_table(array_table(X, FEATURES))) / rows},
        # .npy held float64 only: a string column could not be stored at all before.
        "churn": {"npy": None, "arrow": len(encode_table(churn)) / rows,
                  "arrow_uncompressed": _raw(churn) / rows},
    }


def _raw(table: pa.Table) -> int:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write(table)
    return int(sink.getvalue().size)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000, help="rows per chunk (CHUNK_ROWS)")
    args = parser.parse_args(argv)
    for model, sizes in figures(args.rows).items():
        shown = ", ".join(f"{k} {v:.1f}" if v is not None else f"{k} n/a" for k, v in sizes.items())
        print(f"{model:<14} bytes per input row: {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
