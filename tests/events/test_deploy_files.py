"""The Grafana dashboard and the Prometheus config only name metrics that agents and coordinators export."""

from __future__ import annotations

import json
import re

from registry.events.metrics import EventMetrics
from tests.conftest import ROOT

SUFFIXES = ("_total", "_bucket", "_count", "_sum", "_created")


def _exported() -> set[str]:
    registry = EventMetrics("test").registry
    return {family.name for family in registry.collect()}


def test_dashboard_queries_name_exported_metrics() -> None:
    dashboard = json.loads((ROOT / "deploy" / "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    assert exprs
    exported = _exported()
    for expr in exprs:
        for name in re.findall(r"arbsphere_[a-z_]+", expr):
            base = next((name.removesuffix(s) for s in SUFFIXES if name.endswith(s)), name)
            assert base in exported, (name, expr)


def test_prometheus_config_scrapes_metrics_paths() -> None:
    text = (ROOT / "deploy" / "prometheus.yml").read_text()
    assert text.count("metrics_path: /metrics") == 2
    assert "job_name: arbsphere-coordinator" in text and "job_name: arbsphere-agents" in text
