"""The docker smoke run's view of the compose stack over HTTP: readiness, metrics, and jobs through predq_client.

Submitting, waiting and downloading go through the client library (client/), as every user's do;
plain urllib is left for what the client does not cover (/readyz, /metrics, Flower, synchronous predict).
"""

from __future__ import annotations

import base64
import json
import math
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from predq_client import Client, Job, WaitTimeoutError

from shared.errors import SmokeError

PORTS = {"redis": 16379, "api": 18000, "flower": 15555}
MODEL = "bench-forest"
CHUNKS_SCORED = re.compile(r'^predq_chunks_scored_total\{worker="([^"]+)"\} ([0-9.e+]+)$', re.M)
ROWS_SCORED = re.compile(r'^predq_rows_scored_total\{model="([^"]+)"\} ([0-9.e+]+)$', re.M)
START = time.perf_counter()


def say(message: str) -> None:
    print(f"[{time.perf_counter() - START:6.1f}s] {message}", flush=True)


def check(condition: bool, message: str) -> None:
    if not condition:
        raise SmokeError(message)
    say(f"  ok: {message}")


BASE = f"http://127.0.0.1:{PORTS['api']}"


def http(method: str, path: str, body: Any = None, base: str = BASE, auth: str | None = None,
         timeout: float = 60) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if auth:
        request.add_header("Authorization", "Basic " + base64.b64encode(auth.encode()).decode())
    with urllib.request.urlopen(request, timeout=timeout) as answer:
        raw = answer.read()
    return json.loads(raw) if raw[:1] in (b"{", b"[") else raw.decode()


def readyz() -> dict[str, Any] | None:
    try:
        answer: dict[str, Any] = http("GET", "/readyz", timeout=2)
        return answer
    except urllib.error.HTTPError as exc:
        return {"status": "not ready", **json.loads(exc.read() or b"{}")}
    except (urllib.error.URLError, OSError):
        return None


def wait_for(what: str, probe: Callable[[], bool], timeout: float, every: float = 0.2) -> float:
    started = time.perf_counter()
    while not probe():
        if time.perf_counter() - started > timeout:
            raise SmokeError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(every)
    return time.perf_counter() - started


def workers_alive() -> int:
    ready = readyz()
    return int(ready.get("checks", {}).get("workers", 0)) if ready else 0


def chunks_by_node() -> dict[str, float]:
    text = str(http("GET", "/metrics"))
    return {node: float(value) for node, value in CHUNKS_SCORED.findall(text)}


def rows_scored() -> dict[str, float]:
    """Rows scored by model, each row counted once however often its chunk ran (held chunks included)."""
    text = str(http("GET", "/metrics"))
    return {model: float(value) for model, value in ROWS_SCORED.findall(text)}


def delta(after: dict[str, float], before: dict[str, float]) -> dict[str, int]:
    return {node: int(after[node] - before.get(node, 0)) for node in sorted(after)
            if after[node] - before.get(node, 0) > 0}


def client() -> Client:
    """The predq client on the compose stack's API (one implementation of submit, wait and download)."""
    return Client(BASE, timeout=120)


def submit(rows: list[list[float]], model: str = MODEL) -> Job:
    with client() as predq:
        return predq.submit(rows, model=model)


def wait_job(job_id: str, timeout: float = 300) -> Job:
    with client() as predq:
        try:
            return predq.wait(job_id, timeout=timeout, poll_seconds=10)
        except WaitTimeoutError as exc:
            raise SmokeError(str(exc)) from None


def results_of(job_id: str) -> list[Any]:
    with client() as predq:
        return list(predq.results(job_id, page_rows=100_000))


def expected_results(rows: list[Any], model: str = MODEL, version: str | None = None) -> list[Any]:
    """The same rows through the synchronous endpoint, 1,000 at a time (SYNC_MAX_ROWS)."""
    query = f"?version={version}" if version else ""

    def predict(start: int) -> list[Any]:
        answer = http("POST", f"/models/{model}/predict{query}", {"instances": rows[start:start + 1000]})
        return list(answer["results"])

    with ThreadPoolExecutor(max_workers=4) as pool:
        pages = list(pool.map(predict, range(0, len(rows), 1000)))
    return [result for page in pages for result in page]


def same(a: Any, b: Any) -> bool:
    """Equal, or floats within a rounding error (a regression scored in another chunking)."""
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def check_job(job: Job, rows: list[list[float]], expected: list[Any]) -> list[Any]:
    progress = job.progress
    check(job.status == "succeeded", f"job {job.job_id[:8]}… succeeded "
          f"({progress.chunks_done}/{progress.chunks_total} chunks, {progress.rows_done:,} rows)")
    results = results_of(job.job_id)
    check(len(results) == len(rows), f"{len(results):,} results for {len(rows):,} rows")
    mismatches = sum(not same(a, b) for a, b in zip(results, expected, strict=True))
    check(mismatches == 0, f"every result equals the synchronous prediction of its row ({mismatches} differ)")
    return results
