"""Operations routes: /healthz, /readyz, /metrics (and that /openapi.json and /docs need no key)."""

from __future__ import annotations

import time
from collections.abc import Callable

import fakeredis
import pytest
import redis
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from shared import workers
from shared.store import input_key
from tests.unit.conftest import StackFactory
from tests.unit.helpers import assert_problem, iris_rows

Runner = Callable[[], list[str]]
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(client: FlaskClient) -> Samples:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    out: Samples = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


# ---------------------------------------------------------------- health and readiness


def test_healthz_is_200(client: FlaskClient) -> None:
    assert client.get("/healthz").status_code == 200


def test_healthz_is_200_while_redis_is_down(make_stack: StackFactory) -> None:
    server = fakeredis.FakeServer()
    stack = make_stack(client=fakeredis.FakeRedis(server=server))
    server.connected = False
    assert stack.client.get("/healthz").status_code == 200


def test_readyz_is_503_with_checks_when_no_worker_is_alive(client: FlaskClient) -> None:
    problem = assert_problem(client.get("/readyz"), 503)
    assert problem["checks"] == {"redis": "ok", "workers": 0}


def test_readyz_is_200_once_a_worker_stamps_its_heartbeat(client: FlaskClient, redis_client: redis.Redis) -> None:
    workers.stamp(redis_client, "w1@host|101", [])
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ready", "checks": {"redis": "ok", "workers": 1}}


def test_readyz_counts_worker_nodes(client: FlaskClient, redis_client: redis.Redis) -> None:
    workers.stamp(redis_client, "w1@host|101", [])
    workers.stamp(redis_client, "w1@host|102", [])
    workers.stamp(redis_client, "w2@host|201", [])
    assert client.get("/readyz").get_json()["checks"]["workers"] == 2


def test_readyz_ignores_a_stale_heartbeat(client: FlaskClient, redis_client: redis.Redis) -> None:
    redis_client.zadd(workers.WORKERS, {"w1@host|101": time.time() - workers.ALIVE_WITHIN_SECONDS - 5})
    problem = assert_problem(client.get("/readyz"), 503)
    assert problem["checks"]["workers"] == 0


def test_readyz_is_503_when_a_worker_has_left(client: FlaskClient, redis_client: redis.Redis) -> None:
    workers.stamp(redis_client, "w1@host|101", [])
    workers.forget(redis_client, "w1@host|101")
    assert_problem(client.get("/readyz"), 503)


def test_readyz_is_503_with_redis_down(make_stack: StackFactory) -> None:
    server = fakeredis.FakeServer()
    stack = make_stack(client=fakeredis.FakeRedis(server=server))
    server.connected = False
    problem = assert_problem(stack.client.get("/readyz"), 503)
    assert problem["checks"] == {"redis": "down", "workers": 0}


# ---------------------------------------------------------------- metrics


REQUIRED = ["predq_jobs_submitted", "predq_jobs_finished", "predq_rows_scored", "predq_queue_depth",
            "predq_workers_alive", "predq_job_duration_seconds", "predq_chunk_duration_seconds",
            "predq_http_requests"]


def test_metrics_are_prometheus_text_with_every_documented_family(client: FlaskClient) -> None:
    text = client.get("/metrics").get_data(as_text=True)
    families = {f.name: f.type for f in text_string_to_metric_families(text)}
    for name in REQUIRED:
        assert name in families, name
    assert families["predq_jobs_submitted"] == "counter"
    assert families["predq_http_requests"] == "counter"
    assert families["predq_job_duration_seconds"] == "histogram"
    assert families["predq_chunk_duration_seconds"] == "histogram"
    assert families["predq_queue_depth"] == "gauge"
    assert families["predq_workers_alive"] == "gauge"


def test_counters_move_after_a_job(client: FlaskClient, run_queued: Runner) -> None:
    before = scrape(client)
    job_id = client.post("/jobs", json={"instances": iris_rows(10)}).get_json()["job_id"]
    run_queued()
    client.get(f"/jobs/{job_id}")
    after = scrape(client)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("predq_jobs_submitted_total", model="iris") == 1
    assert moved("predq_jobs_finished_total", model="iris", status="succeeded") == 1
    assert moved("predq_rows_scored_total", model="iris") == 10
    assert moved("predq_job_duration_seconds_count") == 1
    assert moved("predq_chunk_duration_seconds_count") == 3
    assert moved("predq_job_duration_seconds_sum") >= 0
    assert moved("predq_http_requests_total", route="/jobs", method="POST", status="202") == 1
    assert moved("predq_http_requests_total", route="/jobs/<job_id>", method="GET", status="200") == 1


def test_refused_requests_are_counted_by_status(client: FlaskClient) -> None:
    before = scrape(client)
    client.post("/jobs", json={"instances": []})
    client.get("/jobs/" + "0" * 32)
    after = scrape(client)
    assert value(after, "predq_http_requests_total", route="/jobs", method="POST", status="422") - \
        value(before, "predq_http_requests_total", route="/jobs", method="POST", status="422") == 1
    assert value(after, "predq_http_requests_total", route="/jobs/<job_id>", method="GET", status="404") == 1


def test_cancelled_and_failed_jobs_are_counted_by_status(client: FlaskClient, run_queued: Runner,
                                                         redis_client: redis.Redis) -> None:
    cancelled = client.post("/jobs", json={"instances": iris_rows(3)}).get_json()["job_id"]
    client.delete(f"/jobs/{cancelled}")
    failed = client.post("/jobs", json={"model": "iris", "instances": iris_rows(3)}).get_json()["job_id"]
    redis_client.delete(input_key(failed, 0))
    run_queued()
    samples = scrape(client)
    assert value(samples, "predq_jobs_finished_total", model="iris", status="cancelled") == 1
    assert value(samples, "predq_jobs_finished_total", model="iris", status="failed") == 1
    assert value(samples, "predq_jobs_finished_total", model="iris", status="succeeded") == 0


def test_histogram_buckets_are_cumulative(client: FlaskClient, run_queued: Runner) -> None:
    client.post("/jobs", json={"instances": iris_rows(10)})
    run_queued()
    samples = scrape(client)
    buckets = sorted(((float(dict(labels)["le"]), v) for (name, labels), v in samples.items()
                      if name == "predq_chunk_duration_seconds_bucket"))
    counts = [v for _, v in buckets]
    assert counts == sorted(counts)
    assert buckets[-1] == (float("inf"), 3)


def test_gauges_show_queue_depth_and_live_workers(client: FlaskClient, redis_client: redis.Redis) -> None:
    redis_client.rpush("predq", b"m1", b"m2", b"m3")
    workers.stamp(redis_client, "w1@host|1", [])
    samples = scrape(client)
    assert value(samples, "predq_queue_depth") == 3
    assert value(samples, "predq_workers_alive") == 1


def test_metrics_are_shared_by_every_process_through_redis(make_stack: StackFactory) -> None:
    one, two = make_stack(), make_stack()
    one.client.post("/jobs", json={"instances": iris_rows(2)})
    two.client.post("/jobs", json={"instances": iris_rows(2)})
    assert value(scrape(one.client), "predq_jobs_submitted_total", model="iris") == 2


def test_sync_predict_counts_its_rows(client: FlaskClient) -> None:
    client.post("/models/diabetes/predict", json={"instances": [[0.0] * 10] * 4})
    assert value(scrape(client), "predq_rows_scored_total", model="diabetes") == 4


# ---------------------------------------------------------------- keys (the document itself: test_openapi.py)


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics", "/openapi.json", "/docs", "/ui", "/ui/jobs.js"])
def test_operations_routes_need_no_key(make_stack: StackFactory, path: str) -> None:
    stack = make_stack({"API_KEYS": "k1"})
    assert stack.client.get(path).status_code in (200, 503)


@pytest.mark.parametrize("path", ["/docs", "/ui", "/ui/jobs.js", "/docs/swagger-ui-bundle.js"])
def test_pages_run_only_this_hosts_scripts(client: FlaskClient, path: str) -> None:
    answer = client.get(path)
    assert answer.status_code == 200
    policy = answer.headers["Content-Security-Policy"]
    assert "script-src 'self';" in policy and "default-src 'self'" in policy
    assert answer.headers["X-Content-Type-Options"] == "nosniff"


def test_page_files_outside_the_pages_are_not_served(client: FlaskClient) -> None:
    assert client.get("/ui/../pages.py").status_code == 404
    assert client.get("/ui/jobs.html").status_code == 404  # the page itself is /ui
