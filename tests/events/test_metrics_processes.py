"""``/metrics`` of a running coordinator and agents, scraped during sessions, and their event logs.

Real processes over mutual TLS (a dev CA), as ``tests/federation/test_fed_processes.py`` starts them; each
serves Prometheus text on an ephemeral port (``--metrics-port 0``, announced by a ``metrics`` event), which
must parse with prometheus_client's own parser and carry the families the operator's dashboard uses.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from registry.events.log import Record, open_log
from registry.events.metrics import EventMetrics
from registry.pki import DevCertificateAuthority, write_bundle
from sdk.scenarios import generate_scenario
from tests.conftest import ROOT
from tests.events.conftest import NATS_SERVER

REGION = "metrics"

COORDINATOR_FAMILIES = {
    "arbsphere_sessions",
    "arbsphere_session_rounds",
    "arbsphere_session_solve_seconds",
    "arbsphere_session_profit_quote",
    "arbsphere_commit_imbalance_lots",
    "arbsphere_commit_gap",
    "arbsphere_ledger_size_entries",
    "arbsphere_rounds",
    "arbsphere_event_log_append_seconds",
    "arbsphere_event_log_dropped",
    "arbsphere_round_gather_seconds",
    "arbsphere_delta_merge_seconds",
    "arbsphere_session_certified_bound_quote",
    "arbsphere_session_profit_over_bound_ratio",
    "arbsphere_ledger_append_seconds",
}
AGENT_FAMILIES = {
    "arbsphere_plans",
    "arbsphere_orders",
    "arbsphere_executions",
    "arbsphere_fills",
    "arbsphere_rejects",
    "arbsphere_hedges",
    "arbsphere_realised_pnl_quote",
    "arbsphere_predicted_pnl_quote",
    "arbsphere_risk_gate_trips",
    "arbsphere_plan_to_orders_seconds",
    "arbsphere_local_solve_seconds",
    "arbsphere_feed_messages_per_second",
    "arbsphere_feed_staleness_seconds",
    "arbsphere_feed_reconnects",
    "arbsphere_inventory_drift",
}


def scrape(port: int) -> dict[str, dict[str, float]]:
    """Family name -> {sample name with labels: value}, parsed by prometheus_client's text parser."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    out: dict[str, dict[str, float]] = {}
    for family in text_string_to_metric_families(text):
        samples = out.setdefault(family.name, {})
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}"] = sample.value
    return out


def total(families: dict[str, dict[str, float]], family: str, suffix: str = "_total") -> float:
    return sum(v for k, v in families.get(family, {}).items() if k.split("{")[0].endswith(suffix))


class Process:
    """A CLI process whose JSON-line events are read on a thread (so several can be followed at once)."""

    def __init__(self, *args: str) -> None:
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "arbsphere.cli", *args],
            stdout=subprocess.PIPE,
            stderr=open(os.environ.get("ARBSPHERE_TEST_STDERR", os.devnull), "a"),  # noqa: SIM115
            text=True,
            cwd=ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.seen: list[dict[str, Any]] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            if line.startswith("{"):
                self.events.put(json.loads(line))

    def wait_for(self, kind: str, timeout: float = 120.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        for event in self.seen:
            if event["event"] == kind:
                return event
        while time.monotonic() < deadline:
            try:
                event = self.events.get(timeout=0.5)
            except queue.Empty:
                if self.popen.poll() is not None and self.events.empty():
                    break
                continue
            self.seen.append(event)
            if event["event"] == kind:
                return event
        raise AssertionError(f"no {kind!r} event; seen {[e['event'] for e in self.seen]}")

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=10)


@pytest.fixture
def processes() -> Iterator[list[Process]]:
    started: list[Process] = []
    yield started
    for process in started:
        process.stop()


def _until(
    port: int, family: str, minimum: float, timeout: float = 20.0, suffix: str = "_total"
) -> dict[str, dict[str, float]]:
    deadline = time.monotonic() + timeout
    while True:
        families = scrape(port)
        if total(families, family, suffix) >= minimum or time.monotonic() > deadline:
            return families
        time.sleep(0.2)


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_metrics_of_a_running_region_parse_and_carry_the_session(
    tmp_path: Path, processes: list[Process], backend: str
) -> None:
    tag = uuid.uuid4().hex[:8]

    def log_url(name: str, default: Path) -> str:
        return str(default) if backend == "embedded" else f"{NATS_SERVER}/{name}-{tag}"

    kinds = ("order_book", "cpmm")
    ca = DevCertificateAuthority.create(tmp_path / "ca", REGION)
    venues = sorted(generate_scenario(2, 7, kinds=kinds).venues)
    write_bundle(tmp_path / "coordinator", ca.issue_coordinator())
    for venue in venues:
        write_bundle(tmp_path / venue, ca.issue_agent(venue))
    port_file = tmp_path / "port"
    coordinator = Process(
        "coordinator", "serve",
        "--cert-dir", str(tmp_path / "coordinator"),
        "--region", REGION,
        "--port-file", str(port_file),
        "--expect", "2",
        "--sessions", "0",
        "--interval", "0.5",
        "--ledger-url", f"sqlite:///{tmp_path / 'ledger' / 'ledger.sqlite'}",
        "--log-key-file", str(tmp_path / "log.key"),
        "--metrics-port", "0",
        "--events", log_url("coordinator", tmp_path / "ledger" / "events.jsonl"),
    )  # fmt: skip
    processes.append(coordinator)
    coordinator_metrics = coordinator.wait_for("metrics")["port"]
    port = coordinator.wait_for("listening")["port"]
    agents = {}
    for venue in venues:
        agents[venue] = Process(
            "agent", "run",
            "--venue", venue,
            "--cert-dir", str(tmp_path / venue),
            "--target", f"127.0.0.1:{port}",
            "--scenario-venues", "2",
            "--seed", "7",
            "--kinds", ",".join(kinds),
            "--sessions", "0",
            "--state-dir", str(tmp_path / f"state-{venue}"),
            "--metrics-port", "0",
            "--events", log_url(f"agent-{venue}", tmp_path / f"state-{venue}" / "events.jsonl"),
        )  # fmt: skip
        processes.append(agents[venue])
    agent_metrics = {v: p.wait_for("metrics")["port"] for v, p in agents.items()}
    session = coordinator.wait_for("session")

    # The region is still running sessions: scrape it now.
    families = _until(coordinator_metrics, "arbsphere_sessions", 1)
    assert set(families) >= COORDINATOR_FAMILIES, COORDINATOR_FAMILIES - set(families)
    assert total(families, "arbsphere_sessions") >= 1
    assert total(families, "arbsphere_session_rounds", "_count") >= 1
    assert total(families, "arbsphere_session_rounds", "_sum") >= session["rounds"]
    assert families["arbsphere_ledger_size_entries"]["arbsphere_ledger_size_entries{}"] >= 1
    assert total(families, "arbsphere_event_log_appended") >= 2
    assert total(families, "arbsphere_round_gather_seconds", "_count") >= session["rounds"]
    assert total(families, "arbsphere_delta_merge_seconds", "_count") >= session["rounds"]
    assert total(families, "arbsphere_ledger_append_seconds", "_count") >= 1

    executed = 0.0
    for venue, process in agents.items():
        process.wait_for("execution")
        families = _until(agent_metrics[venue], "arbsphere_executions", 1)
        assert set(families) >= AGENT_FAMILIES, (venue, AGENT_FAMILIES - set(families))
        assert total(families, "arbsphere_plans") >= 1
        # reported at the next session's start (the region keeps running sessions)
        families = _until(agent_metrics[venue], "arbsphere_local_solve_seconds", 1, suffix="_count")
        assert total(families, "arbsphere_local_solve_seconds", "_count") >= 1
        assert families["arbsphere_feed_staleness_seconds"], "no feed_health reached the metrics"
        executed += total(families, "arbsphere_executions")
    assert executed >= 2

    # Every event each process printed is in its log (next to the ledger; in the agent's state directory).
    for process in processes:
        process.stop()
    logs = [open_log(log_url("coordinator", tmp_path / "ledger" / "events.jsonl"), scope="x")]
    logs += [
        open_log(log_url(f"agent-{v}", tmp_path / f"state-{v}" / "events.jsonl"), scope="x") for v in venues
    ]
    try:
        kinds_logged = {r.kind for r in logs[0].read(1)}
        assert {"listening", "round", "session", "metrics", "event_log"} <= kinds_logged
        for agent_log in logs[1:]:
            logged = [r.kind for r in agent_log.read(1)]
            assert "plan" in logged and "execution" in logged, logged
    finally:
        for log in logs:
            if backend == "jetstream":
                log.delete()  # type: ignore[attr-defined]
            log.close()


def test_metrics_from_events_parse_with_the_prometheus_parser() -> None:
    metrics = EventMetrics("agent")
    events: list[dict[str, object]] = [
        {"event": "round", "imbalance_lots": 0.25, "gap": 0.001, "gather_ms": 4.0, "merge_ms": 0.2},
        {"event": "session", "strategy": "price", "rounds": 9, "converged": True, "profit": 2.5,
         "elapsed_ms": 31.0, "participants": ["a", "b"], "committed": ["a", "b"], "dropped": [],
         "execution_reports": 2, "ledger_size": 12, "ledger_append_ms": 1.5, "bound": 2.75},
        {"event": "feed_health", "feeds": {"coinbase:BTC-USD": {"rate_per_s": 120.5, "staleness_ms": 40,
         "reconnects": 2}}},
        {"event": "feed_health", "feeds": {"coinbase:BTC-USD": {"rate_per_s": 99.0, "staleness_ms": 10,
         "reconnects": 3}}},
        {"event": "session_stats", "solve_ms": [0.05, 0.07], "inventory_drift": {"BTC": "-0.001"}},
        {"event": "plan", "legs": [{"side": "BUY"}, {"side": "SELL"}], "expected_profit": "1.5"},
        {"event": "execution", "status": "REFUSED", "fills": [], "risk_gates": ["daily_notional"],
         "realised_pnl": "0", "predicted_pnl": "-10", "pnl_vs_plan": "10", "fees": "0"},
        {"event": "execution", "status": "FILLED", "fills": [{"side": "BUY", "price": "100", "size": "2"}],
         "realised_pnl": "-200", "predicted_pnl": "-201", "pnl_vs_plan": "1", "fees": "0.2",
         "plan_ns": 1_000_000, "orders_ns": 3_000_000, "tick_ns": 500_000},
        {"event": "trading_paused", "asset": "BTC", "reason": "stale"},
        {"event": "execution", "status": "bogus", "fills": "not a list"},
    ]  # fmt: skip
    for n, event in enumerate(events, 1):
        metrics.observe(Record(n, 0, "test", event))
    from prometheus_client import generate_latest

    text = generate_latest(metrics.registry).decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    value = {s.name + str(sorted(s.labels.items())): s.value for f in families.values() for s in f.samples}
    assert value["arbsphere_sessions_total[('converged', 'true'), ('strategy', 'price')]"] == 1
    assert value["arbsphere_commit_imbalance_lots[]"] == 0.25
    assert value["arbsphere_commit_gap[]"] == 0.001
    assert value["arbsphere_rejects_total[]"] == 1
    assert value["arbsphere_risk_gate_trips_total[('gate', 'daily_notional')]"] == 1
    assert value["arbsphere_orders_total[('side', 'BUY')]"] == 1
    assert value["arbsphere_fills_total[('side', 'BUY')]"] == 1
    assert value["arbsphere_filled_notional_quote_total[]"] == 200
    assert value["arbsphere_realised_pnl_quote[]"] == -200
    assert value["arbsphere_trading_paused[('asset', 'BTC')]"] == 1
    assert value["arbsphere_plan_to_orders_seconds_count[]"] == 1
    assert value["arbsphere_events_total[('kind', 'execution')]"] == 3
    assert value["arbsphere_round_gather_seconds_count[]"] == 1
    assert value["arbsphere_delta_merge_seconds_sum[]"] == 0.0002
    assert value["arbsphere_ledger_append_seconds_count[]"] == 1
    assert value["arbsphere_session_certified_bound_quote[]"] == 2.75
    assert abs(value["arbsphere_session_profit_over_bound_ratio[]"] - 2.5 / 2.75) < 1e-12
    assert value["arbsphere_feed_messages_per_second[('feed', 'coinbase:BTC-USD')]"] == 99.0
    assert value["arbsphere_feed_staleness_seconds[('feed', 'coinbase:BTC-USD')]"] == 0.01
    assert value["arbsphere_feed_reconnects_total[('feed', 'coinbase:BTC-USD')]"] == 3
    assert value["arbsphere_local_solve_seconds_count[]"] == 2
    assert value["arbsphere_inventory_drift[('asset', 'BTC')]"] == -0.001
