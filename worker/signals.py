"""Worker start and stop: refuse an evicting Redis, stamp a heartbeat, run the sweeper."""

from __future__ import annotations

import logging
import threading
from typing import Any

from celery import Celery
from celery.signals import worker_init, worker_ready, worker_shutdown
from celery.worker import state

from shared import workers
from shared.errors import EvictingRedisError
from shared.metrics import public_node
from shared.queue import SCORE_CHUNK
from shared.redis_client import connect
from shared.redis_policy import check_no_eviction
from shared.workers import Chunk
from worker.runtime import WorkerRuntime
from worker.sweeper import Sweeper

log = logging.getLogger(__name__)


def connect_signals(app: Celery, runtime: WorkerRuntime) -> None:
    """Hook the runtime to this app's worker start and stop (receivers of another app's worker do nothing)."""

    def ours(sender: Any) -> bool:
        return getattr(sender, "app", app) is app

    def on_init(sender: Any = None, **_: Any) -> None:
        if ours(sender):
            refuse_evicting_redis(runtime)
            runtime.node = getattr(sender, "hostname", None) or runtime.node
            log.info("worker node %s is worker=%r in /metrics", runtime.node, public_node(runtime.node))

    def on_ready(sender: Any = None, **_: Any) -> None:
        if ours(sender):
            for name, target in (("predq-heartbeat", _beat), ("predq-sweeper", _sweep)):
                threading.Thread(target=target, args=(runtime,), name=name, daemon=True).start()

    def on_shutdown(sender: Any = None, **_: Any) -> None:
        if ours(sender):
            runtime.stopping.set()

    uid = f"predq-{id(app)}"
    worker_init.connect(on_init, weak=False, dispatch_uid=uid)
    worker_ready.connect(on_ready, weak=False, dispatch_uid=uid)
    worker_shutdown.connect(on_shutdown, weak=False, dispatch_uid=uid)


def refuse_evicting_redis(runtime: WorkerRuntime) -> None:
    """Before anything is consumed: a Redis that may evict keys would lose queued chunks.

    SystemExit, because Celery logs and swallows any Exception a signal receiver raises."""
    try:
        check_no_eviction(connect(runtime.settings.redis_url))
    except EvictingRedisError as exc:
        log.critical("refusing to start: %s", exc)
        raise SystemExit(f"predq worker refuses to start: {exc}") from exc


def held_chunks() -> set[Chunk]:
    """The chunks this worker has received and not yet finished (running or reserved)."""
    for _ in range(5):  # the consumer thread may change the sets while we copy them
        try:
            requests = list(state.reserved_requests) + list(state.active_requests)
            break
        except RuntimeError:
            continue
    else:
        requests = []
    held: set[Chunk] = set()
    for request in requests:
        args = request.args
        if request.task_name == SCORE_CHUNK and len(args) == 2:
            held.add((str(args[0]), int(args[1])))
    return held


def _beat(runtime: WorkerRuntime) -> None:
    client = connect(runtime.settings.redis_url)
    while not runtime.stopping.is_set():
        try:
            workers.stamp(client, runtime.worker_id, held_chunks())
        except Exception as exc:  # Redis away: try again next beat
            log.warning("heartbeat failed: %s", exc)
        runtime.stopping.wait(workers.HEARTBEAT_SECONDS)
    try:
        workers.forget(client, runtime.worker_id)
    except Exception as exc:
        log.warning("could not remove %s from the live workers: %s", runtime.worker_id, exc)


def _sweep(runtime: WorkerRuntime) -> None:
    sweeper = Sweeper(runtime.background_services(), runtime.worker_id)
    while not runtime.stopping.wait(sweeper.interval):
        try:
            sweeper.run_once()
        except Exception as exc:
            log.warning("sweep failed: %s", exc)
