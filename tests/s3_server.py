"""A local S3-compatible server for tests of s3:// URIs: moto's standalone server, on a free port.

Tests never reach a real object store; the service under test gets the server's address as S3_ENDPOINT_URL
and dummy credentials in the usual AWS variables, as a deployment would get real ones.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pyarrow.fs as pafs
import requests

from scripts.embedded_redis import free_port

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "predq-test", "AWS_SECRET_ACCESS_KEY": "predq-test-secret",
               "AWS_REGION": "us-east-1"}


@dataclass(frozen=True)
class S3Server:
    endpoint: str

    @property
    def env(self) -> dict[str, str]:
        """What a predq process needs to reach this server."""
        return {**CREDENTIALS, "S3_ENDPOINT_URL": self.endpoint}

    def filesystem(self) -> pafs.S3FileSystem:
        host = self.endpoint.removeprefix("http://")
        return pafs.S3FileSystem(access_key=CREDENTIALS["AWS_ACCESS_KEY_ID"],
                                 secret_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"], region="us-east-1",
                                 endpoint_override=host, scheme="http", allow_bucket_creation=True)

    def create_bucket(self, name: str) -> None:
        self.filesystem().create_dir(name)


@contextmanager
def s3_server(log_dir: Path, timeout: float = 60.0) -> Iterator[S3Server]:
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    log = open(log_dir / "moto.log", "wb")  # noqa: SIM115  (closed below)
    process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                               stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **CREDENTIALS})
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                requests.get(endpoint, timeout=2)
                break
            except requests.RequestException:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto's S3 server did not start (log: {log_dir / 'moto.log'})") from None
                time.sleep(0.1)
        yield S3Server(endpoint)
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()
