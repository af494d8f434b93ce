"""The small lane and fair share: small jobs overtake bulk work, and keys take turns in the bulk lane.

Work is held by gates (tests.models.GatedModel), never by hoping a job is slow.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from scripts.stack import LocalStack
from shared.queue import Lane
from tests.integration.conftest import GATED_MODEL, INTEGRATION_CHUNK_ROWS, INTEGRATION_SMALL_JOB_ROWS
from tests.integration.support import (
    Api,
    Gate,
    gated_rows,
    metric,
    start_stack,
    wait_held,
    wait_queue_idle,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def gates(stack_model_dir: Path) -> Iterator[tuple[Gate, Gate]]:
    """Two gates of the `gated` model, opened again whatever the test does."""
    first, second = Gate(stack_model_dir / "gate", 0), Gate(stack_model_dir / "gate", 1)
    try:
        yield first, second
    finally:
        first.open()
        second.open()


def test_a_one_row_job_finishes_while_bulk_work_keeps_every_worker_busy(
        api: Api, stack: LocalStack, stack_redis: redis.Redis, gates: tuple[Gate, Gate]) -> None:
    wait_queue_idle(stack_redis)
    rest, first = gates
    rest.close()
    first.close()
    # The bulk job's chunk 0 waits at gate 1, its other chunks at gate 0: both workers hold bulk chunks.
    chunks = INTEGRATION_SMALL_JOB_ROWS // INTEGRATION_CHUNK_ROWS + 10
    rows = gated_rows(INTEGRATION_CHUNK_ROWS, gate=1) + gated_rows((chunks - 1) * INTEGRATION_CHUNK_ROWS, gate=0)
    bulk = api.submit({"model": GATED_MODEL, "instances": rows})["job_id"]
    wait_held(stack_redis, {(bulk, 0), (bulk, 1)})
    small = api.submit({"model": "iris", "instances": [[5.1, 3.5, 1.4, 0.2]]})["job_id"]
    assert metric(api.metrics(), "predq_lane_depth", lane=Lane.SMALL.value) == 1

    first.open()  # the worker on chunk 0 is free: it takes the small lane's chunk before any bulk one
    done = api.wait(small)
    bulk_now = api.job(bulk)

    assert done["status"] == "succeeded" and done["results"] == ["setosa"]
    assert bulk_now["status"] == "running" and bulk_now["progress"]["chunks_done"] == 1, bulk_now["progress"]
    rest.open()
    assert api.wait(bulk)["status"] == "succeeded"


# --------------------------------------------------------------------------- fair share across keys
KEYS = {"a": "key-of-team-a", "b": "key-of-team-b"}
FAIR_CHUNK_ROWS = 100


@pytest.fixture(scope="module")
def keyed_stack(stack_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """One worker, two API keys, and every job of more than one chunk in the bulk lane."""
    env = {"CHUNK_ROWS": str(FAIR_CHUNK_ROWS), "SMALL_JOB_ROWS": str(FAIR_CHUNK_ROWS),
           "API_KEYS": ",".join(KEYS.values())}
    with start_stack(LocalStack(workers=1, env=env, model_dir=str(stack_model_dir),
                                log_dir=str(tmp_path_factory.mktemp("keyed-stack-logs")))) as running:
        yield running


def _keyed(stack: LocalStack, team: str) -> Api:
    return Api(stack.base_url, KEYS[team])


def test_bulk_chunks_take_turns_across_api_keys(keyed_stack: LocalStack, stack_model_dir: Path) -> None:
    gate = Gate(stack_model_dir / "gate", 2)
    client = redis.Redis.from_url(keyed_stack.redis_url)
    team_a, team_b = _keyed(keyed_stack, "a"), _keyed(keyed_stack, "b")
    try:
        gate.close()
        holder = team_a.submit({"model": GATED_MODEL, "instances": gated_rows(1, gate=2)})["job_id"]
        wait_held(client, {(holder, 0)})  # the only worker waits at the gate while both teams submit
        three_chunks = gated_rows(3 * FAIR_CHUNK_ROWS, held=False)
        a_jobs = [team_a.submit({"model": GATED_MODEL, "instances": three_chunks})["job_id"] for _ in range(3)]
        b_job = team_b.submit({"model": GATED_MODEL, "instances": three_chunks})["job_id"]
        gate.open()

        finished = {job_id: team.wait(job_id)["finished_at"]
                    for team, ids in ((team_a, a_jobs), (team_b, [b_job])) for job_id in ids}
    finally:
        gate.open()
        team_a.close()
        team_b.close()
        client.close()

    # First in, first out, team b's job would end last. Fair share hands team b every other bulk chunk, so it
    # ends before team a's second and third jobs (team a's first had its chunks in the lane before b arrived).
    assert finished[b_job] < finished[a_jobs[1]] and finished[b_job] < finished[a_jobs[2]], finished
