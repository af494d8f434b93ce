"""The monitoring profile against a real stack: every metric a panel or rule names is in a real /metrics
answer, and Debian's Prometheus scrapes the API, loads the rules and runs every dashboard query."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from scripts.embedded_redis import free_port
from scripts.stack import LocalStack, stop_process
from tests.integration.support import Api, wait_for
from tests.monitoring_files import RULES, all_queries, metric_names

pytestmark = pytest.mark.integration
PROMETHEUS = shutil.which("prometheus")


def exposed_names(text: str) -> set[str]:
    """Every sample name in a Prometheus text answer (counters as name_total, histograms as _bucket...)."""
    return {sample.name for family in text_string_to_metric_families(text) for sample in family.samples}


def test_every_metric_a_panel_or_rule_names_is_exposed(api: Api) -> None:
    api.run({"instances": [[5.1, 3.5, 1.4, 0.2]]})  # so every counter has a sample
    names = exposed_names(api.get("/metrics").text)
    needed = metric_names(all_queries())
    assert {"predq_redis_memory_used_bytes", "predq_redis_maxmemory_bytes", "predq_queue_depth"} <= needed
    missing = sorted(needed - names)
    assert not missing, f"named by the dashboard or rules but not in /metrics: {missing}"


@pytest.fixture
def prometheus(stack: LocalStack, tmp_path: Path) -> Iterator[str]:
    """Debian's Prometheus server scraping the stack every second, with predq's rules."""
    if PROMETHEUS is None:
        pytest.skip("no prometheus on PATH (apt-get install -y prometheus)")
    port = free_port()
    shutil.copy(RULES, tmp_path / "predq.yml")
    (tmp_path / "prometheus.yml").write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "rule_files: [predq.yml]\n"
        f"scrape_configs: [{{job_name: predq-api, static_configs: [{{targets: ['127.0.0.1:{stack.port}']}}]}}]\n")
    with open(tmp_path / "prometheus.log", "wb") as log:
        proc = subprocess.Popen([PROMETHEUS, f"--config.file={tmp_path / 'prometheus.yml'}",
                                 f"--storage.tsdb.path={tmp_path / 'data'}",
                                 f"--web.listen-address=127.0.0.1:{port}"],
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_process(proc)


def _get(url: str, **params: str) -> Any:
    try:
        answer = requests.get(url, params=params, timeout=10)
        return answer.json() if answer.status_code == 200 else None
    except (requests.RequestException, ValueError):
        return None


def test_prometheus_scrapes_the_api_loads_the_rules_and_runs_every_query(prometheus: str) -> None:
    def scraped() -> Any:
        targets = _get(prometheus + "/api/v1/targets")
        active = targets["data"]["activeTargets"] if targets else []
        return active and active[0]["health"] == "up"

    wait_for(scraped, 60, "Prometheus to scrape the API")

    def workers_seen() -> Any:
        answer = _get(prometheus + "/api/v1/query", query="predq_workers_alive >= 1")
        return answer and answer["data"]["result"]

    wait_for(workers_seen, 60, "predq_workers_alive >= 1 in Prometheus")

    def rules_evaluated() -> Any:
        answer = _get(prometheus + "/api/v1/rules")
        rules = [r for g in answer["data"]["groups"] for r in g["rules"]] if answer else []
        return len(rules) == 4 and all(r["health"] == "ok" for r in rules) and rules

    rules = wait_for(rules_evaluated, 60, "the four rules evaluated without error")
    assert {r["name"] for r in rules} == {"PredqNoWorkersAlive", "PredqQueueGrowing", "PredqHttp5xxRate",
                                          "PredqRedisMemoryHigh"}
    for query in all_queries():
        answer = _get(prometheus + "/api/v1/query", query=query)
        assert answer is not None and answer["status"] == "success", f"Prometheus refused {query!r}: {answer}"
