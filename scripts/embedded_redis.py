"""A Redis for the local stack and the tests: `redis-server` when on PATH, else fakeredis over TCP."""

from __future__ import annotations

import contextlib
import selectors
import shutil
import socket
import socketserver
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import quote

import redis


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class EmbeddedRedis:
    """A private Redis on a free port, never one that holds someone's data."""

    def __init__(self, port: int | None = None, appendonly: bool = False, prefer_fake: bool = False,
                 extra_args: Sequence[str] = (), login: tuple[str, str] | None = None) -> None:
        """`extra_args` go to redis-server (e.g. --aclfile); `login` (user, password) is who `url` logs in as."""
        self.port = port or free_port()
        self.appendonly = appendonly
        self.extra_args = list(extra_args)
        self.login = login
        self.binary = None if prefer_fake else shutil.which("redis-server")
        self.dir = Path(tempfile.mkdtemp(prefix="predq-redis-"))
        self._process: subprocess.Popen[bytes] | None = None
        self._fake: object | None = None

    @property
    def url(self) -> str:
        auth = f"{quote(self.login[0], safe='')}:{quote(self.login[1], safe='')}@" if self.login else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    @property
    def kind(self) -> str:
        return f"redis-server ({self.binary})" if self.binary else "embedded fake Redis (fakeredis)"

    @property
    def process(self) -> subprocess.Popen[bytes] | None:
        """The redis-server process (None for the in-process fake)."""
        return self._process

    def start(self) -> EmbeddedRedis:
        if self.binary:
            self.start_server()
        else:
            self._start_fake()
        self.wait_until_up()
        return self

    def start_server(self) -> None:
        """Start redis-server (again, after a stop: same port and directory, so it reloads its append-only file)."""
        args = [self.binary or "redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "yes" if self.appendonly else "no", "--dir", str(self.dir),
                "--maxmemory-policy", "noeviction", "--logfile", str(self.dir / "redis.log"), *self.extra_args]
        self._process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def _start_fake(self) -> None:
        from fakeredis import TcpFakeServer

        server = TcpFakeServer(("127.0.0.1", self.port), server_type="redis")
        server.RequestHandlerClass = _fake_request_handler()
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, name="fake-redis", daemon=True).start()
        self._fake = server

    def wait_until_up(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.5)
        while True:
            try:
                client.ping()
                return
            except redis.exceptions.ConnectionError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{self.kind} did not answer on port {self.port}") from None
                time.sleep(0.05)

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None
        if self._fake is not None:
            self._fake.shutdown()  # type: ignore[attr-defined]
            self._fake.server_close()  # type: ignore[attr-defined]
            self._fake = None
        shutil.rmtree(self.dir, ignore_errors=True)


def _fake_request_handler() -> type[socketserver.BaseRequestHandler]:
    """A request handler for fakeredis' TCP server that behaves like Redis where Celery and this project need it.

    fakeredis 2.40's own handler (fakeredis/_clients/_tcp_server.py) has three faults that stall or slow jobs here:

    * It closes the connection after any error reply (NOSCRIPT, WRONGTYPE, ...). redis-py's `Script` answers NOSCRIPT
      with SCRIPT LOAD on that same, now closed, connection, so the first run of each Lua script (and whatever came
      after CONFIG GET, which fakeredis lacks) failed with "Connection closed by server": a chunk task failed and its
      job stalled, or a submission got 503. An error reply is an ordinary reply here; the connection stays open.
    * It leaves Nagle's algorithm on. A pipeline's replies go out as separate small writes, so each pipeline (the
      metrics, Kombu's acks) waited ~40 ms on the client's delayed ACK. Redis sets TCP_NODELAY; so does this.
    * It reads with readline() on a non-blocking socket: a binary value arrives in newline-sized pieces that the
      parser concatenates one by one (quadratic: a 1.6 MB SET took 0.3 s), and a reply larger than the socket's send
      buffer fails with BlockingIOError halfway (an 8 MB GET closed the connection). Here the socket stays blocking,
      reads take whatever has arrived, and writes block until the client has taken the reply.
    """
    from fakeredis._clients._tcp_server import TCPFakeRequestHandler, encode_reply
    from fakeredis._typing import RaiseErrorTypes

    poll_interval = 0.01  # as fakeredis: how long a reply pushed without a request (pub/sub) may wait

    class Handler(TCPFakeRequestHandler):
        disable_nagle_algorithm = True

        def setup(self) -> None:
            super().setup()
            self.connection.setblocking(True)  # fakeredis made it non-blocking for its readline() loop

        def handle(self) -> None:
            client = self.current_client
            with selectors.DefaultSelector() as selector:  # not select(): no limit on the descriptor's number
                selector.register(self.connection, selectors.EVENT_READ)
                while not self.server._shutdown_event.is_set():
                    try:
                        if client.can_read():  # a reply to a command, or one pushed (pub/sub)
                            try:
                                reply = client.read_response()
                            except RaiseErrorTypes as error:  # an error reply, not a broken connection
                                reply = error
                            self.wfile.write(encode_reply(reply, self.protocol_version))
                            continue
                        if not selector.select(poll_interval):
                            continue
                        data = self.connection.recv(1 << 20)
                        if not data:  # the client closed the connection
                            break
                        client.get_socket().sendall(data)  # parses and runs every complete command in `data`
                    except OSError:  # the client reset the connection: there is no one left to answer
                        break
                    except Exception as error:  # a protocol error or a fault in fakeredis: report it and hang up
                        with contextlib.suppress(OSError):
                            self.wfile.write(encode_reply(error, self.protocol_version))
                        break

    return Handler
