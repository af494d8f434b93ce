"""Operations routes: liveness, readiness, metrics, and the API's own description."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector, CollectorRegistry

from api.openapi import DOCS_PAGE, openapi_document
from api.responses import json_response
from api.services import services
from shared import metrics, workers
from shared.errors import TRANSIENT_REDIS_ERRORS, NotReadyError

bp = Blueprint("ops", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    return json_response({"status": "ok"})


@bp.get("/readyz")
def readyz() -> Response:
    client = services().redis
    try:
        client.ping()
        checks: dict[str, Any] = {"redis": "ok", "workers": workers.alive(client)}
    except TRANSIENT_REDIS_ERRORS:
        checks = {"redis": "down", "workers": 0}
    if checks["redis"] == "ok" and checks["workers"] >= 1:
        return json_response({"status": "ready", "checks": checks})
    raise NotReadyError(checks)


class _RedisCollector(Collector):
    def collect(self) -> Any:
        svc = services()
        gauges = {
            "predq_queue_depth": ("Chunks waiting in the queue.", float(svc.redis.llen(svc.settings.queue_name))),
            "predq_workers_alive": ("Worker nodes with a recent heartbeat.", float(workers.alive(svc.redis))),
            "predq_jobs_active": ("Jobs queued or running.", float(svc.store.active_count())),
        }
        yield from metrics.collect(svc.redis, gauges)


@bp.get("/metrics")
def prometheus_metrics() -> Response:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_RedisCollector())
    return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


@bp.get("/openapi.json")
def openapi_json() -> Response:
    return json_response(openapi_document())


@bp.get("/docs")
def docs() -> Response:
    return Response(DOCS_PAGE, mimetype="text/html")
