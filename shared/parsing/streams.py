"""Reading a request body in blocks of whole lines, so memory does not grow with the body."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import BinaryIO

from shared.errors import BadRequestError, PayloadTooLargeError

BLOCK_BYTES = 4 << 20
"""Bytes read per block: large enough for fast parsing, small enough to keep memory flat."""

MAX_LINE_BYTES = 4 << 20
"""The longest line (one CSV or NDJSON row) a body may hold: past it, a 413 rather than a buffer that grows
with whatever a client sends without a newline."""


class LimitedReader:
    """A body stream that refuses to read past `max_bytes` (a 413) and hashes what it reads."""

    def __init__(self, stream: BinaryIO, max_bytes: int, hashed: bool = True) -> None:
        self.stream = stream
        self.max_bytes = max_bytes
        self.read_bytes = 0
        self.hashed = hashed
        self.digest = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self.stream.read(size)
        self.read_bytes += len(data)
        if self.read_bytes > self.max_bytes:
            raise PayloadTooLargeError(f"the body is over the limit (MAX_BODY_BYTES) of {self.max_bytes} bytes")
        if self.hashed:
            self.digest.update(data)
        return data

    def drain(self) -> None:
        """Read what is left, so the hash covers the whole body."""
        while self.read(1 << 20):
            pass


def line_blocks(stream: BinaryIO | LimitedReader, block_bytes: int = BLOCK_BYTES,
                max_line_bytes: int = MAX_LINE_BYTES) -> Iterator[tuple[int, bytes]]:
    """(number of the block's first line, counted from 1; block) for blocks that end at a line end.

    A line still open at the end of a read is kept as pieces and joined once its end arrives (joining at
    every read would copy it again each time: quadratic in a body without newlines); it may grow to
    `max_line_bytes` only. A line inside one read is at most `block_bytes` long, so `block_bytes` should
    not exceed `max_line_bytes`.
    """
    pending: list[bytes] = []
    pending_bytes = 0
    line = 1
    while data := stream.read(block_bytes):
        cut = data.rfind(b"\n")
        ends = len(data) if cut < 0 else data.find(b"\n")  # where the open line ends in this read
        if pending_bytes + ends > max_line_bytes:
            raise PayloadTooLargeError(f"line {line} is longer than {max_line_bytes} bytes (MAX_LINE_BYTES: a row "
                                       "is a line, and no row needs that much)")
        if cut < 0:
            pending.append(data)
            pending_bytes += len(data)
            continue
        block = b"".join([*pending, data[: cut + 1]])
        pending, pending_bytes = [data[cut + 1 :]], len(data) - cut - 1
        yield line, block
        line += block.count(b"\n")
    tail = b"".join(pending)
    if tail.strip():
        yield line, tail + b"\n"


def utf8(block: bytes, first_line: int) -> str:
    try:
        return block.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad_line = first_line + block[: exc.start].count(b"\n")
        raise BadRequestError(f"line {bad_line} is not UTF-8") from None
