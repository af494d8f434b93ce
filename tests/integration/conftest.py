"""Integration fixtures: real redis-server, gunicorn and Celery worker processes, spoken to over HTTP.

The session stack runs two workers with 100-row chunks, so a few hundred rows already span
several chunks and both workers take part. It has its own redis-server on a free port; it never
touches a Redis someone else runs.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from scripts.make_models import DEMO_MODELS, write_demo_models
from scripts.stack import LocalStack
from shared.registry import DESCRIPTOR_FILE, MODEL_FILE, file_sha256, write_model
from shared.settings import REPO_ROOT
from tests.integration.support import Api, Gate, gated_rows, start_stack, wait_held, wait_queue_idle
from tests.models import GATE_FEATURES, GatedModel
from tests.s3_server import S3Server, s3_server

INTEGRATION_CHUNK_ROWS = 100
"""Rows per chunk in the session stack."""

INTEGRATION_SMALL_JOB_ROWS = 1_000
"""Jobs of more than ten chunks take the bulk lane in the session stack."""

GATED_MODEL = "gated"
"""tests.models.GatedModel behind the session's gate: rows from `gated_rows` answer their sums."""


@pytest.fixture(scope="session")
def stack_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy of the checkout's demo models (any missing or damaged one trained here)."""
    root = tmp_path_factory.mktemp("stack-models")
    for name, version, _ in DEMO_MODELS:  # only the demo versions: the tests know which one is the latest
        source, target = REPO_ROOT / "models" / name / str(version), root / name / str(version)
        if (source / DESCRIPTOR_FILE).is_file():
            shutil.copytree(source, target)
            if not _intact(target / DESCRIPTOR_FILE):  # caught mid-rewrite: train this one afresh
                shutil.rmtree(target)
    write_demo_models(root, log=lambda _line: None)
    write_model(root, GATED_MODEL, 1, GatedModel(str(root / "gate")), GATE_FEATURES, False,
                fmt="joblib")  # a plain Python class of the tests: pickled, trusted by hash
    return root


@pytest.fixture(scope="session")
def gate(stack_model_dir: Path) -> Gate:
    return Gate(stack_model_dir / "gate")


def _intact(descriptor: Path) -> bool:
    try:
        desc = json.loads(descriptor.read_text())
        return bool(file_sha256(descriptor.parent / desc.get("file", MODEL_FILE)) == desc["sha256"])
    except (OSError, ValueError, KeyError):
        return False


S3_BUCKET = "predq-test"
"""The bucket of the session's S3 server that the stack may read and write."""


@pytest.fixture(scope="session")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    with s3_server(tmp_path_factory.mktemp("s3-logs")) as server:
        server.create_bucket(S3_BUCKET)
        yield server


@pytest.fixture(scope="session")
def storage_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder that file:// URIs may name (STORAGE_ROOTS)."""
    return tmp_path_factory.mktemp("storage").resolve()


@pytest.fixture(scope="session")
def stack(stack_model_dir: Path, storage_root: Path, s3: S3Server,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """Redis, the API and two Celery workers, with 100-row chunks; jobs of more than ten take the bulk lane."""
    env = {"CHUNK_ROWS": str(INTEGRATION_CHUNK_ROWS), "SMALL_JOB_ROWS": str(INTEGRATION_SMALL_JOB_ROWS),
           "TARGET_CHUNK_SECONDS": "0",  # chunk counts are part of what these tests check
           "STORAGE_ROOTS": str(storage_root),
           "STORAGE_ALLOWED_PREFIXES": f"file://{storage_root}/shared/,s3://{S3_BUCKET}/shared/", **s3.env}
    with start_stack(LocalStack(workers=2, env=env,
                                model_dir=str(stack_model_dir),
                                log_dir=str(tmp_path_factory.mktemp("stack-logs")))) as running:
        yield running


@pytest.fixture(scope="session")
def api(stack: LocalStack) -> Iterator[Api]:
    with Api(stack.base_url) as client:
        yield client


@pytest.fixture(scope="session")
def stack_redis(stack: LocalStack) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(stack.redis_url)
    yield client
    client.close()


@dataclass(frozen=True)
class HeldWorkers:
    """Every stack worker scoring one chunk of `job_id` behind the closed gate."""

    job_id: str
    gate: Gate

    def release(self) -> None:
        self.gate.open()


@pytest.fixture
def held_workers(api: Api, stack: LocalStack, stack_redis: redis.Redis, gate: Gate) -> Iterator[HeldWorkers]:
    """Both workers busy until `release()` (or the test's end): jobs submitted meanwhile stay queued."""
    wait_queue_idle(stack_redis)
    gate.close()
    try:
        rows = gated_rows(stack.workers * INTEGRATION_CHUNK_ROWS)
        job_id = api.submit({"model": GATED_MODEL, "instances": rows})["job_id"]
        # Each worker takes one message at a time (prefetch 1, late acks): holding all of them takes all workers.
        wait_held(stack_redis, {(job_id, i) for i in range(stack.workers)})
        yield HeldWorkers(job_id, gate)
    finally:
        gate.open()
    wait_queue_idle(stack_redis)
