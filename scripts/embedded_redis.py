"""A Redis for the local stack and the tests: `redis-server` when on PATH, else fakeredis over TCP."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import redis


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class EmbeddedRedis:
    """A private Redis on a free port, never one that holds someone's data."""

    def __init__(self, port: int | None = None, appendonly: bool = False, prefer_fake: bool = False) -> None:
        self.port = port or free_port()
        self.appendonly = appendonly
        self.binary = None if prefer_fake else shutil.which("redis-server")
        self.dir = Path(tempfile.mkdtemp(prefix="predq-redis-"))
        self._process: subprocess.Popen[bytes] | None = None
        self._fake: object | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def kind(self) -> str:
        return f"redis-server ({self.binary})" if self.binary else "embedded fake Redis (fakeredis)"

    def start(self) -> EmbeddedRedis:
        if self.binary:
            self._start_server()
        else:
            self._start_fake()
        self._wait_until_up()
        return self

    def _start_server(self) -> None:
        args = [self.binary or "redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "yes" if self.appendonly else "no", "--dir", str(self.dir),
                "--maxmemory-policy", "noeviction", "--logfile", str(self.dir / "redis.log")]
        self._process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def _start_fake(self) -> None:
        from fakeredis import TcpFakeServer

        server = TcpFakeServer(("127.0.0.1", self.port), server_type="redis")
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, name="fake-redis", daemon=True).start()
        self._fake = server

    def _wait_until_up(self, timeout: float = 10.0) -> None:
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
