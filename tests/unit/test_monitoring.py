"""The monitoring profile's files: rules that promtool accepts and whose alerts fire as their tests say,
and a dashboard with a panel for each figure the issue names."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml

from tests.monitoring_files import (
    DASHBOARD,
    DATASOURCE,
    PROMETHEUS_CONFIGS,
    RULE_TESTS,
    RULES,
    dashboard,
    panel_queries,
    rule_queries,
)

PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="no promtool on PATH (apt-get install -y prometheus)")


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=60, check=False)


@needs_promtool
def test_promtool_accepts_the_rules() -> None:
    answer = promtool("check", "rules", str(RULES))
    assert answer.returncode == 0, answer.stdout + answer.stderr
    assert "SUCCESS: 4 rules found" in answer.stdout


@needs_promtool
def test_each_alert_fires_when_its_test_says_and_not_before() -> None:
    answer = promtool("test", "rules", str(RULE_TESTS))
    assert answer.returncode == 0, answer.stdout + answer.stderr


@needs_promtool
@pytest.mark.parametrize("config", PROMETHEUS_CONFIGS, ids=lambda p: p.name)
def test_promtool_accepts_the_prometheus_configs(config: object) -> None:
    answer = promtool("check", "config", str(config))
    assert answer.returncode == 0, answer.stdout + answer.stderr


def test_the_alerts_the_issue_asks_for_exist() -> None:
    rules = rule_queries()
    assert set(rules) == {"PredqNoWorkersAlive", "PredqQueueGrowing", "PredqHttp5xxRate", "PredqRedisMemoryHigh"}
    assert "predq_workers_alive" in rules["PredqNoWorkersAlive"]
    assert "predq_redis_maxmemory_bytes" in rules["PredqRedisMemoryHigh"]
    groups = yaml.safe_load(RULES.read_text())["groups"]
    assert next(r for g in groups for r in g["rules"] if r["alert"] == "PredqQueueGrowing")["for"] == "10m"


def test_the_dashboard_has_a_panel_for_each_figure() -> None:
    queries = " ".join(e for exprs in panel_queries().values() for e in exprs)
    for needed in ("predq_jobs_finished_total", "predq_rows_scored_total", "predq_lane_depth",
                   "predq_chunk_duration_seconds_bucket", "predq_workers_alive", "predq_http_requests_total",
                   "predq_redis_memory_used_bytes"):
        assert needed in queries, f"no panel reads {needed}"
    assert "histogram_quantile(0.95" in queries


def test_every_panel_reads_the_provisioned_datasource() -> None:
    uid = yaml.safe_load(DATASOURCE.read_text())["datasources"][0]["uid"]
    board = dashboard()
    assert board["uid"] == "predq" and DASHBOARD.name == "predq.json"
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids)), "panel ids repeat"
    for panel in board["panels"]:
        assert panel["datasource"]["uid"] == uid, panel["title"]
        assert panel["targets"] and all(t["datasource"]["uid"] == uid for t in panel["targets"]), panel["title"]
