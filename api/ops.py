"""Operations routes: liveness, readiness, metrics."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector, CollectorRegistry

from api import declarations as spec
from api.operations import documented
from api.responses import json_response
from api.services import services
from shared import metrics, redis_policy, workers
from shared.errors import TRANSIENT_REDIS_ERRORS, NotReadyError
from shared.queue import lane_queues
from shared.services import Services

bp = Blueprint("ops", __name__)


@bp.get("/healthz")
@documented(spec.HEALTHZ)
def healthz() -> Response:
    return json_response({"status": "ok"})


@bp.get("/readyz")
@documented(spec.READYZ)
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
        depth = lane_depths(svc)
        yield lane_depth_family(depth)
        gauges = {
            "predq_queue_depth": ("Chunks waiting to be scored, in every lane.", float(sum(depth.values()))),
            "predq_workers_alive": ("Worker nodes with a recent heartbeat.", float(workers.alive(svc.redis))),
            "predq_jobs_active": ("Jobs queued or running.", float(svc.store.active_count())),
            **redis_policy.memory_gauges(svc.redis),
        }
        yield from metrics.collect(svc.redis, gauges)


def lane_depths(svc: Services) -> dict[str, int]:
    """Chunks waiting in each lane, and in the fair scheduler before the bulk lane."""
    depth = {lane.value: int(svc.redis.llen(queue)) for lane, queue in lane_queues(svc.settings).items()}
    return {**depth, "scheduled": svc.lifecycle.scheduler.waiting()}


def lane_depth_family(depth: dict[str, int]) -> GaugeMetricFamily:
    family = GaugeMetricFamily("predq_lane_depth", "Chunks waiting, by lane (scheduled: not yet in the bulk lane).",
                               labels=["lane"])
    for lane, value in depth.items():
        family.add_metric([lane], float(value))
    return family


@bp.get("/metrics")
@documented(spec.METRICS)
def prometheus_metrics() -> Response:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_RedisCollector())
    return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)

