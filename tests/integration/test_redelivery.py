"""At-least-once delivery, exactly-once effect: a chunk message delivered again counts once."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import redis
from celery import Celery

from scripts.stack import LocalStack
from shared.queue import SCORE_CHUNK, CeleryChunkQueue, make_celery
from shared.services import build_services
from shared.settings import Settings
from shared.store import JobStore
from tests.integration.conftest import HeldWorkers
from tests.integration.support import (
    JOB_TIMEOUT,
    QUEUE_NAME,
    TERMINAL,
    Api,
    assert_same_results,
    metric,
    reference,
    wait_for,
    wait_queue_idle,
)
from worker.scoring import ModelScorer

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def celery_app(stack: LocalStack) -> Iterator[Celery]:
    """A producer on the stack's broker, as the API builds it."""
    app = make_celery(Settings.from_env({"REDIS_URL": stack.redis_url}))
    yield app
    app.close()


def _send_again(app: Celery, job_id: str, chunks: int) -> None:
    with app.producer_or_acquire() as producer:
        for index in range(chunks):
            app.send_task(SCORE_CHUNK, args=[job_id, index], producer=producer)


def _move_newest_to_the_head(client: redis.Redis, messages: int) -> None:
    """Put the `messages` newest queue entries where workers take the next message from.

    Publishing pushes on the left and workers pop on the right; kombu itself restores a message it
    redelivers (visibility timeout, lost worker) on the right, ahead of everything waiting.
    """
    with client.pipeline(transaction=True) as pipe:
        for _ in range(messages):
            pipe.lmove(QUEUE_NAME, QUEUE_NAME, "LEFT", "RIGHT")
        pipe.execute()


def _finished_snapshot(job: dict[str, Any]) -> dict[str, Any]:
    return {k: job[k] for k in ("status", "rows", "finished_at", "started_at", "error", "results")} | {
        "progress": {k: job["progress"][k] for k in ("rows_done", "rows_total", "chunks_done", "chunks_total")}}


def test_chunks_sent_again_after_success_change_nothing(api: Api, stack: LocalStack, stack_redis: redis.Redis,
                                                        celery_app: Celery) -> None:
    X = np.round(np.random.default_rng(7).normal(5, 1.5, (1_000, 4)), 3)
    job = api.run({"model": "iris", "method": "predict_proba", "instances": X.tolist()})
    wait_queue_idle(stack_redis)
    done = _finished_snapshot(job)
    assert done["progress"] == {"rows_done": 1_000, "rows_total": 1_000, "chunks_done": 10, "chunks_total": 10}
    metrics_before = api.metrics()

    _send_again(celery_app, job["job_id"], 10)
    # A marker job queued behind the resent messages: once it is done, every resent message was taken;
    # the queue then drains when the last of them is acknowledged.
    api.run({"model": "diabetes", "instances": [[0.01] * 10]})
    wait_queue_idle(stack_redis)

    again = api.job(job["job_id"])
    assert _finished_snapshot(again) == done
    assert_same_results(api.results(job["job_id"]), reference(stack.model_dir, "iris", "2", "predict_proba", X))
    metrics_after = api.metrics()
    for name, labels in [("predq_rows_scored_total", {"model": "iris"}),
                         ("predq_jobs_finished_total", {"model": "iris", "status": "succeeded"})]:
        assert metric(metrics_after, name, **labels) == metric(metrics_before, name, **labels), name


def test_every_chunk_delivered_twice_while_running_counts_once(api: Api, stack: LocalStack,
                                                               stack_redis: redis.Redis, celery_app: Celery,
                                                               held_workers: HeldWorkers) -> None:
    rows, chunks = 20_000, 200
    X = np.round(np.random.default_rng(8).normal(0, 1, (rows, 20)), 3)
    rows_before = metric(api.metrics(), "predq_rows_scored_total", model="bench-logreg")
    job_id = api.submit({"model": "bench-logreg", "method": "predict_proba", "instances": X.tolist()})["job_id"]
    # Every chunk delivered a second time, the second messages taken before the originals still waiting:
    # most chunks then first run from their second message, and their original comes after.
    _send_again(celery_app, job_id, chunks)
    _move_newest_to_the_head(stack_redis, chunks)
    held_workers.release()

    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + JOB_TIMEOUT
    while time.monotonic() < deadline:
        job = api.job(job_id)
        seen.append(job["progress"])
        progress = job["progress"]
        assert progress["rows_done"] <= progress["rows_total"] == rows, progress
        assert progress["chunks_done"] <= progress["chunks_total"] == chunks, progress
        if job["status"] in TERMINAL:
            break
        time.sleep(0.01)
    else:
        raise AssertionError(f"job {job_id} did not end within {JOB_TIMEOUT:.0f}s: {seen[-1]}")

    assert job["status"] == "succeeded", job["error"]
    assert seen[0]["chunks_done"] < chunks, "the job was never seen unfinished: nothing was checked"
    assert job["progress"]["rows_done"] == rows and job["progress"]["chunks_done"] == chunks
    done_counts = [p["chunks_done"] for p in seen]
    assert done_counts == sorted(done_counts), "progress never goes back"
    assert_same_results(api.results(job_id, limit=7_000),
                        reference(stack.model_dir, "bench-logreg", "1", "predict_proba", X))
    wait_queue_idle(stack_redis)
    assert metric(api.metrics(), "predq_rows_scored_total", model="bench-logreg") - rows_before == rows


class _LateInputStore(JobStore):
    """A delivery that stalls between taking its chunk and reading the chunk's input until another delivery of the
    same chunk has recorded it: a message redelivered while its first delivery still runs, and a bit slower."""

    def read_input(self, job_id: str, index: int) -> np.ndarray | None:
        wait_for(lambda: self.chunk_is_done(job_id, index), JOB_TIMEOUT, f"chunk {index} scored by a stack worker",
                 pause=0.001)
        return super().read_input(job_id, index)


def test_a_second_delivery_overlapping_the_first_does_not_fail_the_job(api: Api, stack: LocalStack,
                                                                       held_workers: HeldWorkers) -> None:
    settings = Settings.from_env({"REDIS_URL": stack.redis_url, "MODEL_DIR": stack.model_dir,
                                  **stack.extra_env})
    client = redis.Redis.from_url(stack.redis_url)
    late = build_services(settings, client, CeleryChunkQueue(make_celery(settings), settings),
                          store=_LateInputStore(client, settings.result_ttl_seconds))
    X = np.round(np.random.default_rng(10).normal(0, 1, (10_000, 20)), 3)
    job_id = api.submit({"model": "bench-forest", "instances": X.tolist()})["job_id"]  # 100 chunks, queued
    try:
        # The late delivery of chunk 0 starts while the job waits behind the held workers; the job's own
        # message for chunk 0 runs on a stack worker once they are released, and records the chunk first.
        outcome: list[str] = []
        scorer = ModelScorer(late.registry, settings)
        delivery = threading.Thread(daemon=True, target=lambda: outcome.append(
            late.lifecycle.run_chunk(job_id, 0, scorer, "late-delivery@test").value))
        delivery.start()
        wait_for(lambda: api.job(job_id)["status"] == "running", JOB_TIMEOUT, "the late delivery to start chunk 0")
        held_workers.release()
        job = api.wait(job_id)
        delivery.join(JOB_TIMEOUT)
    finally:
        client.close()

    assert outcome == ["duplicate"], f"the late delivery answered {outcome}"
    assert job["status"] == "succeeded", job["error"]
    assert job["progress"]["rows_done"] == 10_000
    assert_same_results(api.results(job_id), reference(stack.model_dir, "bench-forest", "1", "predict", X))
