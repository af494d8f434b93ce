"""The monitoring profile's files (monitoring/), read for the tests: rules, dashboard, metric names."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from shared.settings import REPO_ROOT

MONITORING = REPO_ROOT / "monitoring"
RULES = MONITORING / "prometheus" / "rules" / "predq.yml"
RULE_TESTS = MONITORING / "prometheus" / "tests" / "predq_test.yml"
PROMETHEUS_CONFIGS = (MONITORING / "prometheus" / "prometheus.yml", MONITORING / "prometheus" / "prometheus.host.yml")
DASHBOARD = MONITORING / "grafana" / "dashboards" / "predq.json"
DATASOURCE = MONITORING / "grafana" / "provisioning" / "datasources" / "prometheus.yml"
METRIC_NAME = re.compile(r"\bpredq_[a-z0-9_]+\b")


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def panel_queries() -> dict[str, list[str]]:
    """Each panel's title -> its PromQL expressions."""
    return {p["title"]: [t["expr"] for t in p["targets"]] for p in dashboard()["panels"]}


def rule_queries() -> dict[str, str]:
    """Each alert's name -> its expression."""
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return {r["alert"]: r["expr"] for g in groups for r in g["rules"]}


def metric_names(expressions: list[str]) -> set[str]:
    return {name for expr in expressions for name in METRIC_NAME.findall(expr)}


def all_queries() -> list[str]:
    return [e for exprs in panel_queries().values() for e in exprs] + list(rule_queries().values())


def read(path: Path) -> str:
    return path.read_text()
