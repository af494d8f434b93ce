"""Integration fixtures: real redis-server, gunicorn and Celery worker processes, spoken to over HTTP.

The session stack runs two workers with 100-row chunks, so a few hundred rows already span
several chunks and both workers take part. It has its own redis-server on a free port; it never
touches a Redis someone else runs.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from scripts.make_models import DEMO_MODELS, write_demo_models
from scripts.stack import LocalStack
from shared.registry import DESCRIPTOR_FILE, MODEL_FILE, file_sha256
from shared.settings import REPO_ROOT
from tests.integration.support import Api, start_stack

INTEGRATION_CHUNK_ROWS = 100
"""Rows per chunk in the session stack."""


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
    return root


def _intact(descriptor: Path) -> bool:
    try:
        desc = json.loads(descriptor.read_text())
        return bool(file_sha256(descriptor.parent / desc.get("file", MODEL_FILE)) == desc["sha256"])
    except (OSError, ValueError, KeyError):
        return False


@pytest.fixture(scope="session")
def stack(stack_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """Redis, the API and two Celery workers, with 100-row chunks."""
    with start_stack(LocalStack(workers=2, env={"CHUNK_ROWS": str(INTEGRATION_CHUNK_ROWS)},
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
