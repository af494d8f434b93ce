"""Twenty concurrent submitters while a worker is SIGKILLed and restarted every five seconds."""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

import numpy as np
import pytest
import requests

from tests.faults.report import FaultReport
from tests.faults.stack import FaultStack
from tests.faults.support import (
    FAULT_CHUNK_ROWS,
    Client,
    assert_exactly_once,
    audit,
    job_doc,
    job_hashes,
    redelivered,
    rows,
)

pytestmark = [pytest.mark.faults, pytest.mark.integration, pytest.mark.slow]

SUBMITTERS = 20
LOAD_SECONDS = 30.0
KILL_EVERY_SECONDS = 5.0
DRAIN_DEADLINE = 240.0
"""After the load stops, every accepted job must be terminal within this."""


class Submitter(threading.Thread):
    """Submits jobs of 1 to 4 chunks until told to stop, honouring Retry-After when the queue is full."""

    def __init__(self, base_url: str, number: int, stop: threading.Event) -> None:
        super().__init__(name=f"submitter-{number}", daemon=True)
        self.client = Client(base_url)
        self.number = number
        self.stop = stop
        self.accepted: list[tuple[str, np.ndarray]] = []
        self.refused: Counter[int] = Counter()
        self.unknown: list[str] = []
        self.unexpected: list[str] = []

    def run(self) -> None:
        rng = np.random.default_rng(self.number)
        try:
            for serial in range(10_000):
                if self.stop.is_set():
                    return
                n = int(rng.integers(1, 5)) * FAULT_CHUNK_ROWS - int(rng.integers(0, FAULT_CHUNK_ROWS // 2))
                X = rows(n, seed=self.number * 10_000 + serial)
                self._submit(X)
                self.stop.wait(float(rng.uniform(0.1, 0.6)))
        finally:
            self.client.close()

    def _submit(self, X: np.ndarray) -> None:
        try:
            answer = self.client.post_job(job_doc(X))
        except requests.RequestException as exc:  # the outcome is unknown: the ghost check below decides
            self.unknown.append(type(exc).__name__)
            return
        if answer.status_code == 202:
            self.accepted.append((answer.json()["job_id"], X))
        elif answer.status_code in (429, 503) and answer.headers.get("Retry-After", "").isdigit():
            self.refused[answer.status_code] += 1
            self.stop.wait(min(float(answer.headers["Retry-After"]), 5.0))
        else:
            self.unexpected.append(f"{answer.status_code} {answer.text[:200]}")


def test_concurrent_submitters_with_a_worker_killed_every_five_seconds(faults: FaultStack, client: Client,
                                                                       forest: Any, report: FaultReport) -> None:
    before = job_hashes(faults.redis)
    stop = threading.Event()
    submitters = [Submitter(faults.base_url, k, stop) for k in range(SUBMITTERS)]
    for submitter in submitters:
        submitter.start()

    kills = 0
    end = time.monotonic() + LOAD_SECONDS
    while time.monotonic() + KILL_EVERY_SECONDS <= end:
        time.sleep(KILL_EVERY_SECONDS)
        faults.kill_worker(faults.live_workers()[0])  # the longest-lived worker
        faults.start_worker(wait=False)
        kills += 1
    time.sleep(max(end - time.monotonic(), 0))
    stop.set()
    for submitter in submitters:
        submitter.join(60)
    load_ended = time.monotonic()

    accepted = {job_id: X for s in submitters for job_id, X in s.accepted}
    final = client.wait_terminal(accepted, timeout=DRAIN_DEADLINE)
    recovery = time.monotonic() - load_ended
    audits = [audit(client, faults.redis, final[job_id], forest.predict(X).tolist()) for job_id, X in accepted.items()]
    ghosts = job_hashes(faults.redis) - before - set(accepted)
    refused = sum((s.refused for s in submitters), Counter())
    unknown = [u for s in submitters for u in s.unknown]
    unexpected = [u for s in submitters for u in s.unexpected]
    report.add(f"8. {SUBMITTERS} submitters for {LOAD_SECONDS:.0f} s, a worker SIGKILLed and restarted every "
               f"{KILL_EVERY_SECONDS:.0f} s", audits, recovery,
               f"{kills} kills; refused (queue full, Retry-After honoured): {dict(refused)}; other answers: "
               f"{len(unexpected)}; submissions without an answer: {len(unknown)}; jobs created but not accepted: "
               f"{len(ghosts)}; chunks started twice: {redelivered(faults.redis, accepted)}; recovery counted "
               "from the end of the load")
    assert accepted, "no job was accepted"
    assert not unexpected, unexpected[:5]
    assert not unknown, f"submissions that got no answer (the API was never down): {unknown[:5]}"
    assert not ghosts, f"jobs exist that no submitter was told were accepted: {sorted(ghosts)[:5]}"
    assert_exactly_once(audits)
