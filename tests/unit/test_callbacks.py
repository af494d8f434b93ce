"""Callbacks: signed like the contract says, queued once when a job with a callback_url ends."""

from __future__ import annotations

import hashlib
import hmac
import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import fakeredis
import pytest
from flask import Flask
from flask.testing import FlaskClient

from api import create_app
from shared.callbacks import CallbackRefusedError, backoff_seconds, destination, post, signature
from shared.callbacks import refusal as callback_refusal
from shared.errors import SettingsError
from shared.services import build_services
from shared.settings import Settings
from tests.conftest import RecordingQueue, chunk_runner

IRIS_ROW = [5.1, 3.5, 1.4, 0.2]


def test_signature_is_hmac_sha256_of_time_dot_body() -> None:
    body = b'{"job_id": "x"}'
    header = signature(body, "s3cret", 1_700_000_000)
    t, v1 = (part.split("=", 1)[1] for part in header.split(","))
    assert t == "1700000000"
    assert v1 == hmac.new(b"s3cret", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert signature(body, "other", 1_700_000_000) != header


def test_backoff_doubles() -> None:
    assert [backoff_seconds(a) for a in (1, 2, 3, 4)] == [2, 4, 8, 16]


@pytest.fixture
def callback_app(settings: Settings, queue: RecordingQueue) -> Flask:
    allowed = Settings.from_env({"MODEL_DIR": settings.model_dir, "CHUNK_ROWS": "4",
                                 "CALLBACK_ALLOWED_HOSTS": "hooks.example.com",
                                 "CALLBACK_SECRET": "s3cret-" + "x" * 32})
    client = fakeredis.FakeRedis(server=fakeredis.FakeServer())
    return create_app(services=build_services(allowed, client, queue))


def test_an_allowed_callback_is_accepted_and_listed_empty(callback_app: Flask) -> None:
    answer = callback_app.test_client().post(
        "/jobs", json={"instances": [IRIS_ROW], "callback_url": "https://hooks.example.com/predq"})
    assert answer.status_code == 202
    assert answer.get_json()["callbacks"] == []


@pytest.mark.parametrize("url", ["https://evil.example.com/x", "ftp://hooks.example.com/x", "not a url"])
def test_a_callback_outside_the_allowed_hosts_is_422(callback_app: Flask, url: str) -> None:
    answer = callback_app.test_client().post("/jobs", json={"instances": [IRIS_ROW], "callback_url": url})
    assert answer.status_code == 422


def test_with_no_allowed_hosts_every_callback_is_422(client: FlaskClient) -> None:
    answer = client.post("/jobs", json={"instances": [IRIS_ROW], "callback_url": "https://hooks.example.com/x"})
    assert answer.status_code == 422


def test_a_job_without_callback_has_no_callbacks_field(client: FlaskClient) -> None:
    answer = client.post("/jobs", json={"instances": [IRIS_ROW]})
    assert "callbacks" not in answer.get_json()


def test_cancel_queues_the_callback_once(callback_app: Flask, queue: RecordingQueue) -> None:
    web = callback_app.test_client()
    job_id = web.post("/jobs", json={"instances": [IRIS_ROW] * 9,
                                     "callback_url": "https://hooks.example.com/p"}).get_json()["job_id"]
    assert web.delete(f"/jobs/{job_id}").status_code == 200
    assert web.delete(f"/jobs/{job_id}").status_code == 409
    assert queue.callbacks == [(job_id, 1, 0)]


def test_the_chunk_that_finishes_the_job_queues_its_callback_once(
        settings: Settings, queue: RecordingQueue) -> None:
    allowed = Settings.from_env({"MODEL_DIR": settings.model_dir, "CHUNK_ROWS": "4",
                                 "CALLBACK_ALLOWED_HOSTS": "hooks.example.com",
                                 "CALLBACK_SECRET": "y" * 32})
    client = fakeredis.FakeRedis(server=fakeredis.FakeServer())
    app = create_app(services=build_services(allowed, client, queue))
    job_id = app.test_client().post("/jobs", json={"instances": [IRIS_ROW] * 9,
                                                   "callback_url": "http://hooks.example.com/p"}).get_json()["job_id"]
    run: Callable[[], list[str]] = chunk_runner(app.extensions["predq"], queue)
    messages = list(queue.messages)
    assert run() == ["recorded", "recorded", "finished"]
    queue.messages.extend(messages)  # every chunk delivered again: no second callback
    assert run() == ["ended"] * 3
    assert queue.callbacks == [(job_id, 1, 0)]


def test_callbacks_allowed_with_a_short_secret_refuse_to_start() -> None:
    with pytest.raises(SettingsError, match="CALLBACK_SECRET"):
        Settings.from_env({"CALLBACK_ALLOWED_HOSTS": "hooks.example.com", "CALLBACK_SECRET": "short"})


@pytest.mark.parametrize("url", ["http://127.0.0.1/x", "http://localhost:8080/x", "http://169.254.169.254/latest",
                                 "http://10.1.2.3/", "http://[::1]/", "http://192.168.0.1/", "http://0.0.0.0/",
                                 "https://h.example/" + "a" * 3000])
def test_callbacks_to_non_public_addresses_or_long_urls_are_refused(url: str) -> None:
    assert callback_refusal(url, frozenset()) is not None


def test_a_host_allowed_private_explicitly_is_not_refused() -> None:
    assert callback_refusal("http://127.0.0.1:9999/x", frozenset({"127.0.0.1"})) is None


def test_a_redirect_is_not_followed() -> None:
    class Redirecting(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.send_response(302)
            self.send_header("Location", "http://127.0.0.1:1/elsewhere")
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Redirecting)
    threading.Thread(target=server.handle_request, daemon=True).start()
    try:
        to = destination(f"http://127.0.0.1:{server.server_port}/hook", frozenset({"127.0.0.1"}))
        assert post(to, b"{}", "k" * 32) == 302
    finally:
        server.server_close()


def test_callbacks_have_their_own_queue_taken_after_both_lanes(settings: Settings) -> None:
    from shared.queue import callback_queue, lane_queues, make_celery

    names = [q.name for q in make_celery(settings).conf.task_queues]
    assert names == [*lane_queues(settings).values(), callback_queue(settings)]


def test_each_key_signs_with_its_own_secret_which_the_operator_command_prints(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from api.auth import owner_of
    from scripts import callback_secret
    from shared.callbacks import key_secret

    master = "m" * 40
    assert key_secret(master, owner_of("key-a")) != key_secret(master, owner_of("key-b"))
    monkeypatch.setenv("CALLBACK_SECRET", master)
    assert callback_secret.main([], stdin="key-a\n") == 0
    assert capsys.readouterr().out.strip() == key_secret(master, owner_of("key-a"))
    monkeypatch.setenv("CALLBACK_SECRET", "short")
    assert callback_secret.main([], stdin="key-a\n") == 2


class RecordingReceiver(BaseHTTPRequestHandler):
    """Answers 204 and keeps each request's Host header and path."""

    seen: ClassVar[list[tuple[str, str]]] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        RecordingReceiver.seen.append((self.headers["Host"], self.path))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        pass


def test_the_post_goes_to_the_address_checked_even_when_dns_answers_a_private_one_next(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """DNS rebinding: the first answer (checked) is public, every later one private. predq resolves once and
    connects to the checked address, so the later answer is never asked for, let alone used."""
    public = "93.184.215.14"
    answers: list[str] = []

    def rebinding_resolver(host: str, port: int, **_: Any) -> list[tuple[Any, ...]]:
        answer = public if not answers else "127.0.0.1"
        answers.append(answer)
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (answer, port))]

    server = HTTPServer(("127.0.0.1", 0), RecordingReceiver)
    threading.Thread(target=server.handle_request, daemon=True).start()
    connected: list[tuple[str, int]] = []
    real_connect = socket.create_connection

    def route_the_public_address_here(address: tuple[str, int], *args: Any, **kw: Any) -> socket.socket:
        connected.append(address)  # where predq asked to go; the test's network sends it to the local receiver
        assert address[0] == public, "a connection to anything but the checked address"
        return real_connect(("127.0.0.1", server.server_port), *args, **kw)

    monkeypatch.setattr("shared.callback_http.socket.create_connection", route_the_public_address_here)
    RecordingReceiver.seen = []
    try:
        to = destination(f"http://hooks.example.com:{server.server_port}/hook?job=1", frozenset(),
                         resolve=rebinding_resolver)
        assert to.address == public
        assert post(to, b"{}", "k" * 32) == 204
    finally:
        server.server_close()
    assert answers == [public]  # resolved once
    assert connected == [(public, server.server_port)]
    assert RecordingReceiver.seen == [(f"hooks.example.com:{server.server_port}", "/hook?job=1")]


def test_a_host_with_any_non_public_answer_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    def mixed(host: str, port: int, **_: Any) -> list[tuple[Any, ...]]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in ("93.184.215.14", "10.0.0.5")]

    with pytest.raises(CallbackRefusedError, match="non-public"):
        destination("https://hooks.example.com/x", frozenset(), resolve=mixed)


def test_https_destinations_keep_the_host_name_for_sni_and_the_certificate() -> None:
    from shared.callback_http import PinnedHTTPSConnection, pinned_connection

    connection = pinned_connection("https", "hooks.example.com", 443, "93.184.215.14", 5.0)
    assert isinstance(connection, PinnedHTTPSConnection)
    assert (connection.host, connection.address) == ("hooks.example.com", "93.184.215.14")
    assert connection.tls.check_hostname and connection.tls.verify_mode == ssl.CERT_REQUIRED


def test_a_host_allowed_private_is_pinned_to_its_address_too() -> None:
    assert destination("http://127.0.0.1:9/x", frozenset({"127.0.0.1"})).address == "127.0.0.1"


@pytest.fixture
def certificates(tmp_path: Path) -> Callable[[str], tuple[Path, Path]]:
    """make(name) -> (certificate, key): a self-signed certificate for `name`, made with the openssl command."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not on PATH")

    def make(name: str) -> tuple[Path, Path]:
        cert, key = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                        "-nodes", "-days", "1", "-subj", f"/CN={name}", "-addext", f"subjectAltName=DNS:{name}",
                        "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
        return cert, key

    return make


def tls_receiver(cert: Path, key: Path, names: list[str | None]) -> HTTPServer:
    """An HTTPS receiver on 127.0.0.1 answering 204, keeping the SNI name of each handshake."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    context.sni_callback = lambda _sock, name, _ctx: names.append(name)
    server = HTTPServer(("127.0.0.1", 0), RecordingReceiver)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.handle_request, daemon=True).start()
    return server


def test_https_to_the_pinned_address_names_the_host_in_sni_and_checks_its_certificate(
        certificates: Callable[[str], tuple[Path, Path]]) -> None:
    from shared.callback_http import pinned_connection

    cert, key = certificates("hooks.example.com")
    names: list[str | None] = []
    server = tls_receiver(cert, key, names)
    trusting = ssl.create_default_context(cafile=str(cert))  # as the system CAs would trust a real certificate
    RecordingReceiver.seen = []
    # hooks.example.com is never resolved: the connection goes to 127.0.0.1, the address it was given.
    connection = pinned_connection("https", "hooks.example.com", server.server_port, "127.0.0.1", 5.0, trusting)
    try:
        connection.request("POST", "/hook", body=b"{}")
        assert connection.getresponse().status == 204
    finally:
        connection.close()
        server.server_close()
    assert names == ["hooks.example.com"]
    assert RecordingReceiver.seen == [(f"hooks.example.com:{server.server_port}", "/hook")]


def test_https_to_the_pinned_address_refuses_a_certificate_for_another_name(
        certificates: Callable[[str], tuple[Path, Path]]) -> None:
    from shared.callback_http import pinned_connection

    cert, key = certificates("other.example.com")
    server = tls_receiver(cert, key, [])
    connection = pinned_connection("https", "hooks.example.com", server.server_port, "127.0.0.1", 5.0,
                                   ssl.create_default_context(cafile=str(cert)))
    try:
        with pytest.raises(ssl.SSLCertVerificationError):
            connection.request("POST", "/hook", body=b"{}")
    finally:
        connection.close()
        server.server_close()
