"""The pieces that keep hosts, paths and URLs out of answers and /metrics (the whole path over real processes:
tests/integration/test_leaks.py)."""

from __future__ import annotations

import json
import socket

from api.wire import problem_bytes
from shared.metrics import public_node
from worker.scoring import public_text


def test_a_worker_node_is_shown_by_name_and_hash_not_by_host() -> None:
    label = public_node(f"w1@{socket.gethostname()}")
    assert label.startswith("w1-") and socket.gethostname() not in label.removeprefix("w1-")
    assert public_node("w1@host-a") != public_node("w1@host-b")  # nodes stay apart


def test_a_models_message_loses_its_urls_paths_and_host_name() -> None:
    text = public_text(RuntimeError(f"redis://:pw@{socket.gethostname()}:6379/0 failed in /srv/models/x.py "
                                    f"on {socket.gethostname()}\nsecond line"))
    assert text == "<url> failed in <path> on <host>"


def test_the_servers_own_refusals_are_problems_that_quote_nothing() -> None:
    head, _, body = problem_bytes(414, "URI Too Long").partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 414 URI Too Long\r\n")
    assert b"Content-Type: application/problem+json" in head and b"X-Content-Type-Options: nosniff" in head
    assert f"Content-Length: {len(body)}".encode() in head
    assert json.loads(body) == {"type": "/problems/http-414", "title": "URI Too Long", "status": 414,
                                "detail": "the request line (method, path and query string) is too long; send "
                                          "parameters in the body"}
