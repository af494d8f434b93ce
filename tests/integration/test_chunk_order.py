"""Many chunks over two workers: every row answered once, in its place, and both workers took part."""

from __future__ import annotations

import numpy as np
import pytest
import redis

from scripts.stack import LocalStack
from tests.integration.conftest import HeldWorkers
from tests.integration.support import Api, assert_same_results, metric, reference, wait_queue_idle

pytestmark = pytest.mark.integration

ROWS = 5_000
"""50 chunks of 100 rows."""


def _chunks_by_worker(api: Api) -> dict[str, float]:
    return {dict(labels)["worker"]: value for (name, labels), value in api.metrics().items()
            if name == "predq_chunks_scored_total"}


def test_fifty_chunks_over_two_workers_come_back_row_by_row_in_order(api: Api, stack: LocalStack,
                                                                     stack_redis: redis.Redis,
                                                                     held_workers: HeldWorkers) -> None:
    # A regressor on distinct rows gives every row its own answer, so any swap of rows or chunks shows.
    X = np.round(np.random.default_rng(5).normal(0, 0.05, (ROWS, 10)), 6)
    assert len({tuple(row) for row in X.tolist()}) == ROWS
    want = reference(stack.model_dir, "diabetes", "1", "predict", X)
    assert len(set(want)) == ROWS
    before = _chunks_by_worker(api)  # each worker holds one gated chunk, scored once released
    held_workers.release()

    job = api.run({"model": "diabetes", "instances": X.tolist()})
    wait_queue_idle(stack_redis)

    assert job["progress"] == {**job["progress"], "rows_done": ROWS, "rows_total": ROWS, "chunks_done": 50,
                               "chunks_total": 50, "eta_seconds": 0.0}
    assert_same_results(job["results"], want)
    assert_same_results(api.results(job["job_id"], limit=333), want)
    after = _chunks_by_worker(api)
    scored = {node: after[node] - before.get(node, 0.0) for node in after}
    # A chunk scored while its body was still being read counts only once the job is accepted, in
    # predq_rows_scored (checked below), not per worker: how many did is a race, so only a bound holds here.
    assert sum(scored.values()) <= 50 + stack.workers, scored
    assert len([node for node, n in scored.items() if n > 0]) == stack.workers == 2, (
        f"both worker nodes score chunks at once; chunks scored by node: {scored}")
    assert {node.rsplit("-", 1)[0] for node in scored} == {"w1", "w2"}  # name-hash: no host in /metrics
    rows_metric = metric(api.metrics(), "predq_rows_scored_total", model="diabetes")
    assert rows_metric >= ROWS
