"""Callbacks over real HTTP: a finished job is POSTed, signed, to its callback_url, retried until taken."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from scripts.stack import LocalStack
from tests.integration.conftest import GATED_MODEL
from tests.integration.support import JOB_TIMEOUT, Api, Gate, gated_rows, start_stack, wait_for

pytestmark = pytest.mark.integration

SECRET = "integration-secret-" + "0123456789" * 3


class Receiver:
    """A local HTTP endpoint that answers the first `failures` POSTs with 503, then 200, keeping each one."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.received: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((dict(self.headers), body))
                self.send_response(503 if len(receiver.received) <= receiver.failures else 200)
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"


def _with_attempts(api: Api, job_id: str, attempts: int) -> dict[str, Any] | None:
    """The job once it lists `attempts` callback attempts; None before."""
    doc = api.job(job_id)
    return doc if len(doc["callbacks"]) >= attempts else None


@pytest.fixture(scope="module")
def callback_stack(stack_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    env = {"CALLBACK_ALLOWED_HOSTS": "127.0.0.1:*", "CALLBACK_PRIVATE_HOSTS": "127.0.0.1",
           "CALLBACK_SECRET": SECRET, "CHUNK_ROWS": "100"}
    with start_stack(LocalStack(workers=1, env=env, model_dir=str(stack_model_dir),
                                log_dir=str(tmp_path_factory.mktemp("callback-logs")))) as running:
        yield running


def test_a_finished_job_is_posted_signed_and_retried_until_taken(callback_stack: LocalStack) -> None:
    receiver = Receiver(failures=1)
    with Api(callback_stack.base_url) as api:
        job = api.submit({"instances": [[5.1, 3.5, 1.4, 0.2]] * 250, "callback_url": receiver.url})
        wait_for(lambda: len(receiver.received) >= 2, JOB_TIMEOUT, "two callback deliveries")
        final = wait_for(lambda: _with_attempts(api, job["job_id"], 2), JOB_TIMEOUT, "both attempts listed on the job")
    headers, body = receiver.received[-1]
    t, v1 = (part.split("=", 1)[1] for part in headers["Predq-Signature"].split(","))
    # No API keys: one tenant, signed with CALLBACK_SECRET itself, as the contract says (with keys, each key's
    # own secret: tests/unit/test_callbacks.py).
    assert v1 == hmac.new(SECRET.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    delivered = json.loads(body)
    assert delivered["job_id"] == job["job_id"] and delivered["status"] == "succeeded"
    assert delivered["results"] == final["results"]
    assert [(c["attempt"], c["status_code"], c["url"]) for c in final["callbacks"]] == [
        (1, 503, receiver.url), (2, 200, receiver.url)]
    receiver.server.shutdown()


def test_a_cancelled_job_is_posted_once(callback_stack: LocalStack, gate: Gate) -> None:
    receiver = Receiver(failures=0)
    gate.close()  # the job cannot end before the cancel
    try:
        with Api(callback_stack.base_url) as api:
            job = api.submit({"model": GATED_MODEL, "instances": gated_rows(300), "callback_url": receiver.url})
            assert api.delete(f"/jobs/{job['job_id']}").status_code == 200
            gate.open()
            wait_for(lambda: receiver.received, JOB_TIMEOUT, "the cancel's callback")
            final = wait_for(lambda: _with_attempts(api, job["job_id"], 1), JOB_TIMEOUT, "the attempt listed")
    finally:
        gate.open()
    assert json.loads(receiver.received[0][1])["status"] == "cancelled"
    assert len(receiver.received) == 1 and final["callbacks"][0]["status_code"] == 200
    receiver.server.shutdown()
