"""Worker faults: a killed worker, a killed pool child, a stopped worker, and a chunk that kills every worker."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import pytest

from tests.faults.report import FaultReport
from tests.faults.stack import FaultStack
from tests.faults.support import (
    FAULT_CHUNK_ROWS,
    JOB_DEADLINE,
    POISON_FEATURES,
    POISON_MODEL,
    Client,
    assert_exactly_once,
    audit,
    chunk_attempts,
    redelivered,
    rows,
    until,
    wait_running,
)
from tests.models import POISON_SENTINEL

pytestmark = [pytest.mark.faults, pytest.mark.integration]

CHILD_REDELIVERY_BOUND = 120.0
"""A chunk whose pool child died comes back at once: far below the visibility timeout (3,600 s)."""


def test_sigkill_of_a_worker_mid_chunk_loses_nothing(faults: FaultStack, client: Client, forest: Any,
                                                     report: FaultReport) -> None:
    X = rows(8_000, seed=1)  # 32 chunks, about 5 s over two workers
    job_id = client.submit(X)
    wait_running(client, job_id, chunks_done=2)
    victim = faults.live_workers()[0]
    in_flight = faults.in_flight(job_id)

    faults.kill_worker(victim)  # docker kill: the main process and its pool child at once
    killed_at = time.monotonic()
    final = client.wait_terminal([job_id])
    recovery = time.monotonic() - killed_at

    audits = [audit(client, faults.redis, final[job_id], forest.predict(X).tolist())]
    report.add("1. SIGKILL a worker mid-chunk (another worker runs)", audits, recovery,
               f"{len(in_flight)} chunks in flight at the kill; "
               f"chunks started twice: {redelivered(faults.redis, [job_id])}")
    assert_exactly_once(audits)


def test_sigkill_of_a_pool_child_redelivers_its_chunk_at_once(faults: FaultStack, client: Client, forest: Any,
                                                              report: FaultReport) -> None:
    X = rows(10_000, seed=2)  # 40 chunks
    job_id = client.submit(X)
    wait_running(client, job_id, chunks_done=2)
    children = [pid for worker in faults.live_workers() for pid in faults.pool_children(worker)]
    assert children, "the workers have no pool children"
    running = faults.in_flight(job_id)  # started and not done: the chunks the children are scoring
    attempts = chunk_attempts(faults.redis, job_id)
    held = {(index, task_id) for index, task_id, _ in faults.chunk_messages(job_id, queued=False) if index in running}

    for pid in children:  # every worker's child, so that the kill surely lands mid-chunk; the mains live on
        os.kill(pid, signal.SIGKILL)
    killed_at = time.monotonic()
    requeued: dict[tuple[int, str], float] = {}

    def settled() -> bool:
        """Every chunk held at the kill is done; note when each held message comes back marked redelivered."""
        for index, task_id, again in faults.chunk_messages(job_id):
            if again and (index, task_id) in held:
                requeued.setdefault((index, task_id), time.monotonic() - killed_at)
        return faults.done_chunks(job_id) >= {index for index, _ in held}

    until(settled, CHILD_REDELIVERY_BOUND, "the chunks held at the kill to be scored", pause=0.01)
    final = client.wait_terminal([job_id], timeout=CHILD_REDELIVERY_BOUND)
    recovery = time.monotonic() - killed_at

    now = chunk_attempts(faults.redis, job_id)
    killed = {(index, task_id) for index, task_id in held if now[index] > attempts[index]}
    audits = [audit(client, faults.redis, final[job_id], forest.predict(X).tolist())]
    report.add("2. SIGKILL the pool children (the main workers survive)", audits, recovery,
               f"{len(killed)} chunks killed mid-run; their messages were requeued by Celery (same task id, "
               f"marked redelivered) {', '.join(f'{requeued[m]:.1f}' for m in sorted(killed) if m in requeued)} s "
               f"after the kill; chunks started twice: {redelivered(faults.redis, [job_id])}")
    assert_exactly_once(audits)
    assert killed, f"no chunk was running when the children died: held {held}, attempts {attempts} -> {now}"
    assert killed <= set(requeued), (
        f"chunks {sorted(killed - set(requeued))} were not requeued by Celery's reject-on-worker-lost (the "
        "sweeper sent them again, or nothing did)")


def test_sigterm_of_a_worker_mid_chunk_is_a_warm_shutdown(faults: FaultStack, client: Client, forest: Any,
                                                          report: FaultReport) -> None:
    X = rows(8_000, seed=3)
    job_id = client.submit(X)
    wait_running(client, job_id, chunks_done=2)
    victim = faults.live_workers()[0]

    stopped_at = time.monotonic()
    exited_in_grace = faults.stop_worker(victim)  # docker stop: SIGTERM to the main process only
    shutdown = time.monotonic() - stopped_at
    final = client.wait_terminal([job_id])
    recovery = time.monotonic() - stopped_at

    audits = [audit(client, faults.redis, final[job_id], forest.predict(X).tolist())]
    report.add("3. SIGTERM a worker mid-chunk (docker stop)", audits, recovery,
               f"warm shutdown took {shutdown:.1f} s" + ("" if exited_in_grace else ", then SIGKILL") +
               f"; chunks started twice: {redelivered(faults.redis, [job_id])}")
    assert_exactly_once(audits)


def test_poison_chunk_fails_its_job_after_n_attempts_and_others_finish(faults: FaultStack, client: Client,
                                                                       forest: Any, report: FaultReport) -> None:
    poisoned_chunk = 2
    P = rows(4 * FAULT_CHUNK_ROWS, seed=4, features=len(POISON_FEATURES))
    P[poisoned_chunk * FAULT_CHUNK_ROWS + 17, 0] = POISON_SENTINEL
    X = rows(6_000, seed=5)
    started = time.monotonic()
    poison_id = client.submit(P, model=POISON_MODEL)
    other_id = client.submit(X)
    final = client.wait_terminal([poison_id, other_id], timeout=JOB_DEADLINE)
    recovery = time.monotonic() - started

    poisoned = final[poison_id]
    other = audit(client, faults.redis, final[other_id], forest.predict(X).tolist())
    attempts = chunk_attempts(faults.redis, poison_id)
    report.add("4. poison chunk kills its worker every time", [other], recovery,
               f"poisoned job (+{len(P)} rows) ended {poisoned['status']} after {attempts.get(poisoned_chunk)} "
               f"starts of chunk {poisoned_chunk}; the other job ran beside it")
    assert poisoned["status"] == "failed", poisoned
    first, last = poisoned_chunk * FAULT_CHUNK_ROWS, (poisoned_chunk + 1) * FAULT_CHUNK_ROWS - 1
    assert poisoned["error"]["rows"] == {"start": first, "stop": last + 1}, poisoned["error"]
    assert f"rows {first} to {last} (chunk {poisoned_chunk})" in poisoned["error"]["detail"], poisoned["error"]
    assert "MAX_CHUNK_ATTEMPTS" in poisoned["error"]["detail"], poisoned["error"]
    assert poisoned["finished_at"] is not None and "results" not in poisoned
    assert attempts.get(poisoned_chunk) == 4, f"3 runs, each killed, then the poison verdict: {attempts}"
    assert_exactly_once([other])
