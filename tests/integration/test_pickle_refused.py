"""A pickle-serialised task message pushed straight into the queue is refused by a real worker: nothing runs."""

from __future__ import annotations

from pathlib import Path

import redis

from scripts.stack import LocalStack
from shared.queue import SCORE_CHUNK, make_celery
from shared.settings import Settings
from tests.integration.support import wait_for, wait_queue_idle


class _Explosive:
    """Unpickling this creates `path`: the sentinel that would prove a pickle ran in the worker."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (self.path, "w"))  # the side effect is the point


def test_a_pickled_task_message_is_refused_and_runs_nothing(stack: LocalStack, stack_redis: redis.Redis,
                                                            tmp_path: Path) -> None:
    sentinel = tmp_path / "pickle-ran"
    settings = Settings.from_env({"REDIS_URL": stack.redis_url})
    producer = make_celery(settings)
    producer.conf.accept_content = ["json", "pickle"]  # only this producer would speak pickle
    wait_queue_idle(stack_redis)
    producer.send_task(SCORE_CHUNK, args=[_Explosive(str(sentinel)), 0], serializer="pickle",
                       queue=settings.queue_name)
    wait_for(lambda: stack_redis.llen(settings.queue_name) == 0, 30, "a worker to take the message")
    wait_queue_idle(stack_redis)
    wait_for(lambda: "pickle" in _worker_logs(stack) or None, 30, "the worker to log the refused content type")
    assert not sentinel.exists(), _worker_logs(stack)[-2000:]


def _worker_logs(stack: LocalStack) -> str:
    return "".join(p.read_text(errors="replace") for p in Path(stack.log_dir).glob("worker-*.log"))
