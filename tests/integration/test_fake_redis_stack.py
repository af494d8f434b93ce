"""The stack on the embedded fake Redis (fakeredis over TCP), for machines without redis-server."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from scripts.stack import LocalStack
from tests.integration.support import Api, assert_same_results, reference, start_stack

pytestmark = pytest.mark.integration


def test_a_three_chunk_job_on_the_fake_redis_succeeds_with_correct_results(
        stack_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    stack = LocalStack(workers=1, env={"CHUNK_ROWS": "100"}, model_dir=str(stack_model_dir),
                       log_dir=str(tmp_path_factory.mktemp("fake-redis-stack-logs")), prefer_fake_redis=True)
    X = np.round(np.random.default_rng(21).normal(5, 1.5, (250, 4)), 3)
    with start_stack(stack, timeout=60) as running, Api(running.base_url) as api:
        assert running.redis is not None and "fake" in running.redis.kind
        job = api.run({"model": "iris", "method": "predict_proba", "instances": X.tolist()}, timeout=60)

    assert job["progress"]["chunks_done"] == job["progress"]["chunks_total"] == 3
    assert_same_results(job["results"], reference(stack_model_dir, "iris", "2", "predict_proba", X))
