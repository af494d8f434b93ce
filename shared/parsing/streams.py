"""Reading a request body in blocks of whole lines, so memory does not grow with the body."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import BinaryIO

from shared.errors import BadRequestError, PayloadTooLargeError

BLOCK_BYTES = 4 << 20
"""Bytes read per block: large enough for fast parsing, small enough to keep memory flat."""


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


def line_blocks(stream: BinaryIO | LimitedReader, block_bytes: int = BLOCK_BYTES) -> Iterator[tuple[int, bytes]]:
    """(number of the block's first line, counted from 1; block) for blocks that end at a line end."""
    carry = b""
    line = 1
    while True:
        data = stream.read(block_bytes)
        if not data:
            break
        data = carry + data
        cut = data.rfind(b"\n")
        if cut < 0:
            carry = data
            continue
        block, carry = data[: cut + 1], data[cut + 1 :]
        yield line, block
        line += block.count(b"\n")
    if carry.strip():
        yield line, carry + b"\n"


def utf8(block: bytes, first_line: int) -> str:
    try:
        return block.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad_line = first_line + block[: exc.start].count(b"\n")
        raise BadRequestError(f"line {bad_line} is not UTF-8") from None
