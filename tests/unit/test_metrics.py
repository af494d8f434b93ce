"""Counters and histograms kept in Redis and rendered for Prometheus."""

from __future__ import annotations

import redis

from shared.metrics import BUCKETS, METRICS, MetricsRecorder, collect


def families(client: redis.Redis) -> dict[str, list[tuple[str, dict[str, str], float]]]:
    out: dict[str, list[tuple[str, dict[str, str], float]]] = {}
    for family in collect(client, {"predq_queue_depth": ("doc", 4.0)}):
        out[family.name] = [(s.name, dict(s.labels), s.value) for s in family.samples]
    return out


def test_counters_add_up_by_label(redis_client: redis.Redis) -> None:
    recorder = MetricsRecorder(redis_client, 60)
    recorder.count("predq_rows_scored", 10, model="iris")
    recorder.count("predq_rows_scored", 5, model="iris")
    recorder.count("predq_rows_scored", 2, model="diabetes")
    samples = {s[1]["model"]: s[2] for s in families(redis_client)["predq_rows_scored"]}
    assert samples == {"iris": 15, "diabetes": 2}


def test_histogram_buckets_are_cumulative_with_le_semantics(redis_client: redis.Redis) -> None:
    recorder = MetricsRecorder(redis_client, 60)
    for seconds in (BUCKETS[0], BUCKETS[0] + 1e-9, 0.3, 10_000.0):
        recorder.observe("predq_chunk_duration_seconds", seconds)
    samples = families(redis_client)["predq_chunk_duration_seconds"]
    buckets = {s[1]["le"]: s[2] for s in samples if s[0].endswith("_bucket")}
    assert buckets[str(BUCKETS[0])] == 1
    assert buckets[str(BUCKETS[1])] == 2
    assert buckets["0.5"] == 3
    assert buckets[str(BUCKETS[-1])] == 3
    assert buckets["+Inf"] == 4
    totals = {s[0]: s[2] for s in samples if not s[0].endswith("_bucket")}
    assert totals["predq_chunk_duration_seconds_count"] == 4
    assert abs(totals["predq_chunk_duration_seconds_sum"] - (2 * BUCKETS[0] + 1e-9 + 0.3 + 10_000.0)) < 1e-6


def test_gauges_are_rendered_with_their_value(redis_client: redis.Redis) -> None:
    assert families(redis_client)["predq_queue_depth"] == [("predq_queue_depth", {}, 4.0)]


def test_every_write_keeps_the_metrics_hash_expiring(redis_client: redis.Redis) -> None:
    recorder = MetricsRecorder(redis_client, 60)
    recorder.count("predq_jobs_submitted", model="iris")
    recorder.observe("predq_job_duration_seconds", 1.0)
    assert 0 < redis_client.ttl(METRICS) <= 60
