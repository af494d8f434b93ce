"""The unit fixtures wire the real app to fake Redis and a recording queue."""

from __future__ import annotations

from collections.abc import Callable

from flask.testing import FlaskClient


def test_submitted_job_succeeds_once_its_chunks_run(client: FlaskClient, run_queued: Callable[[], list[str]]) -> None:
    rows = [[5.1, 3.5, 1.4, 0.2]] * 10
    answer = client.post("/jobs", json={"instances": rows})
    assert answer.status_code == 202
    job_id = answer.get_json()["job_id"]
    assert run_queued() == ["recorded", "recorded", "finished"]
    job = client.get(f"/jobs/{job_id}").get_json()
    assert job["status"] == "succeeded"
    assert job["results"] == ["setosa"] * 10
