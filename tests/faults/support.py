"""The fault suite's tools: a stack it can hurt, a client that rides the faults out, and exactly-once audits.

Faults are real signals sent to real processes. Whatever a test does to them, it judges the outcome the way a
client would: every accepted job ends, and every row of every job is answered once, equal to the model's own
`predict` on the same rows.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

import numpy as np
import predq_client
import redis
import requests

from shared.store import done_key, job_key
from tests.integration.support import describe, same, wait_for

FAULT_CHUNK_ROWS = 250
"""Rows per chunk in the fault stacks: a job of a few thousand rows spans many chunks."""

FAULT_SMALL_JOB_ROWS = 2_000
"""Most fault jobs take the bulk lane, so every fault also hits the fair scheduler and its dispatching."""

SLOW_MODEL = "slow-forest"
"""bench-forest, sleeping SLOW_DELAY_SECONDS per chunk, so that a fault lands mid-chunk."""

SLOW_DELAY_SECONDS = 0.3
POISON_MODEL = "poison"
FEATURES = [f"f{i}" for i in range(20)]
POISON_FEATURES = ["f0", "f1", "f2", "f3"]
JOB_DEADLINE = 240.0
"""Every job of a fault test must be terminal within this many seconds of the fault (or of its own start): a
bound on liveness, not a speed figure (a few seconds on an idle machine; the table reports the real times)."""

MISSING = "missing"
"""The status this suite gives a job whose id the API no longer knows (404): all its rows are lost."""

T = TypeVar("T")

until = wait_for
"""Poll until a predicate answers something truthy (the integration suite's helper)."""


def rows(n: int, seed: int, features: int = len(FEATURES)) -> np.ndarray:
    """`n` float64 rows, rounded so that their JSON form is exact."""
    return np.round(np.random.default_rng(seed).normal(0, 1, (n, features)), 3)


def job_doc(X: np.ndarray, model: str = SLOW_MODEL) -> dict[str, Any]:
    return {"model": model, "instances": X.tolist()}


def job_hashes(client: redis.Redis) -> set[str]:
    """The id of every job record in Redis (the predq:job:<id> hashes, not their chunk keys)."""
    found = set()
    for raw in client.scan_iter(match=job_key("*"), count=1000):
        parts = raw.decode().split(":")
        if len(parts) == 3:
            found.add(parts[2])
    return found


# --------------------------------------------------------------------------- HTTP through faults
class Client:
    """HTTP for a stack under faults. Reads ride refused connections and 503s out until a deadline, through the
    predq client library (predq_client, the one implementation of waiting and downloading).

    Submissions are never retried here: a test must know whether each one was accepted.
    """

    def __init__(self, base_url: str) -> None:
        self.base = base_url.rstrip("/")
        self.session = requests.Session()
        self.predq = predq_client.Client(self.base, retry_seconds=JOB_DEADLINE)

    def close(self) -> None:
        self.session.close()
        self.predq.close()

    def post_job(self, doc: dict[str, Any], timeout: float = 30.0) -> requests.Response:
        """One submission on a connection of its own: a kept-alive connection that the server closes just as the
        next request goes out (after a Retry-After as long as its keep-alive) would make the outcome unknown."""
        return self.session.post(self.base + "/jobs", json=doc, timeout=timeout, headers={"Connection": "close"})

    def submit(self, X: np.ndarray, model: str = SLOW_MODEL) -> str:
        """POST /jobs, requiring a 202; the job id."""
        answer = self.post_job(job_doc(X, model))
        assert answer.status_code == 202, describe(answer)
        job_id: str = answer.json()["job_id"]
        return job_id

    def get(self, path: str, timeout: float = 40.0) -> requests.Response:
        return self.session.get(self.base + path, timeout=timeout)

    def job(self, job_id: str) -> dict[str, Any]:
        """GET /jobs/<id>, retried through connection errors and 503s; a job the API no longer knows is MISSING."""
        try:
            return self.predq.job(job_id).raw
        except predq_client.NotFoundError as exc:  # the job's record is gone: as final as it gets
            return {"job_id": job_id, "status": MISSING, "error": str(exc), "progress": {}}

    def wait_terminal(self, job_ids: Iterable[str], timeout: float = JOB_DEADLINE) -> dict[str, dict[str, Any]]:
        """Long-poll every job until it is terminal; each one's final resource. Fails naming the stuck ones."""
        deadline = time.monotonic() + timeout
        final: dict[str, dict[str, Any]] = {}
        for job_id in job_ids:
            try:
                final[job_id] = self.predq.wait(job_id, timeout=max(deadline - time.monotonic(), 1.0)).raw
            except predq_client.NotFoundError as exc:
                final[job_id] = {"job_id": job_id, "status": MISSING, "error": str(exc), "progress": {}}
            except predq_client.WaitTimeoutError as exc:
                raise AssertionError(f"{exc} ({timeout:.0f}s after the fault)") from None
        return final

    def results(self, job: dict[str, Any]) -> list[Any]:
        """Every result row: inline when the resource carries them, else paged from /results."""
        if "results" in job:
            inline: list[Any] = job["results"]
            return inline
        return list(self.predq.results(job["job_id"], page_rows=100_000))


# --------------------------------------------------------------------------- exactly once
@dataclass
class Audit:
    """One job, judged row by row."""

    job_id: str
    status: str
    rows: int
    lost: int = 0
    duplicated: int = 0
    problems: list[str] = field(default_factory=list)


def audit(client: Client, redis_client: redis.Redis, job: dict[str, Any], want: list[Any]) -> Audit:
    """Does terminal `job` answer each of its rows exactly once, equal to `want`?

    lost: rows not answered, or answered wrong; duplicated: rows counted more than once (progress past the total,
    results past the rows, chunks in the done set past the chunk count).
    """
    job_id, n = job["job_id"], len(want)
    found = Audit(job_id, job["status"], n)
    if job["status"] == MISSING:
        found.lost = n
        found.problems.append(f"job {job_id} is gone: {job['error']}")
        return found
    progress = job["progress"]
    over_rows = max(progress["rows_done"] - progress["rows_total"], 0)
    done_set = int(redis_client.scard(done_key(job_id)))
    over_chunks = max(done_set - progress["chunks_total"], 0)
    if job["status"] != "succeeded":
        found.lost = n
        found.problems.append(f"job {job_id} ended {job['status']}: {job['error']}")
    else:
        got = client.results(job)
        wrong = [i for i, (g, w) in enumerate(zip(got, want, strict=False)) if not same(g, w)]
        found.lost = len(wrong) + max(n - len(got), 0)
        over_rows += max(len(got) - n, 0)
        if wrong:
            found.problems.append(f"job {job_id}: {len(wrong)} rows differ from predict, first row {wrong[0]}: "
                                  f"{got[wrong[0]]!r} != {want[wrong[0]]!r}")
        if len(got) != n:
            found.problems.append(f"job {job_id}: {len(got)} results for {n} rows")
        expected = {"rows_done": n, "rows_total": n, "chunks_done": progress["chunks_total"]}
        if {k: progress[k] for k in expected} != expected or done_set != progress["chunks_total"]:
            found.problems.append(f"job {job_id}: progress {progress}, {done_set} chunks in its done set")
    found.duplicated = over_rows + over_chunks * FAULT_CHUNK_ROWS
    return found


def assert_exactly_once(audits: Iterable[Audit]) -> None:
    problems = [p for a in audits for p in a.problems]
    assert not problems, f"{len(problems)} jobs not answered exactly once:\n" + "\n".join(problems[:20])


def wait_running(client: Client, job_id: str, chunks_done: int = 1) -> dict[str, Any]:
    """The job, once it runs with at least `chunks_done` chunks done (by then every worker holds a chunk)."""
    def far_enough() -> dict[str, Any] | None:
        job = client.job(job_id)
        assert job["status"] in ("queued", "running"), job
        return job if job["progress"]["chunks_done"] >= chunks_done else None

    return until(far_enough, 60, f"job {job_id} to get going", pause=0.05)


def chunk_attempts(redis_client: redis.Redis, job_id: str) -> dict[int, int]:
    """How many times each chunk of a job was started (START_CHUNK's counter; absent: never started)."""
    fields = cast(dict[bytes, bytes], redis_client.hgetall(job_key(job_id)))
    return {int(k.decode().split(":", 1)[1]): int(v) for k, v in fields.items() if k.startswith(b"attempts:")}


def redelivered(redis_client: redis.Redis, job_ids: Iterable[str]) -> int:
    """Chunks started more than once, over these jobs: the faults' footprint."""
    return sum(1 for job_id in job_ids for n in chunk_attempts(redis_client, job_id).values() if n > 1)
