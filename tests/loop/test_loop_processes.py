"""The whole loop as real processes: coordinator and agents over mutual TLS, plans executed on paper,
execution reports on the ledger (read back as an auditor would), every agent's store consistent."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agents.market.simulated import starting_inventory
from agents.persistence.store import ExecutionStore
from registry.ledger import Ledger, kind_name
from registry.pki import DevCertificateAuthority, write_bundle
from sdk.scenarios import DEFAULT_KINDS, generate_scenario
from tests.loop.loop_helpers import conservation_gaps

pytestmark = pytest.mark.slow
REGION = "loopproc"
ROOT = Path(__file__).resolve().parents[2]
SEED = 7
SESSIONS = 2


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "arbsphere.cli", *args]


def spawn(args: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        args,
        stdout=subprocess.PIPE,
        stderr=open(os.environ.get("ARBSPHERE_TEST_STDERR", os.devnull), "a"),
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        cwd=ROOT,
    )


def events(process: subprocess.Popen[str]) -> Iterator[dict[str, Any]]:
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith("{"):
            yield json.loads(line)


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


def test_sessions_are_executed_on_paper_and_reported_on_the_ledger(
    tmp_path: Path, processes: list[subprocess.Popen[str]]
) -> None:
    n = len(DEFAULT_KINDS)
    scenario = generate_scenario(n, SEED, kinds=DEFAULT_KINDS)
    venues = sorted(scenario.venues)
    ca = DevCertificateAuthority.create(tmp_path / "ca", REGION)
    write_bundle(tmp_path / "coordinator", ca.issue_coordinator())
    for venue in venues:
        write_bundle(tmp_path / venue, ca.issue_agent(venue))
    ledger_url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    port_file = tmp_path / "port"
    coordinator = spawn(
        cli(
            "coordinator",
            "serve",
            "--cert-dir",
            str(tmp_path / "coordinator"),
            "--region",
            REGION,
            "--port-file",
            str(port_file),
            "--expect",
            str(n),
            "--sessions",
            str(SESSIONS),
            "--interval",
            "0.1",
            "--ledger-url",
            ledger_url,
            "--log-key-file",
            str(tmp_path / "log.key"),
        )
    )
    processes.append(coordinator)
    first = next(events(coordinator))
    assert first["event"] == "listening"
    agents = {
        venue: spawn(
            cli(
                "agent",
                "run",
                "--venue",
                venue,
                "--cert-dir",
                str(tmp_path / venue),
                "--target",
                f"127.0.0.1:{first['port']}",
                "--scenario-venues",
                str(n),
                "--seed",
                str(SEED),
                "--kinds",
                ",".join(DEFAULT_KINDS),
                "--sessions",
                str(SESSIONS),
                "--tick-bps",
                "2",
                "--state-dir",
                str(tmp_path / venue / "state"),
                "--book-feed",
                "simulator",
            )
        )
        for venue in venues
    }
    processes.extend(agents.values())
    sessions = [e for e in events(coordinator) if e["event"] == "session"]
    assert coordinator.wait(timeout=120) == 0
    assert len(sessions) == SESSIONS
    executions: dict[tuple[str, int], dict[str, Any]] = {}
    for venue, process in agents.items():
        output = list(events(process))
        assert process.wait(timeout=60) == 0
        mine = [e for e in output if e["event"] == "execution"]
        plans = [e for e in output if e["event"] == "plan"]
        assert [e["sequence"] for e in mine] == [p["sequence"] for p in plans]
        (done,) = [e for e in output if e["event"] == "agent_done"]
        assert done["execution_reports"] == len(plans)
        executions.update({(venue, e["sequence"]): e for e in mine})
    assert executions
    assert sum(s["execution_reports"] for s in sessions) == len(executions)

    # The auditor's view: the ledger opened read-only after the run.
    with Ledger.open(ledger_url) as ledger:
        entries = ledger.query(limit=10_000)
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for entry in entries:
        by_kind.setdefault(kind_name(entry.kind), []).append(json.loads(entry.payload))
    commits = {
        (p["subject"], p["sequence"]): p["plan_digest"]
        for p in by_kind["PLAN_COMMITTED"]
        if p["event"] == "plan_committed"  # per venue; "plan_intent" is the session's write-ahead entry
    }
    reports = {(p["subject"], p["sequence"]): p for p in by_kind["EXECUTION_REPORT"]}
    assert len(by_kind["EXECUTION_REPORT"]) == len(reports) == len(commits) == len(executions)
    assert {k: r["plan_digest"] for k, r in reports.items()} == commits
    for key, report in reports.items():
        assert report["status"] == executions[key]["status"] == "FILLED", (key, report["risk_gates"])
        assert report["fill_count"] == len(executions[key]["fills"])
        assert report["pnl_vs_plan_quote"] == executions[key]["pnl_vs_plan"]
    assert "LEG_OUT" not in by_kind
    assert len(by_kind["JOIN"]) == n

    # Every agent's own execution store: capital conserved, every order filled, PnL per plan kept.
    for venue in venues:
        store = ExecutionStore.sqlite(tmp_path / venue / "state" / "execution.sqlite")
        assert set(conservation_gaps(store, starting_inventory(scenario, venue)).values()) <= {0}
        assert {o.status for o in store.orders()} <= {"filled"}
        for (owner, sequence), execution in executions.items():
            if owner == venue:
                pnl = store.plan_pnl(f"{execution['session']}/{sequence}")
                assert pnl is not None and pnl.fills == len(execution["fills"])
                assert str(pnl.realised) == execution["realised_pnl"]
