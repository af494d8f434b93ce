"""The command against a tiny local HTTP stub: it sends PREDQ_API_KEY, and a 503 past the deadline exits 5."""

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

FULL = {"type": "/problems/unavailable", "title": "Service unavailable", "status": 503,
        "detail": "the job store (Redis) is full; retry later"}


class Recorder(BaseHTTPRequestHandler):
    seen: ClassVar[list[tuple[str, str | None]]] = []

    def do_GET(self) -> None:  # http.server calls handlers by this name
        Recorder.seen.append((self.path, self.headers.get("Authorization")))
        full = self.path.startswith("/jobs/")  # the stub is always full: 503 with Retry-After
        body = json.dumps(FULL if full else MODELS).encode()
        self.send_response(503 if full else 200)
        if full:
            self.send_header("Retry-After", "5")
        self.send_header("Content-Type", "application/problem+json" if full else "application/json")
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


def test_a_503_past_the_retry_deadline_exits_5_with_the_problem(stub_url: str) -> None:
    ran = run_piped(["--retry-seconds", "0", "status", "ab" * 16], stub_url)
    assert ran.code == 5 and "503 Service unavailable: the job store (Redis) is full" in ran.stderr
    assert "Traceback" not in ran.stderr


def test_an_answer_that_is_not_predqs_exits_5_naming_it(stub_url: str) -> None:
    ran = run_piped(["jobs"], stub_url)  # the stub answers /jobs with its model list
    assert ran.code == 5 and "has no 'jobs' list" in ran.stderr and "Traceback" not in ran.stderr
