"""Errors leak nothing: every answer to a provoked error (bad bodies of every kind, unknown models, a model
that raises with a path, a Redis URL and the host's name in its message, malformed HTTP, Redis down), and
/metrics, are scanned for file paths, Redis URLs, tracebacks, the host name and library messages."""

from __future__ import annotations

import io
import re
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import requests

from scripts.stack import LocalStack
from shared.registry import write_model
from tests.integration.support import JOB_TIMEOUT, TERMINAL, Api, start_stack, wait_for
from tests.models import FailingModel

pytestmark = pytest.mark.integration

API_KEY = "leak-key"
FAILING_MODEL = "failing"
ROW = [5.1, 3.5, 1.4, 0.2]
FEATURES = ("sepal_length", "sepal_width", "petal_length", "petal_width")
JSON_LIMIT = 1 << 20
"""MAX_JSON_BODY_BYTES for this stack: small, so a 413 is cheap to provoke."""

LIBRARY_WORDS = ("Traceback", "pyarrow", "orjson", "Thrift", "_csv", "Errno", "werkzeug", "gunicorn", "celery",
                 "kombu", "File \"", "Exception")
"""Phrases of libraries' own messages: a detail says what was wrong in predq's words."""


@pytest.fixture(scope="module")
def leak_stack(stack_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    models = tmp_path_factory.mktemp("leak-models") / "models"
    shutil.copytree(stack_model_dir, models)
    write_model(models, FAILING_MODEL, 1, FailingModel(), list(FEATURES), False, fmt="joblib")
    env = {"API_KEYS": API_KEY, "MAX_JSON_BODY_BYTES": str(JSON_LIMIT)}
    with start_stack(LocalStack(workers=1, env=env, model_dir=str(models),
                                log_dir=str(tmp_path_factory.mktemp("leak-logs")))) as running:
        yield running


def _forbidden(stack: LocalStack) -> list[re.Pattern[str]]:
    host = socket.gethostname()
    return [re.compile(p) for p in (r"/work\b", r"/tmp\b", r"\w\.py\b", r"redis://", "Traceback",
                                    rf"(?<![\w-]){re.escape(host)}(?![\w-])", re.escape(stack.redis_url.split("//")[1]),
                                    re.escape(stack.model_dir))]


def _assert_clean(stack: LocalStack, what: str, answer: requests.Response) -> None:
    text = answer.text + "\n" + "\n".join(f"{k}: {v}" for k, v in answer.headers.items())
    for pattern in _forbidden(stack):
        assert not pattern.search(text), f"{what}: {answer.status_code} shows {pattern.pattern!r}: {text[:500]}"
    if answer.status_code >= 400:
        assert answer.headers["Content-Type"] == "application/problem+json", f"{what}: {text[:300]}"
        detail = answer.json()["detail"]
        for word in LIBRARY_WORDS:
            assert word not in detail, f"{what}: the detail quotes a library ({word!r}): {detail}"


def _parquet(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def _damaged_parquet() -> bytes:
    data = bytearray(_parquet(pa.table({name: list(range(500)) for name in FEATURES})))
    data[4:60] = bytes(56)
    return bytes(data)


CSV = "text/csv"
NDJSON = "application/x-ndjson"
PARQUET = "application/vnd.apache.parquet"
BAD_REQUESTS: list[tuple[str, str, str, dict[str, object]]] = [
    ("invalid JSON", "POST", "/jobs", {"data": b'{"instances": [1,', "headers": {"Content-Type": "application/json"}}),
    ("bytes that are not UTF-8", "POST", "/jobs", {"data": b'{"instances": "\xff"}',
                                                   "headers": {"Content-Type": "application/json"}}),
    ("JSON nested too deep", "POST", "/jobs", {"data": b"[" * 5000, "headers": {"Content-Type": "application/json"}}),
    ("JSON over MAX_JSON_BODY_BYTES", "POST", "/jobs", {"json": {"instances": [ROW] * (JSON_LIMIT // 10)}}),
    ("ragged CSV", "POST", "/jobs", {"data": b"a,b\n1,2,3\n", "headers": {"Content-Type": CSV}}),
    ("a CSV field past the csv module's limit", "POST", "/jobs",
     {"data": ",".join(FEATURES).encode() + b'\n"' + b"1" * 200_000 + b'",1,1,1\n', "headers": {"Content-Type": CSV}}),
    ("a CSV with a NUL", "POST", "/jobs", {"data": b"a,b\n1\x00,\x002\n", "headers": {"Content-Type": CSV}}),
    ("a bad NDJSON line", "POST", "/jobs", {"data": b"[1,2,3,4]\n{nope\n", "headers": {"Content-Type": NDJSON}}),
    ("Parquet garbage", "POST", "/jobs", {"data": b"PAR1" + b"\x07" * 300 + b"PAR1",
                                          "headers": {"Content-Type": PARQUET}}),
    ("a Parquet file with damaged pages", "POST", "/jobs", {"data": _damaged_parquet(),
                                                            "headers": {"Content-Type": PARQUET}}),
    ("a Parquet column of strings", "POST", "/jobs",
     {"data": _parquet(pa.table({name: ["x"] for name in FEATURES})), "headers": {"Content-Type": PARQUET}}),
    ("an unknown model", "POST", "/jobs", {"json": {"model": "no-such-model", "instances": [ROW]}}),
    ("an unknown version", "POST", "/jobs", {"json": {"version": 99, "instances": [ROW]}}),
    ("an unknown method", "POST", "/jobs", {"json": {"method": "explode", "instances": [ROW]}}),
    ("a refused callback", "POST", "/jobs", {"json": {"callback_url": "http://169.254.169.254/", "instances": [ROW]}}),
    ("an unsupported Content-Type", "POST", "/jobs", {"data": b"x", "headers": {"Content-Type": "text/xml"}}),
    ("an unknown job", "GET", "/jobs/0123456789abcdef0123456789abcdef", {}),
    ("an unknown route", "GET", "/nowhere/../../etc/passwd", {}),
    ("a method the route does not take", "PUT", "/models", {}),
    ("a bad query parameter", "GET", "/jobs", {"params": {"limit": "lots"}}),
    ("an unknown model's page", "GET", "/models/no-such-model", {}),
    ("a sync prediction for a failing model", "POST", f"/models/{FAILING_MODEL}/predict",
     {"json": {"instances": [ROW]}}),
]


@pytest.mark.parametrize(("what", "method", "path", "kwargs"), BAD_REQUESTS, ids=[r[0] for r in BAD_REQUESTS])
def test_a_bad_request_is_answered_without_a_path_url_host_or_library_message(
        leak_stack: LocalStack, what: str, method: str, path: str, kwargs: dict[str, object]) -> None:
    with Api(leak_stack.base_url, api_key=API_KEY) as api:
        answer = api.request(method, path, **kwargs)
    assert answer.status_code < 500, answer.text[:300]
    _assert_clean(leak_stack, what, answer)


def test_a_missing_key_and_a_wrong_key_are_answered_cleanly(leak_stack: LocalStack) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        answer = requests.get(leak_stack.base_url + "/jobs", headers=headers, timeout=30)
        assert answer.status_code == 401
        _assert_clean(leak_stack, f"401 with {headers}", answer)


def test_a_failing_models_job_names_the_model_but_not_what_its_message_held(leak_stack: LocalStack) -> None:
    with Api(leak_stack.base_url, api_key=API_KEY) as api:
        job_id = api.submit({"model": FAILING_MODEL, "instances": [ROW] * 3})["job_id"]
        wait_for(lambda: api.get(f"/jobs/{job_id}").json()["status"] in TERMINAL, JOB_TIMEOUT, "the job to fail")
        answer = api.get(f"/jobs/{job_id}")
        assert answer.json()["status"] == "failed"
        _assert_clean(leak_stack, "the failed job", answer)
        results = api.get(f"/jobs/{job_id}/results")
        assert results.status_code == 409
        _assert_clean(leak_stack, "the failed job's results", results)
        followed = api.get(f"/jobs/{job_id}/results", params={"format": "ndjson", "follow": "true"})
        _assert_clean(leak_stack, "the failed job followed", followed)


def test_malformed_http_is_answered_as_a_problem_without_echoing_it(leak_stack: LocalStack) -> None:
    port = int(leak_stack.base_url.rsplit(":", 1)[1])
    for raw in (b"GARBAGE /etc/passwd.py\r\n\r\n", b"GET / HTTP/1.1\r\nBad Header\r\n\r\n",
                b"GET /" + b"a" * 8000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"):
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.sendall(raw)
            reply = sock.recv(65536).decode("latin-1")
        head, _, body = reply.partition("\r\n\r\n")
        assert head.split()[1].startswith("4") and "application/problem+json" in head, reply[:300]
        assert "passwd" not in body and "Bad Header" not in body and "<html>" not in body


def test_metrics_show_no_path_url_or_host(leak_stack: LocalStack) -> None:
    answer = requests.get(leak_stack.base_url + "/metrics", timeout=30)
    assert answer.status_code == 200 and "predq_chunks_scored_total" in answer.text
    _assert_clean(leak_stack, "/metrics", answer)


def test_with_redis_down_every_answer_is_a_503_or_better_that_leaks_nothing(leak_stack: LocalStack) -> None:
    """Last in this module: it stops the stack's Redis."""
    assert leak_stack.redis is not None
    leak_stack.redis.stop()
    with Api(leak_stack.base_url, api_key=API_KEY) as api:
        for method, path, kwargs in (("GET", "/jobs", {}), ("POST", "/jobs", {"json": {"instances": [ROW]}}),
                                     ("GET", "/jobs/0123456789abcdef0123456789abcdef", {}), ("GET", "/readyz", {}),
                                     ("GET", "/metrics", {}), ("GET", "/models", {}), ("GET", "/healthz", {}),
                                     ("POST", "/models/iris/predict", {"json": {"instances": [ROW]}})):
            answer = api.request(method, path, **kwargs)
            assert answer.status_code in (200, 503), f"{method} {path}: {answer.status_code} {answer.text[:300]}"
            _assert_clean(leak_stack, f"{method} {path} with Redis down", answer)
