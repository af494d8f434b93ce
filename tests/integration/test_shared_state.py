"""Shared state stays bounded: after a workload of every kind (each body format, typed rows with pass-through,
bulk and small jobs, cancels, failures, idempotency keys, the rate limit, quotas, callbacks, long polls and
followers), every key predq wrote in a real Redis carries a TTL, except the few listed in PERMANENT, each
bounded by something no client chooses; and no metric label takes a value a client chose."""

from __future__ import annotations

import io
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import redis
import requests

from scripts.stack import LocalStack
from shared.keys import PREFIX
from shared.registry import write_model
from tests.integration.conftest import GATED_MODEL
from tests.integration.support import JOB_TIMEOUT, TERMINAL, Api, Gate, gated_rows, start_stack, wait_for
from tests.integration.test_callbacks import Receiver
from tests.models import FailingModel

pytestmark = pytest.mark.integration

KEYS = ("team-a", "team-b")
RATE = 40
"""Requests per second per key: high enough for the workload, low enough for a burst to pass it."""
FAILING_MODEL = "failing"
ROW = [5.1, 3.5, 1.4, 0.2]
FEATURES = ("sepal_length", "sepal_width", "petal_length", "petal_width")

PERMANENT: dict[str, str] = {}
"""Keys allowed without a TTL, each with why it stays bounded: none. Even the counters and sets that live as
long as the service (active jobs, live workers, the order counter) have their TTL refreshed on every write."""

FAMILIES = {"job", "owner", "idem", "quota", "rate", "metrics", "active", "order", "workers", "costs"}
"""Key families the workload must have written, so that the check below covers them."""


@pytest.fixture(scope="module")
def state_stack(stack_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    models = tmp_path_factory.mktemp("state-models") / "models"
    shutil.copytree(stack_model_dir, models)
    write_model(models, FAILING_MODEL, 1, FailingModel(), list(FEATURES), False, fmt="joblib")
    env = {"API_KEYS": ",".join(KEYS), "RATE_LIMIT_PER_KEY": str(RATE), "CHUNK_ROWS": "100",
           "SMALL_JOB_ROWS": "200", "TARGET_CHUNK_SECONDS": "0", "CALLBACK_ALLOWED_HOSTS": "127.0.0.1:*",
           "CALLBACK_PRIVATE_HOSTS": "127.0.0.1", "CALLBACK_SECRET": "state-secret-" + "0123456789" * 3}
    with start_stack(LocalStack(workers=1, env=env, model_dir=str(models),
                                log_dir=str(tmp_path_factory.mktemp("state-logs")))) as running:
        yield running


def _parquet(rows: int) -> bytes:
    sink = io.BytesIO()
    pq.write_table(pa.table({name: [ROW[j]] * rows for j, name in enumerate(FEATURES)}), sink)
    return sink.getvalue()


def _accepted(answer: requests.Response) -> str:
    assert answer.status_code in (200, 202), answer.text[:300]
    job_id: str = answer.json()["job_id"]
    return job_id


def _workload(api: Api, receiver: Receiver) -> list[str]:
    """One of everything that writes to Redis; the ids of the jobs it made."""
    csv = (",".join(FEATURES) + "\n" + "\n".join(",".join(map(str, ROW)) for _ in range(150)) + "\n").encode()
    ndjson = b"".join(b"[5.1, 3.5, 1.4, 0.2]\n" for _ in range(150))
    churn = [{"plan": "basic", "region": None, "tenure_months": 3, "monthly_fee": 9.5, "autopay": True,
              "id": f"c{i}"} for i in range(5)]
    jobs = [
        _accepted(api.post("/jobs", json={"instances": [ROW] * 5, "metadata": {"kind": "json"}})),
        _accepted(api.post("/jobs", data=csv, headers={"Content-Type": "text/csv"})),
        _accepted(api.post("/jobs", data=ndjson, headers={"Content-Type": "application/x-ndjson"})),
        _accepted(api.post("/jobs", data=_parquet(120), headers={"Content-Type": "application/vnd.apache.parquet"})),
        _accepted(api.post("/jobs", json={"model": "churn", "instances": churn, "passthrough": ["id"]})),
        _accepted(api.post("/jobs", json={"instances": [ROW] * 900})),  # the bulk lane, through the scheduler
        _accepted(api.post("/jobs", json={"model": FAILING_MODEL, "instances": [ROW] * 3})),
        _accepted(api.post("/jobs", json={"instances": [ROW], "callback_url": receiver.url})),
    ]
    for _ in range(2):  # the same Idempotency-Key twice: one job
        jobs.append(_accepted(api.post("/jobs", json={"instances": [ROW]}, headers={"Idempotency-Key": "k-1"})))
    held = _accepted(api.post("/jobs", json={"model": GATED_MODEL, "instances": gated_rows(3)}))
    cancelled = _accepted(api.post("/jobs", json={"instances": [ROW] * 900}))
    api.request("DELETE", f"/jobs/{cancelled}")
    jobs += [held, cancelled]
    api.get(f"/jobs/{held}", params={"wait": 1})  # a long poll's lease, on a job that waits for its gate
    api.get(f"/jobs/{jobs[0]}/results", params={"format": "ndjson", "follow": "true"})  # a follower's lease
    api.post("/models/iris/predict", json={"instances": [ROW]})
    api.post("/jobs", params={"dry_run": "true"}, json={"instances": [ROW]})
    api.post("/jobs", json={"instances": [[1, 2]]})  # a refused submission
    api.get("/jobs", params={"status": "failed"})
    return jobs


def _until_terminal(api: Api, job_id: str) -> bool:
    answer = api.get(f"/jobs/{job_id}")  # a 429 (the rate limit) only means: ask again
    return answer.status_code == 200 and answer.json()["status"] in TERMINAL


def _scan(client: redis.Redis) -> tuple[set[str], dict[str, str]]:
    """The key families under predq's prefix, and the keys without a TTL (with their types)."""
    families: set[str] = set()
    without_ttl: dict[str, str] = {}
    for name in client.scan_iter(f"{PREFIX}:*", count=1000):
        families.add(name.decode().split(":")[1])
        if client.ttl(name) == -1:
            without_ttl[name.decode()] = client.type(name).decode()
    return families, without_ttl


def test_after_every_kind_of_request_every_key_predq_wrote_has_a_ttl(state_stack: LocalStack, gate: Gate) -> None:
    receiver = Receiver(failures=0)
    client = redis.Redis.from_url(state_stack.redis_url)
    with Api(state_stack.base_url, api_key=KEYS[0]) as api:
        gate.close()  # the gated job stays running while Redis is scanned mid-flight
        try:
            jobs = _workload(api, receiver)
            in_flight, without_ttl = _scan(client)  # chunks, scheduler rings, reservations exist only meanwhile
        finally:
            gate.open()
        for job_id in jobs:
            wait_for(lambda job_id=job_id: _until_terminal(api, job_id), JOB_TIMEOUT, f"job {job_id} to end")
        wait_for(lambda: receiver.received, JOB_TIMEOUT, "the callback delivery")
        for fmt in ("json", "csv", "parquet"):
            api.get(f"/jobs/{jobs[0]}/results", params={"format": fmt})
    with Api(state_stack.base_url, api_key=KEYS[1]) as burst:  # past the rate limit: a 429
        assert any(burst.get("/models").status_code == 429 for _ in range(3 * RATE))
    after, more_without_ttl = _scan(client)
    client.close()
    assert in_flight | after >= FAMILIES, f"the workload wrote no {sorted(FAMILIES - in_flight - after)} key"
    without_ttl.update(more_without_ttl)
    assert set(without_ttl) <= set(PERMANENT), f"keys without a TTL: {without_ttl}"


def test_metric_labels_never_take_a_path_or_method_a_client_chose(state_stack: LocalStack) -> None:
    marker = uuid.uuid4().hex
    with Api(state_stack.base_url, api_key=KEYS[0]) as api:
        for i in range(20):
            api.get(f"/{marker}/{i}")
            api.request("PROPFIND", f"/jobs/{marker}")
            api.get(f"/jobs/{marker}{i}")  # a route with a parameter: labelled by its template
        metrics = requests.get(state_stack.base_url + "/metrics", timeout=30).text
    assert marker not in metrics and "PROPFIND" not in metrics
    assert 'route="/jobs/<job_id>"' in metrics and 'route="<unmatched>"' in metrics and 'method="other"' in metrics
