"""A full Redis under maxmemory-policy noeviction: refusals are 503s, nothing is half created, nothing evicted.

These tests run on a stack of their own whose worker is stopped while Redis is full, so that what Redis holds
is exactly what the API wrote. Redis is "filled" by lowering maxmemory to just above what it uses.
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import redis
import requests

from shared.store import input_key
from tests.faults.report import FaultReport
from tests.faults.stack import FaultStack, fault_stack_of
from tests.faults.support import (
    Client,
    assert_exactly_once,
    audit,
    job_hashes,
    job_key,
    rows,
)
from tests.integration.support import assert_problem, start_stack

pytestmark = [pytest.mark.faults, pytest.mark.integration]

BIG_JOB_ROWS = 4_000
"""16 chunks of 20 float64 features: 640 KB of input a job."""

FILL_MARGIN = 2_000_000
"""Bytes of room left when Redis is made full: a few big jobs fit, then it refuses."""

_observed: list[str] = []
"""What the refusals looked like, for the closing table."""


@pytest.fixture(scope="module")
def full_stack(fault_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultStack]:
    """A stack of its own (Redis, the API, one worker), its worker stopped: jobs stay queued as written."""
    stack = fault_stack_of(fault_model_dir, tmp_path_factory.mktemp("full-logs"), 1)
    with start_stack(stack) as running:
        faults = FaultStack(running, workers=1)
        for proc in faults.live_workers():
            faults.stop_worker(proc)
        faults.reap_workers()
        yield faults
        faults.redis.close()


@pytest.fixture
def full_client(full_stack: FaultStack) -> Iterator[Client]:
    http = Client(full_stack.base_url)
    yield http
    http.close()


@contextlib.contextmanager
def full(client: redis.Redis, margin: int) -> Iterator[None]:
    """Redis with room for `margin` more bytes, noeviction; unlimited again afterwards."""
    assert client.config_get("maxmemory-policy")["maxmemory-policy"] == "noeviction"
    client.config_set("maxmemory", int(client.info("memory")["used_memory"]) + margin)
    try:
        yield
    finally:
        client.config_set("maxmemory", 0)


def fill(client: Client, tries: int = 40) -> tuple[dict[str, np.ndarray], list[requests.Response]]:
    """Submit big jobs until Redis refuses one, then three more; the accepted jobs' rows and the refusals."""
    accepted: dict[str, np.ndarray] = {}
    refusals: list[requests.Response] = []
    for serial in range(tries):
        X = rows(BIG_JOB_ROWS, seed=1_000 + serial)
        answer = client.post_job({"model": "bench-forest", "instances": X.tolist()})
        if answer.status_code == 202:
            accepted[answer.json()["job_id"]] = X
            continue
        refusals.append(answer)
        if len(refusals) == 4:
            break
    assert refusals, f"Redis never filled up after {tries} jobs of {BIG_JOB_ROWS} rows"
    return accepted, refusals


def orphan_inputs(client: redis.Redis) -> list[str]:
    """Input chunks (predq:job:<id>:in:<i>) whose job has no record."""
    jobs = job_hashes(client)
    found = (k.decode() for k in client.scan_iter(match=input_key("*", "*"), count=1000))
    return sorted(k for k in found if k.split(":")[2] not in jobs)


def codes(refusals: list[requests.Response]) -> str:
    return ", ".join(f"{n}×{code}" for code, n in sorted(Counter(r.status_code for r in refusals).items()))


def test_full_redis_answers_503_with_retry_after(full_stack: FaultStack, full_client: Client) -> None:
    with full(full_stack.redis, FILL_MARGIN):
        _, refusals = fill(full_client)
    _observed.append(f"refusals while full: {codes(refusals)}")
    for answer in refusals:
        assert_problem(answer, 503)
        assert answer.headers.get("Retry-After", "").isdigit(), answer.headers
    assert full_stack.redis.info("stats")["evicted_keys"] == 0


def test_refused_submission_leaves_no_input_chunks_behind(full_stack: FaultStack, full_client: Client) -> None:
    # Where Redis tips over decides what a refusal leaves: fill it up to three times, stopping at the first leftover.
    orphans_before = set(orphan_inputs(full_stack.redis))
    orphans: list[str] = []
    for _cycle in range(3):
        with full(full_stack.redis, FILL_MARGIN):
            fill(full_client)
        orphans = sorted(set(orphan_inputs(full_stack.redis)) - orphans_before)
        if orphans:
            break
    _observed.append(f"input chunks left without a job by refused submissions: {len(orphans)}")
    assert not orphans, f"{len(orphans)} input chunks without a job, e.g. {orphans[:3]}"


def test_refused_submission_leaves_no_job_behind(full_stack: FaultStack, full_client: Client) -> None:
    # The edge of full, byte by byte: small jobs at growing margins, until one is refused half way (or 3 sweeps).
    ghosts: dict[str, str] = {}
    tries = Counter[int]()
    for _sweep in range(3):
        for margin in range(0, 6_000, 100):
            before = job_hashes(full_stack.redis)
            with full(full_stack.redis, margin):
                answer = full_client.post_job({"model": "iris", "instances": [[5.1, 3.5, 1.4, 0.2]] * 3})
            tries[answer.status_code] += 1
            made = job_hashes(full_stack.redis) - before
            if answer.status_code == 202:
                made.discard(answer.json()["job_id"])
            for job_id in made:
                ghosts[job_id] = f"{answer.status_code}, left {full_stack.redis.hget(job_key(job_id), 'status')!r}"
            if ghosts:
                break
        if ghosts:
            break
    _observed.append(f"edge sweep ({', '.join(f'{n}×{c}' for c, n in sorted(tries.items()))}): "
                     f"{len(ghosts)} job(s) left behind by a refused submission")
    assert not ghosts, f"refused submissions left jobs behind: {ghosts}"


def test_jobs_accepted_while_redis_is_full_succeed_once_memory_returns(full_stack: FaultStack, full_client: Client,
                                                                       forest: Any, report: FaultReport) -> None:
    before = job_hashes(full_stack.redis)
    with full(full_stack.redis, FILL_MARGIN):
        accepted, refusals = fill(full_client)
        readable = [full_client.get(f"/jobs/{job_id}").status_code for job_id in accepted]
        evicted = full_stack.redis.info("stats")["evicted_keys"]
    freed_at = time.monotonic()
    full_stack.start_worker()
    final = full_client.wait_terminal(accepted)
    recovery = time.monotonic() - freed_at
    audits = [audit(full_client, full_stack.redis, final[job_id], forest.predict(X).tolist())
              for job_id, X in accepted.items()]
    ghosts = job_hashes(full_stack.redis) - before - set(accepted)
    report.add("7. Redis full (maxmemory, noeviction)", audits, recovery,
               f"refusals: {codes(refusals)}; evicted keys: {evicted}; jobs left by refused submissions here: "
               f"{len(ghosts)}; " + "; ".join(_observed) + "; recovery: from memory freed (a worker started) until "
               "every accepted job ended")
    assert set(readable) == {200}, f"accepted jobs are readable while Redis is full: {readable}"
    assert evicted == 0
    assert_exactly_once(audits)
