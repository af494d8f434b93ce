"""shared/logs.py: JSON and text lines, the bound context, and the settings that choose them."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient

from shared import logs
from shared.settings import Settings, SettingsError


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    logs.clear()  # what earlier tests in this thread bound
    logs.configure(Settings.from_env({"LOG_LEVEL": "DEBUG"}), stream)
    yield stream
    logs.clear()
    logs.configure(Settings())


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines_carry_the_bound_context_and_extra_fields(captured: io.StringIO) -> None:
    with logs.bound(job_id="j1", chunk=3):
        logging.getLogger("predq.test").info("scored %d rows", 7, extra={"rows": 7})
    logging.getLogger("predq.test").warning("outside")
    first, second = lines(captured)
    assert first["message"] == "scored 7 rows" and first["level"] == "INFO" and first["logger"] == "predq.test"
    assert (first["job_id"], first["chunk"], first["rows"]) == ("j1", 3, 7)
    assert "job_id" not in second and str(second["time"]).endswith("+00:00")


def test_a_field_passed_by_the_call_wins_over_the_context(captured: io.StringIO) -> None:
    with logs.bound(job_id="outer"):
        logging.getLogger("predq.test").info("x", extra={"job_id": "inner"})
    assert lines(captured)[0]["job_id"] == "inner"


def test_text_lines_read_as_text_with_the_context_appended() -> None:
    stream = io.StringIO()
    logs.configure(Settings.from_env({"LOG_FORMAT": "text"}), stream)
    try:
        with logs.bound(request_id="r1"):
            logging.getLogger("predq.test").info("hello")
    finally:
        logs.configure(Settings())
    line = stream.getvalue().strip()
    assert " INFO predq.test: hello request_id=r1" in line
    with pytest.raises(ValueError):
        json.loads(line)


@pytest.mark.parametrize(("name", "value"), [("LOG_LEVEL", "LOUD"), ("LOG_LEVEL", ""), ("LOG_FORMAT", "xml")])
def test_malformed_log_settings_are_refused_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: value})


def test_log_level_is_read_in_any_case() -> None:
    assert Settings.from_env({"LOG_LEVEL": "debug"}).log_level == "debug"


def test_configure_replaces_its_own_handler_only() -> None:
    other = logging.NullHandler()
    root = logging.getLogger()
    root.addHandler(other)
    try:
        logs.configure(Settings())
        logs.configure(Settings())
        assert sum(isinstance(h, logs.LineHandler) for h in root.handlers) == 1
        assert other in root.handlers
    finally:
        root.removeHandler(other)


def test_the_api_returns_the_request_id_it_was_given_or_made(client: FlaskClient) -> None:
    assert client.get("/healthz", headers={"X-Request-ID": "abc-1"}).headers["X-Request-ID"] == "abc-1"
    made = client.get("/healthz").headers["X-Request-ID"]
    assert len(made) == 32 and made != client.get("/healthz").headers["X-Request-ID"]
    assert client.get("/nowhere", headers={"X-Request-ID": "x" * 200}).headers["X-Request-ID"] != "x" * 200


def test_the_api_logs_one_line_per_request_with_its_route_template(client: FlaskClient,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="api.requests"):
        client.get("/jobs/abc", headers={"X-Request-ID": "req-9"})
    (record,) = [r for r in caplog.records if r.name == "api.requests"]
    assert (record.method, record.route, record.status) == ("GET", "/jobs/<job_id>", 404)  # type: ignore[attr-defined]
    assert record.request_id == "req-9" and record.job_id == "abc"  # type: ignore[attr-defined]
