"""Client fixtures: one real local stack (redis-server, gunicorn, one Celery worker) for the client's tests.

One worker with 100-row chunks: a thousand rows already span ten chunks, and pausing that worker
(SIGSTOP) holds every job where it is, so the tests of cancel, Ctrl-C and timeouts never hope that
a job is slow.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from predq_client import Client

from scripts.stack import LocalStack, local_storage

CLIENT_CHUNK_ROWS = 100


@pytest.fixture(scope="session")
def client_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    # The README's examples write their files in a test's own folder, under the session's base folder.
    storage = local_storage(tmp_path_factory.getbasetemp().resolve())
    stack = LocalStack(workers=1, env={"CHUNK_ROWS": str(CLIENT_CHUNK_ROWS), **storage},
                       log_dir=str(tmp_path_factory.mktemp("client-stack-logs")))
    try:
        stack.start(90)
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="session")
def stack_models(client_stack: LocalStack) -> Path:
    return Path(client_stack.model_dir)


@pytest.fixture
def predq(client_stack: LocalStack) -> Iterator[Client]:
    with Client(client_stack.base_url, retry_seconds=10) as client:
        yield client


@contextlib.contextmanager
def paused_workers(stack: LocalStack) -> Iterator[None]:
    """Every worker stopped (SIGSTOP to its process group): jobs stay where they are until the block ends."""
    groups = [proc.pid for proc in stack.worker_procs]
    for group in groups:
        os.killpg(group, signal.SIGSTOP)
    try:
        yield
    finally:
        for group in groups:
            os.killpg(group, signal.SIGCONT)
