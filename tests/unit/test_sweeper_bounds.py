"""The sweeper's cost per sweep is bounded whatever the number of jobs: it looks at MAX_SWEPT_JOBS live jobs
per sweep, in turns that cover every job, and does not read a lane longer than MAX_QUEUE_VIEW messages."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from shared.queue import lane_queues
from shared.services import Services
from worker import sweeper
from worker.sweeper import Sweeper, queued_chunks

ROW = [5.1, 3.5, 1.4, 0.2]


def _submit(client: FlaskClient, n: int) -> list[str]:
    ids = []
    for _ in range(n):
        answer = client.post("/jobs", json={"instances": [ROW]})
        assert answer.status_code == 202
        ids.append(answer.get_json()["job_id"])
    return ids


def test_each_sweep_looks_at_a_bounded_turn_of_live_jobs_and_the_turns_cover_them_all(
        client: FlaskClient, services: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sweeper, "MAX_SWEPT_JOBS", 3)
    ids = _submit(client, 7)
    looked_at: list[list[str]] = []
    find = services.store.find

    def counted_find(job_id: str) -> Any:
        looked_at[-1].append(job_id)
        return find(job_id)

    monkeypatch.setattr(services.store, "find", counted_find)
    sweep = Sweeper(services, "test-worker")
    for _ in range(3):
        looked_at.append([])
        sweep._sweep(set(), 1_000.0)
    assert all(len(turn) <= 3 for turn in looked_at)
    assert {job_id for turn in looked_at for job_id in turn} == set(ids)


def test_suspects_outside_the_turn_are_kept_until_their_turn_comes(services: Services) -> None:
    services.redis.hset(sweeper.SUSPECTS, "elsewhere:0", "990.0")
    Sweeper(services, "test-worker")._sweep(set(), 1_000.0)
    assert services.redis.hget(sweeper.SUSPECTS, "elsewhere:0") == b"990.0"
    Sweeper(services, "test-worker")._sweep(set(), 990.0 + sweeper.SUSPECT_MEMORY_SECONDS)
    assert services.redis.hget(sweeper.SUSPECTS, "elsewhere:0") is None


def test_a_lane_longer_than_the_view_is_not_read_and_no_chunk_is_called_lost(
        services: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sweeper, "MAX_QUEUE_VIEW", 5)
    lane = next(iter(lane_queues(services.settings).values()))
    services.redis.rpush(lane, *[b"{}"] * 6)
    assert queued_chunks(services.redis, lane) is None
    assert Sweeper(services, "test-worker").run_once(1_000.0)["unviewed"] == 1
    services.redis.ltrim(lane, 0, 4)
    assert queued_chunks(services.redis, lane) == set()
