"""gunicorn's gthread worker, reading each request's headers in its event loop before giving it a thread.

gthread hands a connection to a thread as soon as its first byte arrives, and the thread then blocks until the
headers are complete: clients that trickle their headers a byte at a time (slowloris) each hold a thread, and
as many of them as there are threads stop the process answering anything, /healthz included (measured with
scripts/load_probe.py; see docs/hostile-clients.md). Here the worker's poller collects the headers without a
thread, within BODY_READ_TIMEOUT_SECONDS and HEAD_LIMIT_BYTES, and only a request whose headers have all
arrived takes a thread, with those bytes handed to gunicorn's own parser. Everything else is gthread's.

Written against gunicorn 27.0 (pinned in requirements.txt): it relies on ThreadWorker's `accept`,
`on_client_socket_readable`, `murder_pending`, `_keepalive_after`, `util.close_graceful` and TConn's
`parser`/`initialized`/`data_ready`/`close`. A test (tests/integration/test_slow_clients.py) holds it to that.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

from gunicorn import http, util
from gunicorn.workers.gthread import TConn, ThreadWorker

from api.bodies import DEADLINES
from api.wire import problem_bytes, write_problem
from shared.settings import Settings

HEAD_LIMIT_BYTES = 64 * 1024
"""A request line and headers longer than this are refused (431) without a thread."""

DRAIN_SECONDS = 0.25
"""How long an unread request body may take to arrive whole after the answer before its connection closes."""

HEAD_ENDS = (b"\r\n\r\n", b"\n\n")
TOO_LARGE = problem_bytes(431, "Request Header Fields Too Large")

util.write_error = write_problem  # gunicorn's own refusals (414, 400, …) as problem+json: api/wire.py


LINGER_SECONDS = 0.5
"""How long a closing connection's unread bytes are drained (so the client gets its answer, not a reset)."""

_closer = ThreadPoolExecutor(max_workers=2, thread_name_prefix="closer")
"""gunicorn lingers over each graceful close in its event loop, reading what the client still sends for up to
2 s: a trickling client closed there stalls every connection of the process. Closes linger here instead."""


class Conn(TConn):  # type: ignore[misc]  # gunicorn is untyped
    def close(self, graceful: bool = False) -> None:
        if graceful:
            self.sock.setblocking(True)
            _closer.submit(util.close_graceful, self.sock, LINGER_SECONDS)
        else:
            util.close(self.sock)


class HeadFirstThreadWorker(ThreadWorker):  # type: ignore[misc]  # gunicorn is untyped
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.head_timeout = float(Settings.from_env().body_read_timeout_seconds)
        self.reading_heads: deque[Any] = deque()

    def accept(self, listener: Any) -> None:
        if self.cfg.is_ssl:  # the TLS handshake needs a blocking socket: gthread's own path
            super().accept(listener)
            return
        try:
            client_sock, client_addr = listener.accept()
        except OSError:
            return  # another worker took it, or the client left
        self.nr_conns += 1
        conn = Conn(self.cfg, client_sock, client_addr, listener.getsockname())  # non-blocking from here
        self._read_head(conn)

    def on_client_socket_readable(self, conn: Any, client: Any) -> None:
        """A kept-alive connection's next request: its headers too are read here first."""
        self.poller.unregister(client)
        self.keepalived_conns.remove(conn)
        conn.sock.setblocking(False)
        self._read_head(conn)

    def _read_head(self, conn: Any) -> None:
        conn.head = bytearray()
        conn.timeout = time.monotonic() + self.head_timeout
        self.reading_heads.append(conn)
        self.poller.register(conn.sock, 1, partial(self._on_head_readable, conn))  # 1: selectors.EVENT_READ

    def _on_head_readable(self, conn: Any, _client: Any) -> None:
        try:
            data = conn.sock.recv(HEAD_LIMIT_BYTES)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._drop_head(conn)
            return
        conn.head += data
        if any(end in conn.head for end in HEAD_ENDS):
            self._stop_reading(conn)
            conn.sock.setblocking(True)
            if not conn.initialized:
                conn.initialized = True
                conn.parser = http.get_parser(self.cfg, conn.sock, conn.client)
            conn.parser.unreader.unread(bytes(conn.head))
            conn.data_ready = True
            self.enqueue_req(conn)
        elif len(conn.head) > HEAD_LIMIT_BYTES:
            with contextlib.suppress(OSError):  # the client is not listening: nothing to tell it
                conn.sock.send(TOO_LARGE)
            self._drop_head(conn)

    def _stop_reading(self, conn: Any) -> None:
        self.poller.unregister(conn.sock)
        self.reading_heads.remove(conn)

    def _drop_head(self, conn: Any) -> None:
        self._stop_reading(conn)
        self.nr_conns -= 1
        conn.close()

    def _keepalive_after(self, conn: Any, keepalive: bool) -> bool:
        """gthread drains a body the app did not read (a refused upload: 413, 408, 429, 503) in the request's
        thread. A body that is already here (a small one refused before it was read) is still drained, so its
        connection stays usable; one that is not here within DRAIN_SECONDS closes the connection. gunicorn's
        own deadline is only checked between its 1 KiB reads, each of which a byte every few seconds keeps
        waiting, so the connection's reads are also shut when the deadline passes."""
        if not keepalive:
            return False
        deadline = time.monotonic() + DRAIN_SECONDS
        DEADLINES.arm(id(conn), deadline, conn.sock)
        try:
            drained = bool(conn.parser.finish_body(deadline=deadline))
        finally:
            cut = not DEADLINES.disarm(id(conn))
        return drained and not cut

    def murder_pending(self) -> None:
        """gthread's expiry of idle connections, and of requests whose headers did not arrive in time."""
        super().murder_pending()
        now = time.monotonic()
        while self.reading_heads and self.reading_heads[0].timeout <= now:
            conn = self.reading_heads[0]
            with contextlib.suppress(OSError):  # already gone
                conn.sock.shutdown(socket.SHUT_RDWR)
            self._drop_head(conn)
