"""Concurrent retries of one Idempotency-Key over real HTTP make exactly one job."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest
import requests

from scripts.stack import LocalStack
from tests.integration.support import Api

pytestmark = pytest.mark.integration

RETRIES = 12


def test_concurrent_retries_of_one_key_make_one_job(api: Api, stack: LocalStack) -> None:
    key = f"race-{uuid.uuid4()}"
    body: dict[str, Any] = {"model": "iris", "instances": [[5.1, 3.5, 1.4, 0.2]] * 350}
    gate = threading.Barrier(RETRIES)
    answers: list[requests.Response] = []

    def retry() -> None:
        with requests.Session() as session:
            gate.wait()
            answers.append(session.post(f"{stack.base_url}/jobs", json=body, headers={"Idempotency-Key": key},
                                        timeout=60))

    threads = [threading.Thread(target=retry) for _ in range(RETRIES)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200] * (RETRIES - 1) + [202], statuses
    job_ids = {a.json()["job_id"] for a in answers}
    assert len(job_ids) == 1
    (job_id,) = job_ids
    listed = [j["job_id"] for j in api.get("/jobs", params={"limit": 50}).json()["jobs"]]
    assert listed.count(job_id) == 1
    assert api.wait(job_id)["status"] == "succeeded"
