"""A request body as the parsers read it: cut off when it trickles or stalls, and capped when it is JSON.

gunicorn's gthread worker gives each request a thread for as long as its body takes to arrive, so a client
sending a byte a second would hold a thread for as long as it likes. Two bounds: `gunicorn.conf.py` sets a
receive timeout on every connection (BODY_READ_TIMEOUT_SECONDS without a byte ends it), and this reader, after
that same grace, refuses a body whose average rate is under BODY_MIN_BYTES_PER_SECOND (408).
"""

from __future__ import annotations

import time
from typing import BinaryIO

from shared.errors import PayloadTooLargeError, RequestTimeoutError

PIECE_BYTES = 64 * 1024
"""The most read from the socket at once: the rate is checked between pieces, so at least this often."""


class GuardedBody:
    """`stream` read in pieces, refusing a trickle (408) and, for JSON, more than `json_limit` bytes (413)."""

    def __init__(self, stream: BinaryIO, min_rate: int, grace_seconds: float, json_limit: int | None) -> None:
        self.stream = stream
        self.min_rate = min_rate
        self.grace = grace_seconds
        self.json_limit = json_limit
        self.read_bytes = 0
        self.started = time.monotonic()

    def read(self, size: int | None = -1) -> bytes:
        """Up to `size` bytes (all that is left when negative), short only at the end of the body."""
        parts: list[bytes] = []
        wanted = -1 if size is None or size < 0 else size
        while wanted != 0:
            piece = self._piece(PIECE_BYTES if wanted < 0 else min(wanted, PIECE_BYTES))
            if not piece:
                break
            parts.append(piece)
            if wanted > 0:
                wanted -= len(piece)
        return b"".join(parts)

    def _piece(self, size: int) -> bytes:
        try:
            data = self.stream.read(size)
        except OSError as exc:  # the socket's receive timeout: nothing arrived for BODY_READ_TIMEOUT_SECONDS
            raise self._too_slow("the body stalled") from exc
        self.read_bytes += len(data)
        if self.json_limit is not None and self.read_bytes > self.json_limit:
            raise PayloadTooLargeError(
                f"a JSON body is parsed whole, so it may be at most {self.json_limit} bytes (MAX_JSON_BODY_BYTES); "
                "send bigger batches as CSV, NDJSON or Parquet, which are read as streams")
        elapsed = time.monotonic() - self.started
        if data and self.min_rate and elapsed > self.grace and self.read_bytes < self.min_rate * elapsed:
            raise self._too_slow(f"the body arrived at {self.read_bytes / elapsed:.0f} bytes/s")
        return data

    def _too_slow(self, what: str) -> RequestTimeoutError:
        return RequestTimeoutError(f"{what}; bodies must arrive at {self.min_rate} bytes/s or more "
                                   "(BODY_MIN_BYTES_PER_SECOND) and never pause for BODY_READ_TIMEOUT_SECONDS")
