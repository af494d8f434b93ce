"""The chunk runner: each chunk scored once, failures that end the job, and transient Redis errors survived."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis
from flask.testing import FlaskClient

import shared.retry
from shared.settings import Settings
from shared.store import JobStore, input_key, job_key
from shared.transitions import ChunkFinish
from tests.conftest import RecordingQueue
from tests.unit.conftest import StackFactory
from tests.unit.helpers import iris_rows

Runner = Callable[[], list[str]]


def submit(client: FlaskClient, rows: int = 10, **doc: Any) -> str:
    response = client.post("/jobs", json={"instances": iris_rows(rows), **doc})
    assert response.status_code == 202
    job_id: str = response.get_json()["job_id"]
    return job_id


def test_chunks_of_a_finished_job_are_not_run_again(client: FlaskClient, queue: RecordingQueue,
                                                    run_queued: Runner) -> None:
    job_id = submit(client)
    messages = list(queue.messages)
    assert run_queued() == ["recorded", "recorded", "finished"]
    queue.messages.extend(messages)
    assert run_queued() == ["ended", "ended", "ended"]
    assert client.get(f"/jobs/{job_id}").get_json()["progress"]["rows_done"] == 10


def test_a_chunk_of_an_expired_job_is_gone(client: FlaskClient, queue: RecordingQueue, run_queued: Runner,
                                           redis_client: redis.Redis) -> None:
    job_id = submit(client, rows=3)
    redis_client.delete(job_key(job_id))
    assert run_queued() == ["gone"]


def test_a_chunk_started_too_often_poisons_its_job(client: FlaskClient, store: JobStore, settings: Settings,
                                                   run_queued: Runner) -> None:
    job_id = submit(client)
    for _ in range(settings.max_chunk_attempts):
        store.start_chunk(job_id, 1, settings.max_chunk_attempts)
    outcomes = run_queued()
    assert outcomes[1] == "poison"
    job = client.get(f"/jobs/{job_id}").get_json()
    assert job["status"] == "failed"
    assert job["error"]["rows"] == {"start": 4, "stop": 8}
    assert "MAX_CHUNK_ATTEMPTS" in job["error"]["detail"]


def test_a_model_that_raises_fails_the_job_naming_its_rows(client: FlaskClient, run_queued: Runner,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    import worker.scoring

    def broken(estimator: Any, method: str, X: Any) -> Any:
        raise ValueError("the model is broken")

    monkeypatch.setattr(worker.scoring, "score", broken)
    job_id = submit(client)
    outcomes = run_queued()
    assert outcomes[0] == "failed"
    job = client.get(f"/jobs/{job_id}").get_json()
    assert job["status"] == "failed"
    assert job["error"]["status"] == 500
    assert job["error"]["rows"] == {"start": 0, "stop": 4}
    assert "the model is broken" in job["error"]["detail"]


def test_a_model_missing_from_the_workers_store_fails_the_job(make_stack: StackFactory, own_model_dir: Path) -> None:
    stack = make_stack({"MODEL_DIR": str(own_model_dir)})
    job_id = submit(stack.client, model="diabetes", instances=[[0.0] * 10] * 5)
    shutil.rmtree(own_model_dir / "diabetes")
    stack.run()
    job = stack.client.get(f"/jobs/{job_id}").get_json()
    assert job["status"] == "failed"
    assert "diabetes" in job["error"]["detail"]


def test_a_failed_job_is_counted_once(client: FlaskClient, run_queued: Runner, redis_client: redis.Redis) -> None:
    job_id = submit(client, rows=12)
    for index in range(3):
        redis_client.delete(input_key(job_id, index))
    assert run_queued() == ["failed", "ended", "ended"]
    text = client.get("/metrics").get_data(as_text=True)
    assert 'predq_jobs_finished_total{model="iris",status="failed"} 1.0' in text


def test_a_transient_redis_error_is_retried(client: FlaskClient, run_queued: Runner,
                                            monkeypatch: pytest.MonkeyPatch) -> None:

    monkeypatch.setattr(shared.retry.time, "sleep", lambda seconds: None)
    real = JobStore.finish_chunk
    failures = [redis.exceptions.ConnectionError("restarting"), redis.exceptions.TimeoutError("slow")]

    def flaky(self: JobStore, *args: Any) -> ChunkFinish:
        if failures:
            raise failures.pop()
        return real(self, *args)

    monkeypatch.setattr(JobStore, "finish_chunk", flaky)
    job_id = submit(client, rows=4)
    assert run_queued() == ["finished"]
    assert client.get(f"/jobs/{job_id}").get_json()["status"] == "succeeded"
