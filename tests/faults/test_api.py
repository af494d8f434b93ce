"""Faults at the API: gunicorn restarted under a long-polling client, and a cancel in the middle of a job."""

from __future__ import annotations

import signal
import threading
import time
from typing import Any

import pytest
import requests

from shared.ingest import ABANDONED_AFTER_SECONDS, submission_key
from shared.store import input_key, result_key
from tests.faults.report import FaultReport
from tests.faults.stack import FaultStack
from tests.faults.support import (
    JOB_DEADLINE,
    SLOW_DELAY_SECONDS,
    Audit,
    Client,
    assert_exactly_once,
    audit,
    chunk_attempts,
    rows,
    until,
    wait_running,
)
from tests.integration.support import TERMINAL, PausedUpload, assert_problem, keys_of, submission_in_progress

pytestmark = [pytest.mark.faults, pytest.mark.integration]


class LongPoller(threading.Thread):
    """A client long-polling one job (?wait=30) until it is terminal, retrying whatever goes wrong."""

    def __init__(self, base_url: str, job_id: str) -> None:
        super().__init__(name=f"poll-{job_id[:8]}", daemon=True)
        self.url = f"{base_url}/jobs/{job_id}?wait=30"
        self.outcomes: list[str] = []
        self.final: dict[str, Any] | None = None

    def run(self) -> None:
        deadline = time.monotonic() + JOB_DEADLINE
        with requests.Session() as session:
            while time.monotonic() < deadline:
                try:
                    answer = session.get(self.url, timeout=40)
                except requests.RequestException as exc:
                    self.outcomes.append(type(exc).__name__)
                    time.sleep(0.2)
                    continue
                body = answer.json() if answer.status_code == 200 else {}
                self.outcomes.append(f"{answer.status_code} {body.get('status', '')}".strip())
                if body.get("status") in TERMINAL:
                    self.final = body
                    return


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_api_restart_mid_poll_leaves_the_job_unaffected(faults: FaultStack, client: Client, forest: Any,
                                                        report: FaultReport, sig: signal.Signals) -> None:
    X = rows(10_000, seed=50)  # 40 chunks, about 7 s over two workers
    job_id = client.submit(X)
    wait_running(client, job_id)
    poller = LongPoller(faults.base_url, job_id)
    poller.start()
    until(lambda: poller.is_alive(), 5, "the long poll to start")
    time.sleep(0.5)  # the long poll is in flight

    stopped_at = time.monotonic()
    faults.kill_api(sig)  # SIGTERM: gunicorn drains in-flight requests first; SIGKILL: the whole group dies
    faults.start_api()
    back = time.monotonic() - stopped_at
    poller.join(JOB_DEADLINE)
    final = poller.final or client.wait_terminal([job_id])[job_id]

    audits = [audit(client, faults.redis, final, forest.predict(X).tolist())]
    report.add(f"6. restart the API ({sig.name}) mid long-poll", audits, back,
               f"the long-polling client saw: {', '.join(poller.outcomes)}; recovery: until the new API answered")
    assert poller.final is not None, f"the long-polling client never saw the job end: {poller.outcomes}"
    assert_exactly_once(audits)


def test_cancel_mid_job_runs_no_chunk_afterwards(faults: FaultStack, client: Client, report: FaultReport) -> None:
    X = rows(10_000, seed=60)  # 40 chunks
    job_id = client.submit(X)
    wait_running(client, job_id, chunks_done=3)

    answer = client.session.delete(f"{faults.base_url}/jobs/{job_id}", timeout=30)
    assert answer.status_code == 200, answer.text
    cancelled = answer.json()
    at_cancel = (chunk_attempts(faults.redis, job_id), faults.done_chunks(job_id))
    # Every message of the job reaches a worker and is turned away, and any chunk running at the cancel ends.
    until(lambda: not faults.queued_chunks(job_id), 60, "the job's chunk messages to drain")
    time.sleep(4 * SLOW_DELAY_SECONDS + 1)
    after = client.job(job_id)
    attempts, done = chunk_attempts(faults.redis, job_id), faults.done_chunks(job_id)
    leftovers = sorted(k.decode() for pattern in (input_key(job_id, "*"), result_key(job_id, "*"))
                       for k in faults.redis.scan_iter(match=pattern))
    rows_after = after["progress"]["rows_done"] - cancelled["progress"]["rows_done"]

    started_after = {i: n for i, n in attempts.items() if n != at_cancel[0].get(i)}
    report.add("9. cancel mid-job", [Audit(job_id, after["status"], len(X), duplicated=max(rows_after, 0))], None,
               f"cancelled with {len(at_cancel[1])} of 40 chunks done; chunks started after the cancel: "
               f"{len(started_after)}; recorded after it: {len(done - at_cancel[1])}; result keys left: "
               f"{len(leftovers)}; duplicated = rows counted after the cancel")
    assert cancelled["status"] == "cancelled" and cancelled["finished_at"] is not None, cancelled
    assert after["status"] == "cancelled", after
    counted = ("rows_done", "chunks_done")
    assert {k: after["progress"][k] for k in counted} == {k: cancelled["progress"][k] for k in counted}, after
    assert not started_after, f"chunks started after the cancel was acknowledged: {started_after}"
    assert done == at_cancel[1], f"chunks recorded after the cancel: {sorted(done - at_cancel[1])}"
    assert not leftovers, f"a cancelled job keeps no results or inputs: {leftovers}"
    assert_problem(client.get(f"/jobs/{job_id}/results"), 409)


def test_an_api_killed_mid_upload_leaves_nothing_once_the_sweeper_has_been(faults: FaultStack,
                                                                          report: FaultReport) -> None:
    features = ",".join(f"f{i}" for i in range(20)).encode() + b"\n"
    line = b",".join(b"0.5" for _ in range(20)) + b"\n"
    upload = PausedUpload(f"{faults.base_url}/jobs?model=bench-forest", features + line * 120_000, line * 10)
    upload.start()
    job_id = until(lambda: submission_in_progress(faults.redis), JOB_DEADLINE, "the body's first chunks")
    stored = int(faults.redis.hget(submission_key(job_id), "chunks") or 0)

    killed_at = time.monotonic()
    faults.kill_api(signal.SIGKILL)  # an out-of-memory kill: no handler runs, nothing is cleaned up
    faults.start_api()
    upload.resume()
    until(lambda: not keys_of(faults.redis, job_id), JOB_DEADLINE, "the sweeper to reclaim the abandoned body")
    reclaimed = time.monotonic() - killed_at
    upload.join(JOB_DEADLINE)

    report.add("10. SIGKILL the API mid-upload (a bulk body being read and scored)", [], reclaimed,
               f"{stored} input chunks stored when the API died; every key of the submission gone after "
               f"{reclaimed:.0f} s (heartbeats stop; the sweeper drops a submission silent for "
               f"{ABANDONED_AFTER_SECONDS:.0f} s); the client saw {type(upload.error).__name__}")
    assert upload.answer is None, "the client of the killed API got no answer"
    assert stored >= 1
