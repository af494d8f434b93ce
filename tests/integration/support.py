"""Helpers for the integration tests: an HTTP client, stack start-up, reference predictions, Redis traces."""

from __future__ import annotations

import contextlib
import functools
import math
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar, cast

import numpy as np
import redis
import requests
from predq_client import Client, WaitTimeoutError
from prometheus_client.parser import text_string_to_metric_families

from scripts.stack import LocalStack
from shared import artifacts, workers
from shared.ingest import INGESTING, submission_key
from shared.keys import key
from shared.queue import lane_queues
from shared.registry import read_entry
from shared.scheduler import SCHEDULED
from shared.settings import Settings
from tests.models import GATE_SENTINEL, gate_path

TERMINAL = frozenset({"succeeded", "failed", "cancelled"})
PROBLEM_TYPE = "application/problem+json"
HTTP_TIMEOUT = 60.0
JOB_TIMEOUT = 180.0
"""A liveness bound for waits (jobs ending, queues draining): seconds on an idle machine, far more under load."""
QUEUE_NAME = Settings().queue_name
"""The small lane's Celery queue, where chunk messages sent by task name alone wait too."""

LANES = tuple(lane_queues(Settings()).values())
"""Every lane's Celery queue."""

UNACKED = "unacked"
"""kombu's Redis transport keeps messages a worker holds (taken, not yet acknowledged) in this hash."""

TRACE_PATTERNS = (key("job", "*"), key("owner", "*"), key("idem", "*"))
"""Keys a submission may create; workers write heartbeat and metrics keys concurrently, so those are left out."""

T = TypeVar("T")


# --------------------------------------------------------------------------- the stack
@contextlib.contextmanager
def start_stack(stack: LocalStack, timeout: float = 90.0) -> Iterator[LocalStack]:
    """Start `stack`, wait until every worker stamps itself alive, and always stop it afterwards."""
    try:
        stack.start(timeout)
        wait_for(lambda: _workers_alive(stack) >= stack.workers, timeout,
                 f"{stack.workers} workers alive in /readyz (logs in {stack.log_dir})")
        yield stack
    finally:
        stack.stop()


def _workers_alive(stack: LocalStack) -> int:
    try:
        answer = requests.get(stack.base_url + "/readyz", timeout=5)
        return int(answer.json().get("checks", {}).get("workers", 0))
    except (requests.RequestException, ValueError):
        return 0


def wait_for(predicate: Callable[[], T | None], timeout: float, what: str, pause: float = 0.05) -> T:
    """Poll `predicate` until it answers something truthy; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(pause)


# --------------------------------------------------------------------------- holding work
class Gate:
    """While the file exists, every chunk of the `gated` model (tests.models.GatedModel) holding a row that starts
    with GATE_SENTINEL + `number` waits: work stays running, and jobs behind it queued, exactly as long as a test
    needs."""

    def __init__(self, gate: Path, number: int = 0) -> None:
        self.number = number
        self.path = Path(gate_path(str(gate), number))

    def close(self) -> None:
        self.path.touch()

    def open(self) -> None:
        self.path.unlink(missing_ok=True)


def gated_rows(n: int, held: bool = True, gate: int = 0) -> list[list[float]]:
    """`n` rows of the `gated` model; `held` rows wait while gate number `gate` is closed. Each answers its sum."""
    first = GATE_SENTINEL + gate if held else 1.0
    return [[first, float(i), 0.5, -1.0] for i in range(n)]


def wait_held(client: redis.Redis, chunks: set[tuple[str, int]], timeout: float = JOB_TIMEOUT) -> None:
    """Until live workers hold every one of `chunks` (by their heartbeats)."""
    wait_for(lambda: chunks <= (workers.held_chunks(client) or set()), timeout, f"workers to hold {sorted(chunks)}")


# --------------------------------------------------------------------------- bodies in progress
class PausedUpload(threading.Thread):
    """POSTs a CSV body in two parts, the second sent only once `resume()` is called: the API holds a body it
    is still reading, for as long as a test needs."""

    def __init__(self, url: str, first: bytes, second: bytes) -> None:
        super().__init__(name="paused-upload", daemon=True)
        self.url, self.first, self.second = url, first, second
        self._resume = threading.Event()
        self.answer: requests.Response | None = None
        self.error: Exception | None = None

    def _body(self) -> Iterator[bytes]:
        yield self.first
        self._resume.wait(JOB_TIMEOUT)
        yield self.second

    def run(self) -> None:
        try:
            self.answer = requests.post(self.url, data=self._body(), headers={"Content-Type": "text/csv"},
                                        timeout=HTTP_TIMEOUT)
        except requests.RequestException as exc:
            self.error = exc

    def resume(self) -> None:
        self._resume.set()


def submission_in_progress(client: redis.Redis) -> str | None:
    """The id of the one submission being read (the INGESTING set), once its first chunks are stored."""
    found = cast(list[bytes], client.zrange(INGESTING, 0, -1))
    return found[0].decode() if found and client.hget(submission_key(found[0].decode()), "chunks") else None


def keys_of(client: redis.Redis, job_id: str) -> list[bytes]:
    """Every key that names the job, and its entry among the submissions in progress."""
    found = list(client.scan_iter(match=f"*{job_id}*", count=1000))
    if client.zscore(INGESTING, job_id) is not None:
        found.append(INGESTING.encode())
    return found


def iris_csv(rows: int) -> bytes:
    """`rows` lines of iris-shaped CSV (no header): about 16 bytes each."""
    return b"".join(b"5.1,3.5,1.4,0.2\n" for _ in range(rows))


# --------------------------------------------------------------------------- HTTP
class Api:
    """A stack's HTTP API: raw requests for checks of statuses and headers, and the predq client library
    (predq_client, the one implementation of submit, wait and download) for waiting and results."""

    def __init__(self, base_url: str, api_key: str | None = None) -> None:
        self.base = base_url.rstrip("/")
        self.session = requests.Session()
        if api_key:
            self.session.headers["Authorization"] = f"Bearer {api_key}"
        self.client = Client(self.base, api_key, retry_seconds=JOB_TIMEOUT)

    def __enter__(self) -> Api:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self.session.close()
        self.client.close()

    def request(self, method: str, path: str, **kw: Any) -> requests.Response:
        kw.setdefault("timeout", HTTP_TIMEOUT)
        url = path if path.startswith("http") else self.base + path
        return self.session.request(method, url, **kw)

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> requests.Response:
        return self.request("POST", path, **kw)

    def delete(self, path: str, **kw: Any) -> requests.Response:
        return self.request("DELETE", path, **kw)

    def post_raw(self, body: bytes | Iterable[bytes], content_type: str | None, path: str = "/jobs",
                 **kw: Any) -> requests.Response:
        headers = dict(kw.pop("headers", {}))
        if content_type is not None:
            headers["Content-Type"] = content_type
        return self.post(path, data=body, headers=headers, **kw)

    def submit(self, doc: dict[str, Any]) -> dict[str, Any]:
        """POST /jobs with a JSON body; the accepted job resource (checked against the contract's 202)."""
        return accepted(self.post("/jobs", json=doc))

    def job(self, job_id: str, **params: Any) -> dict[str, Any]:
        answer = self.get(f"/jobs/{job_id}", params=params)
        assert answer.status_code == 200, describe(answer)
        body: dict[str, Any] = answer.json()
        return body

    def wait(self, job_id: str, timeout: float = JOB_TIMEOUT) -> dict[str, Any]:
        """Long-poll the job until it is terminal; its final resource."""
        try:
            return self.client.wait(job_id, timeout=timeout).raw
        except WaitTimeoutError as exc:
            raise AssertionError(str(exc)) from None

    def run(self, doc: dict[str, Any], timeout: float = JOB_TIMEOUT) -> dict[str, Any]:
        """Submit, wait, and require success; the final job resource."""
        job = self.wait(self.submit(doc)["job_id"], timeout)
        assert job["status"] == "succeeded", f"job ended {job['status']}: {job['error']}"
        return job

    def results(self, job_id: str, limit: int = 1000) -> list[Any]:
        """Every result row, paged through /results `limit` rows at a time."""
        return list(self.client.results(job_id, page_rows=limit))

    def metrics(self) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        """GET /metrics as {(sample name, labels): value}."""
        answer = self.get("/metrics")
        assert answer.status_code == 200, describe(answer)
        samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
        for family in text_string_to_metric_families(answer.text):
            for sample in family.samples:
                samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
        return samples


def describe(answer: requests.Response, limit: int = 500) -> str:
    """One line about an answer, for assertion messages."""
    text = answer.text if len(answer.text) <= limit else answer.text[:limit] + "…"
    return (f"{answer.request.method} {answer.request.url} -> {answer.status_code} "
            f"[{answer.headers.get('Content-Type')}] {text}")


def accepted(answer: requests.Response) -> dict[str, Any]:
    assert answer.status_code == 202, describe(answer)
    job: dict[str, Any] = answer.json()
    assert answer.headers["Location"] == f"/jobs/{job['job_id']}"
    assert job["status"] == "queued"
    return job


def assert_problem(answer: requests.Response, status: int) -> dict[str, Any]:
    """The answer is an RFC 9457 problem with `status`; its body."""
    assert answer.status_code == status, describe(answer)
    assert answer.headers.get("Content-Type", "").split(";")[0] == PROBLEM_TYPE, describe(answer)
    problem: dict[str, Any] = answer.json()
    for name in ("type", "title", "status", "detail"):
        assert name in problem, f"problem without {name!r}: {problem}"
    assert problem["status"] == status, problem
    return problem


def metric(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    """One sample's value (0 when absent)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


# --------------------------------------------------------------------------- reference predictions
@functools.cache
def estimator(model_dir: str, name: str, version: str) -> Any:
    """The fitted estimator in <model_dir>/<name>/<version>/ (the file its descriptor names), loaded once."""
    return artifacts.read(read_entry(name, int(version), Path(model_dir) / name / version).path, None)


def reference(model_dir: str | Path, name: str, version: str, method: str, X: np.ndarray) -> list[Any]:
    """`method` of the model file itself on `X`, as JSON values."""
    values: list[Any] = getattr(estimator(str(model_dir), name, str(version)), method)(X).tolist()
    return values


def reference_classes(model_dir: str | Path, name: str, version: str) -> list[Any]:
    """The classes of the model file, in its own order."""
    classes: list[Any] = estimator(str(model_dir), name, str(version)).classes_.tolist()
    return classes


def to_matrix(rows: list[Any], features: list[str]) -> np.ndarray:
    """JSON rows (arrays or objects, None for missing) as the float array the model takes."""
    matrix = [[row[f] for f in features] if isinstance(row, dict) else row for row in rows]
    return np.array([[math.nan if v is None else v for v in row] for row in matrix], dtype=np.float64)


def same(got: Any, want: Any) -> bool:
    if isinstance(want, list):
        return isinstance(got, list) and len(got) == len(want) and all(map(same, got, want))
    if isinstance(want, float) or isinstance(got, float):
        return isinstance(got, (int, float)) and math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-12)
    return bool(got == want) and type(got) is type(want)


def assert_same_results(got: list[Any], want: list[Any]) -> None:
    """Row by row, naming the first row that differs."""
    assert len(got) == len(want), f"{len(got)} results for {len(want)} rows"
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        assert same(g, w), f"row {i}: expected {w!r}, got {g!r}"


# --------------------------------------------------------------------------- Redis
def trace(client: redis.Redis) -> tuple[frozenset[bytes], int]:
    """The submission keys in Redis and the chunk queue's length."""
    keys = frozenset(k for pattern in TRACE_PATTERNS for k in client.scan_iter(match=pattern, count=1000))
    return keys, sum(int(client.llen(lane)) for lane in LANES)


def queue_idle(client: redis.Redis) -> bool:
    """No chunk message waiting in a lane or the fair scheduler, and none held by a worker."""
    return (all(client.llen(lane) == 0 for lane in LANES) and client.hlen(UNACKED) == 0
            and int(client.get(SCHEDULED) or 0) <= 0)


def wait_queue_idle(client: redis.Redis, timeout: float = JOB_TIMEOUT) -> None:
    wait_for(lambda: queue_idle(client), timeout, "the chunk queue to drain")


@contextlib.contextmanager
def leaves_no_trace(client: redis.Redis) -> Iterator[None]:
    """The block writes no job, owner or idempotency key and enqueues nothing."""
    wait_queue_idle(client)
    before = trace(client)
    yield
    after = trace(client)
    new, gone = sorted(after[0] - before[0]), sorted(before[0] - after[0])
    assert not new and not gone, f"{len(new)} new keys {new[:5]}…, {len(gone)} gone {gone[:5]}…"
    assert after[1] == before[1], f"the queue went from {before[1]} to {after[1]} messages"
