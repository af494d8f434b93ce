"""The command reads PREDQ_URL and PREDQ_API_KEY: a tiny local HTTP stub records what it is sent."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from tests.client.terminal import run_piped

MODELS = {"models": [{"name": "churn", "version": "3", "task": "classification", "features": ["plan"],
                      "methods": ["predict"], "default": True}]}


class Recorder(BaseHTTPRequestHandler):
    seen: ClassVar[list[tuple[str, str | None]]] = []

    def do_GET(self) -> None:
        Recorder.seen.append((self.path, self.headers.get("Authorization")))
        body = json.dumps(MODELS).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def stub_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_the_api_key_comes_from_predq_api_key(stub_url: str) -> None:
    Recorder.seen.clear()
    ran = run_piped(["models", "--json"], stub_url, extra_env={"PREDQ_API_KEY": "team-key-1"})
    assert ran.code == 0, ran.stderr
    assert json.loads(ran.stdout)[0]["name"] == "churn"
    assert Recorder.seen == [("/models", "Bearer team-key-1")]
