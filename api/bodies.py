"""A request body as the parsers read it: cut off when it trickles or stalls, and capped when it is JSON.

gunicorn's gthread worker gives each request a thread for as long as its body takes to arrive, so a client
sending a byte a second would hold a thread for as long as it likes. Two bounds: `gunicorn.conf.py` sets a
receive timeout on every connection (BODY_READ_TIMEOUT_SECONDS without a byte ends it), and this reader, after
that same grace, refuses a body whose average rate is under BODY_MIN_BYTES_PER_SECOND (408).
"""

from __future__ import annotations

import contextlib
import io
import socket
import threading
import time
from typing import BinaryIO

from gunicorn.http.body import Body, LengthReader
from gunicorn.http.unreader import SocketUnreader
from werkzeug.exceptions import ClientDisconnected

from shared.errors import PayloadTooLargeError, RequestTimeoutError

PIECE_BYTES = 64 * 1024
"""The most a blocking read waits for at once: the rate is checked between pieces, so at least this often."""

RECV_BYTES = 1 << 20
"""The most one receive straight off the socket takes: it returns whatever has arrived, never waiting for more."""


class SocketBody:
    """The rest of a Content-Length body, received straight off gunicorn's connection.

    gunicorn's reader receives up to 1 MiB at a time but hands a 64 KiB read out of a fresh copy of all it holds,
    copying each megabyte about sixteen times (a 37 MB Parquet body took longer to read than to parse). This
    takes the bytes gunicorn already holds, then receives the rest itself, each receive returning what has
    arrived. gunicorn's count of what is left stays true at every step (anything past the body, a pipelined
    request, is given back), so a body the app stops reading is drained or its connection closed as before.
    Written against gunicorn 27.0's Body, LengthReader and SocketUnreader.
    """

    def __init__(self, body: Body) -> None:
        self._body = body
        self._reader: LengthReader = body.reader
        unreader: SocketUnreader = self._reader.unreader
        self.sock: socket.socket = unreader.sock
        held, body.buf = body.buf.getvalue(), io.BytesIO()
        buffered = unreader.take_buffered()
        mine = buffered[: self._reader.length]
        unreader.unread(buffered[self._reader.length :])
        self._reader.length -= len(mine)
        self._held = memoryview(held + mine)

    @classmethod
    def of(cls, stream: object) -> SocketBody | None:
        """For a body gunicorn reads by its length off a socket; None for anything else (chunked, tests)."""
        if isinstance(stream, Body) and type(stream.reader) is LengthReader \
                and type(stream.reader.unreader) is SocketUnreader:
            return cls(stream)
        return None

    def read(self, size: int) -> bytes:
        """Up to `size` bytes, as soon as any have arrived; b"" at the body's end."""
        if self._held:
            piece, self._held = bytes(self._held[:size]), self._held[size:]
            return piece
        left = self._reader.length  # still in the socket
        if not left:
            return b""
        try:
            piece = self.sock.recv(min(size, left, RECV_BYTES))
        except OSError:
            self._body.failed = True  # where the next request starts is unknown: gunicorn closes the connection
            raise
        if not piece:
            self._body.failed = True
            raise ClientDisconnected()
        self._reader.length -= len(piece)
        return piece


class _Deadlines:
    """One thread per process that shuts down the sockets of bodies behind their floor: a read blocked on a
    trickle (gunicorn reads until a piece is whole) returns, and the thread is free."""

    def __init__(self) -> None:
        self._armed: dict[int, tuple[float, socket.socket]] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def arm(self, key: int, deadline: float, sock: socket.socket) -> None:
        with self._lock:
            self._armed[key] = (deadline, sock)
            if self._thread is None:
                self._thread = threading.Thread(target=self._watch, name="body-deadlines", daemon=True)
                self._thread.start()

    def disarm(self, key: int) -> bool:
        """False when the deadline had already fired."""
        with self._lock:
            return self._armed.pop(key, None) is not None

    def _watch(self) -> None:
        while True:
            time.sleep(0.25)
            now = time.monotonic()
            with self._lock:
                late = [(k, s) for k, (d, s) in self._armed.items() if d < now]
                for k, _ in late:
                    del self._armed[k]
            for _, sock in late:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RD)


DEADLINES = _Deadlines()


class GuardedBody:
    """`stream` read in pieces, refusing a trickle (408) and, for JSON, more than `json_limit` bytes (413)."""

    def __init__(self, stream: BinaryIO | SocketBody, min_rate: int, grace_seconds: float, json_limit: int | None,
                 sock: socket.socket | None = None) -> None:
        self.stream = stream
        self.piece_bytes = RECV_BYTES if isinstance(stream, SocketBody) else PIECE_BYTES
        """The most asked for at once: a receive returns early, a blocking read waits for all of it."""
        self.sock = sock
        """The connection (gunicorn's, from the WSGI environ): shut down when a piece is overdue."""
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
            piece = self._piece(self.piece_bytes if wanted < 0 else min(wanted, self.piece_bytes))
            if not piece:
                break
            parts.append(piece)
            if wanted > 0:
                wanted -= len(piece)
        return b"".join(parts)

    def _piece(self, size: int) -> bytes:
        armed = self.sock is not None and self.min_rate > 0
        if armed:  # the piece (never more than PIECE_BYTES of it) is due when the floor says the body should hold it
            due = self.started + self.grace + (self.read_bytes + min(size, PIECE_BYTES)) / self.min_rate
            DEADLINES.arm(id(self), due, self.sock)  # type: ignore[arg-type]
        try:
            data = self.stream.read(size)
        except (OSError, ClientDisconnected) as exc:  # the receive timeout, or the deadline shut the socket
            raise self._too_slow("the body stalled or trickled") from exc
        finally:
            fired = armed and not DEADLINES.disarm(id(self))
        if fired:
            raise self._too_slow("the body trickled")
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
