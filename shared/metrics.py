"""Counters and histograms kept in Redis, so every API and worker process adds to the same figures."""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import orjson
import redis
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

from shared.keys import key

METRICS = key("metrics")
"""One hash holds every counter and histogram field."""

COUNTERS = {
    "predq_jobs_submitted": ("Jobs accepted.", ("model",)),
    "predq_jobs_finished": ("Jobs that reached a terminal status.", ("model", "status")),
    "predq_rows_scored": ("Rows scored by workers.", ("model",)),
    "predq_chunks_scored": ("Chunks scored, by the worker node that scored them (not those scored while their "
                            "body was still being read: their rows count in predq_rows_scored once the job is "
                            "accepted).", ("worker",)),
    "predq_http_requests": ("HTTP requests answered.", ("route", "method", "status")),
}
HISTOGRAMS = {
    "predq_job_duration_seconds": "Seconds from a job's creation to its end.",
    "predq_chunk_duration_seconds": "Seconds a worker spent scoring one chunk.",
}
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0)


def _field(name: str, labels: Mapping[str, str]) -> str:
    return orjson.dumps([name, sorted(labels.items())]).decode()


class MetricsRecorder:
    """Adds to the shared figures; every write refreshes the hash's TTL."""

    def __init__(self, client: redis.Redis, ttl_seconds: int) -> None:
        self.redis = client
        self.ttl = ttl_seconds

    def count(self, name: str, amount: float = 1, **labels: str) -> None:
        self.record(counts=[(name, amount, labels)])

    def observe(self, name: str, seconds: float) -> None:
        self.record(observations=[(name, seconds)])

    def record(self, counts: Sequence[tuple[str, float, Mapping[str, str]]] = (),
               observations: Sequence[tuple[str, float]] = ()) -> None:
        """Several counts and observations in one round trip."""
        with self.redis.pipeline(transaction=False) as pipe:
            for name, amount, labels in counts:
                pipe.hincrbyfloat(METRICS, _field(name, labels), amount)
            for name, seconds in observations:
                pipe.hincrby(METRICS, _field(name, {"bucket": str(bisect.bisect_left(BUCKETS, seconds))}), 1)
                pipe.hincrbyfloat(METRICS, _field(name, {"sum": ""}), seconds)
            pipe.expire(METRICS, self.ttl)
            pipe.execute()


def collect(client: redis.Redis, gauges: Mapping[str, tuple[str, float]]) -> Iterator[Metric]:
    """Prometheus families for everything recorded, plus the given gauges (name -> (help, value))."""
    stored = _stored(client)
    for name, (doc, label_names) in COUNTERS.items():
        family = CounterMetricFamily(name, doc, labels=list(label_names))
        for labels, value in stored.get(name, []):
            family.add_metric([_public(n, labels.get(n, "")) for n in label_names], value)
        yield family
    for name, doc in HISTOGRAMS.items():
        yield _histogram(name, doc, stored.get(name, []))
    for name, (doc, value) in gauges.items():
        yield GaugeMetricFamily(name, doc, value=value)


def public_node(node: str) -> str:
    """A worker node as /metrics shows it: the name before "@" and a short hash of the whole. Celery names a
    node name@host, and /metrics, open to anyone who reaches it, must not show the host's name."""
    return f"{node.partition('@')[0]}-{hashlib.sha256(node.encode()).hexdigest()[:8]}"


def _public(label: str, value: str) -> str:
    return public_node(value) if label == "worker" and value else value


def _stored(client: redis.Redis) -> dict[str, list[tuple[dict[str, str], float]]]:
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for field, value in client.hgetall(METRICS).items():
        name, labels = orjson.loads(field)
        out.setdefault(name, []).append((dict(labels), float(value)))
    return out


def _histogram(name: str, doc: str, samples: list[tuple[dict[str, str], float]]) -> HistogramMetricFamily:
    counts = [0.0] * (len(BUCKETS) + 1)
    total = 0.0
    for labels, value in samples:
        if "bucket" in labels:
            counts[int(labels["bucket"])] += value
        else:
            total += value
    cumulative: list[tuple[str, float]] = []
    running = 0.0
    for bound, count in zip([*map(str, BUCKETS), "+Inf"], counts, strict=True):
        running += count
        cumulative.append((bound, running))
    family = HistogramMetricFamily(name, doc)
    family.add_metric([], cumulative, sum_value=total)
    return family


def record_job_end(recorder: MetricsRecorder, model: Mapping[str, Any], status: str, seconds: float) -> None:
    recorder.count("predq_jobs_finished", model=str(model["name"]), status=status)
    recorder.observe("predq_job_duration_seconds", seconds)
