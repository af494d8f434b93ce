"""Worker start and stop: a heartbeat thread that /readyz and /metrics count."""

from __future__ import annotations

import logging
import threading
from typing import Any

from celery.signals import worker_ready, worker_shutdown

from shared import workers
from shared.redis_client import connect
from worker.celery_app import settings

log = logging.getLogger(__name__)
_stop = threading.Event()


def _beat(node: str) -> None:
    client = connect(settings.redis_url)
    while not _stop.is_set():
        try:
            workers.stamp(client, node, settings.result_ttl_seconds)
        except Exception as exc:  # Redis away: try again next beat
            log.warning("heartbeat failed: %s", exc)
        _stop.wait(workers.HEARTBEAT_SECONDS)
    try:
        workers.forget(client, node)
    except Exception as exc:
        log.warning("could not remove %s from the live workers: %s", node, exc)


@worker_ready.connect
def start_heartbeat(sender: Any = None, **_: Any) -> None:
    node = getattr(sender, "hostname", None) or "worker"
    threading.Thread(target=_beat, args=(node,), name="predq-heartbeat", daemon=True).start()


@worker_shutdown.connect
def stop_heartbeat(**_: Any) -> None:
    _stop.set()
