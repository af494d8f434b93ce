"""Redis restarts with jobs queued and running: every job ends once Redis is back; the API answers 503 meanwhile.

Redis runs with `appendonly yes` (fsync every second) and comes back on the same port and directory, reloading
its append-only file. SIGTERM is a clean stop (Redis writes the file out); SIGKILL is a crash.
"""

from __future__ import annotations

import signal
import time
from typing import Any

import pytest
import requests

from tests.faults.report import FaultReport
from tests.faults.stack import FaultStack
from tests.faults.support import (
    JOB_DEADLINE,
    Client,
    assert_exactly_once,
    audit,
    job_doc,
    redelivered,
    rows,
    wait_running,
)
from tests.integration.support import assert_problem

pytestmark = [pytest.mark.faults, pytest.mark.integration]

DOWN_SECONDS = 3.0
"""How long Redis stays away."""


def _answers_while_down(client: Client, job_id: str) -> list[requests.Response]:
    """What a client gets from the API while Redis is down: a submission, a poll, a long poll, readiness."""
    return [client.post_job(job_doc(rows(10, seed=99))), client.get(f"/jobs/{job_id}"),
            client.get(f"/jobs/{job_id}?wait=2"), client.get("/readyz")]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_redis_restart_with_queued_and_running_jobs(faults: FaultStack, client: Client, forest: Any,
                                                    report: FaultReport, sig: signal.Signals) -> None:
    Xs = [rows(3_000, seed=40 + i) for i in range(3)]  # 36 chunks: one job running, two queued behind it
    job_ids = [client.submit(X) for X in Xs]
    wait_running(client, job_ids[0], chunks_done=2)

    faults.stop_redis(sig)
    down_at = time.monotonic()
    answers = _answers_while_down(client, job_ids[0])
    time.sleep(max(DOWN_SECONDS - (time.monotonic() - down_at), 0))
    faults.start_redis()
    up_at = time.monotonic()
    final = client.wait_terminal(job_ids, timeout=JOB_DEADLINE)
    recovery = time.monotonic() - up_at

    audits = [audit(client, faults.redis, final[j], forest.predict(X).tolist()) for j, X in zip(job_ids, Xs,
                                                                                                 strict=True)]
    statuses = sorted(f"{a.status}" for a in audits)
    report.add(f"5. restart Redis ({sig.name}), jobs queued and running", audits, recovery,
               f"down {up_at - down_at:.1f} s; while down the API answered "
               f"{', '.join(str(a.status_code) for a in answers)} (POST /jobs, GET job, long poll, /readyz); "
               f"jobs ended {', '.join(statuses)}; chunks started twice: {redelivered(faults.redis, job_ids)}; "
               "recovery counted from Redis's return")
    for answer in answers:
        assert_problem(answer, 503)
    for answer in answers[:3]:
        assert answer.headers.get("Retry-After", "").isdigit(), answer.headers
    if sig == signal.SIGKILL:  # a crash may lose the last second of writes: then a job may fail, saying why
        lost = [a for a in audits if a.status == "failed"]
        for failed in lost:
            error = final[failed.job_id]["error"]
            assert error and "rows" in error and "no longer in Redis" in error["detail"], error
        audits = [a for a in audits if a.status != "failed"]
    assert_exactly_once(audits)
