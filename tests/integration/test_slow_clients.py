"""One client cannot starve the API: over real gunicorn (the repo's gunicorn.conf.py), with a tiny thread pool."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import redis
import requests

from scripts.stack import LocalStack
from tests.integration.conftest import GATED_MODEL
from tests.integration.support import Api, Gate, assert_problem, describe, gated_rows, start_stack, wait_for

pytestmark = pytest.mark.integration

THREADS = 6
ENV = {"GUNICORN_THREADS": str(THREADS), "MAX_HELD_REQUESTS": "2", "MAX_HELD_REQUESTS_PER_KEY": "2",
       "MAX_UPLOADS": "2", "BODY_READ_TIMEOUT_SECONDS": "3", "BODY_MIN_BYTES_PER_SECOND": "65536"}


@pytest.fixture(scope="module")
def slow_stack(stack_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with start_stack(LocalStack(workers=1, env=ENV, model_dir=str(stack_model_dir), api_workers=1,
                                log_dir=str(tmp_path_factory.mktemp("slow-stack-logs")))) as running:
        yield running


@pytest.fixture(scope="module")
def slow_api(slow_stack: LocalStack) -> Iterator[Api]:
    with Api(slow_stack.base_url) as client:
        yield client


def _connect(base: str) -> socket.socket:
    parts = urlsplit(base)
    sock = socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=60)
    return sock


def _trickle(base: str, head: bytes, stop: threading.Event) -> None:
    """Send `head`, then a byte every 0.1 s; again whenever the server ends the connection."""
    while not stop.is_set():
        try:
            with _connect(base) as sock:
                sock.sendall(head)
                while not stop.wait(0.1):
                    sock.sendall(b"a")
        except OSError:
            stop.wait(0.1)


def test_a_trickling_body_is_cut_off_with_a_408(slow_api: Api) -> None:
    with _connect(slow_api.base) as sock:
        sock.sendall(b"POST /jobs?model=iris HTTP/1.1\r\nHost: t\r\nContent-Type: text/csv\r\n"
                     b"Content-Length: 1000000\r\n\r\nsepal_length,")
        answer = b""
        while b"\r\n" not in answer:
            try:
                sock.sendall(b"5")
                sock.settimeout(0.2)
                answer += sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                break
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]


def _answer(sock: socket.socket) -> bytes:
    """One answer's status line and headers, then its body read by Content-Length; b"" when the server closed."""
    received = b""
    with contextlib.suppress(OSError):  # a reset is a closed connection
        while b"\r\n\r\n" not in received and (chunk := sock.recv(1 << 16)):
            received += chunk
        head, _, body = received.partition(b"\r\n\r\n")
        length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                       if line.lower().startswith(b"content-length:")), 0)
        while len(body) < length and (chunk := sock.recv(1 << 16)):
            body += chunk
    return received


def test_a_body_refused_part_way_never_leaks_into_the_next_request(slow_api: Api) -> None:
    """The API stops reading a CSV at its bad header, MBs before the body ends: the rest is drained (or the
    connection closed), never read as the next request on the connection."""
    body = b"no_such_column,b,c,d\n" + b"1,2,3,4\n" * 800_000  # 6.4 MB: blocks past the header
    head = (b"POST /jobs?model=iris HTTP/1.1\r\nHost: t\r\nContent-Type: text/csv\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n")
    with _connect(slow_api.base) as sock:
        sock.settimeout(10)
        with contextlib.suppress(OSError):  # the server may close rather than drain: then nothing more comes
            sock.sendall(head + body)
        first = _answer(sock)
        with contextlib.suppress(OSError):
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        second = _answer(sock)
    assert first.startswith(b"HTTP/1.1 422"), first[:300]
    assert second == b"" or second.startswith(b"HTTP/1.1 200"), second[:300]


def test_a_body_trickled_after_its_refusal_does_not_hold_a_thread(slow_api: Api) -> None:
    """A model that does not exist is a 404 before the body is read; the unread body is then drained for at
    most DRAIN_SECONDS (0.25 s) whatever the client does. Here it trickles a byte every 50 ms: the server must
    close the connection long before the 1 KiB that gunicorn's own drain reads at a time (51 s of trickle)."""
    with _connect(slow_api.base) as sock:
        sock.sendall(b"POST /models/no-such-model/predict HTTP/1.1\r\nHost: t\r\nContent-Type: text/csv\r\n"
                     b"Content-Length: 1000000\r\n\r\nsepal_length")
        assert _answer(sock).startswith(b"HTTP/1.1 404"), "the refusal comes before the body is read"
        sent, closed = 0, False
        while sent < 200 and not closed:
            try:
                sock.sendall(b"5")
                sent += 1
                sock.settimeout(0.05)
                closed = sock.recv(1) == b""
            except TimeoutError:
                continue
            except OSError:  # reset: closed as well
                closed = True
    assert closed, f"still open after {sent} trickled bytes"
    assert sent < 100, sent  # 0.25 s of drain is 5 bytes here; 100 leaves room for a slow machine


def test_clients_trickling_headers_or_bodies_do_not_stop_healthz(slow_api: Api) -> None:
    """Three times as many tricklers as threads: the process still answers, because headers are read without a
    thread, bodies past MAX_UPLOADS are refused before they are read, and trickles are cut off."""
    stop = threading.Event()
    heads = [b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Slow: ",
             b"POST /jobs?model=iris HTTP/1.1\r\nHost: t\r\nContent-Type: text/csv\r\nContent-Length: 1000000\r\n\r\n"]
    threads = [threading.Thread(target=_trickle, args=(slow_api.base, heads[i % 2], stop), daemon=True)
               for i in range(3 * THREADS)]
    for t in threads:
        t.start()
    try:
        for _ in range(5):
            answer = requests.get(slow_api.base + "/healthz", timeout=30)
            assert answer.status_code == 200, describe(answer)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=10)


def _submitted(api: Api) -> str | None:
    """The id of a new gated job, or None while MAX_UPLOADS places are still taken (503)."""
    answer = api.post("/jobs", json={"model": GATED_MODEL, "instances": gated_rows(3)})
    if answer.status_code == 503:
        return None
    assert answer.status_code == 202, describe(answer)
    job_id: str = answer.json()["job_id"]
    return job_id


def test_past_the_cap_long_polls_answer_at_once_and_streams_are_429(slow_api: Api, slow_stack: LocalStack,
                                                                     gate: Gate) -> None:
    client = redis.Redis.from_url(slow_stack.redis_url)
    gate.close()
    try:
        job_id = wait_for(lambda: _submitted(slow_api), 60, "an upload place (tricklers' places freed)")
        with ThreadPoolExecutor(2) as pool:
            waiting = [pool.submit(slow_api.get, f"/jobs/{job_id}?wait=60") for _ in range(2)]
            wait_for(lambda: client.zcard("predq:held:public") == 2, 30, "two long polls held")
            now = slow_api.get(f"/jobs/{job_id}?wait=60")  # answered while the gate is still closed
            assert now.status_code == 200 and now.json()["status"] in ("queued", "running"), describe(now)
            assert int(now.headers["Retry-After"]) >= 1
            stream = slow_api.get(f"/jobs/{job_id}/results?format=ndjson&follow=true")
            assert_problem(stream, 429)
            gate.open()
            assert all(w.result().json()["status"] == "succeeded" for w in waiting)
        wait_for(lambda: client.zcard("predq:held:public") == 0, 30, "the places given back")
    finally:
        gate.open()
        client.close()
