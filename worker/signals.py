"""Worker start and stop: refuse an evicting Redis, stamp a heartbeat, run the sweeper."""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from celery.signals import worker_init, worker_ready, worker_shutdown
from celery.worker import state

from shared import workers
from shared.queue import SCORE_CHUNK
from shared.redis_client import connect
from shared.redis_policy import EvictingRedisError, check_no_eviction
from shared.workers import Chunk
from worker.celery_app import app, settings
from worker.sweeper import Sweeper

log = logging.getLogger(__name__)
_stop = threading.Event()
_identity: dict[str, str] = {}


def worker_id() -> str:
    return _identity.get("id", f"worker|{os.getpid()}")


@worker_init.connect
def refuse_evicting_redis(sender: Any = None, **_: Any) -> None:
    """Before anything is consumed: a Redis that may evict keys would lose queued chunks.

    SystemExit, because Celery logs and swallows any Exception a signal receiver raises."""
    try:
        check_no_eviction(connect(settings.redis_url))
    except EvictingRedisError as exc:
        log.critical("refusing to start: %s", exc)
        raise SystemExit(f"predq worker refuses to start: {exc}") from exc
    _identity["id"] = f"{getattr(sender, 'hostname', None) or 'worker'}|{os.getpid()}"


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


def _beat() -> None:
    client = connect(settings.redis_url)
    while not _stop.is_set():
        try:
            workers.stamp(client, worker_id(), held_chunks())
        except Exception as exc:  # Redis away: try again next beat
            log.warning("heartbeat failed: %s", exc)
        _stop.wait(workers.HEARTBEAT_SECONDS)
    try:
        workers.forget(client, worker_id())
    except Exception as exc:
        log.warning("could not remove %s from the live workers: %s", worker_id(), exc)


def _sweep() -> None:
    sweeper = Sweeper(settings, connect(settings.redis_url), app, worker_id())
    while not _stop.wait(sweeper.interval):
        try:
            sweeper.run_once()
        except Exception as exc:
            log.warning("sweep failed: %s", exc)


@worker_ready.connect
def start_background_threads(**_: Any) -> None:
    for name, target in (("predq-heartbeat", _beat), ("predq-sweeper", _sweep)):
        threading.Thread(target=target, name=name, daemon=True).start()


@worker_shutdown.connect
def stop_background_threads(**_: Any) -> None:
    _stop.set()
