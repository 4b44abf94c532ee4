"""Durability of the agent's execution store under continuous trading, with real processes.

A coordinator and three agents (the CLI, mutual TLS, paper orders with 30 ms latency, sessions back to
back, so orders are always in flight) trade until the victim has reported 8 executed plans; then it is
killed with SIGKILL, and so is everything else (a full restart). The bound under test
(``DurableStoreWriter``): an order is durable before it is sent, a fill before anything reports it. So:

- 0 fills the victim reported (its ``execution`` events) are missing from its store;
- the store is consistent (balances = start + fills, cash + positions = start + realised PnL) and no
  balance of a spot asset ever went negative (it never traded from balances it no longer had);
- every order is sent once (one store row per idempotency key, no plan executed twice).

Then everything restarts from the same state directories and ledger: the victim closes what its killed
process left (orders still open are closed, the plan's residual opened), reports its last sequence at join
and never accepts an older plan; its balances at the end equal what its paper book says (start + every
fill in its store); the ledger holds no (venue, sequence) twice.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from agents.market.simulated import starting_inventory
from agents.persistence.store import ExecutionStore
from registry.ledger import Ledger, kind_name
from registry.pki import DevCertificateAuthority, write_bundle
from sdk.scenarios import generate_scenario
from tests.loop.loop_helpers import conservation_gaps

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

REGION = "crashagent"
ROOT = Path(__file__).resolve().parents[3]
SEED = 7
KINDS = ("order_book", "cpmm")
N = 4
VICTIM = "cpmm-0001"  # its pool trades every session as the mids walk: orders always in flight
PLANS_BEFORE_KILL = 8


class Proc:
    """A CLI process whose JSON-lines stdout is read on a thread (so it can be killed at any moment)."""

    def __init__(self, args: list[str], name: str) -> None:
        self.name = name
        self.events: list[dict[str, Any]] = []
        self._cond = threading.Condition()
        stderr = open(os.environ.get("ARBSPHERE_TEST_STDERR", os.devnull), "a")  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, "-m", "arbsphere.cli", *args],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            cwd=ROOT,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.startswith("{"):
                with self._cond:
                    self.events.append(json.loads(line))
                    self._cond.notify_all()

    def of(self, kind: str) -> list[dict[str, Any]]:
        with self._cond:
            return [e for e in self.events if e.get("event") == kind]

    def wait_for(self, kind: str, count: int, timeout_s: float) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while True:
                found = [e for e in self.events if e.get("event") == kind]
                if len(found) >= count:
                    return found
                left = deadline - time.monotonic()
                if left <= 0 or self.process.poll() is not None:
                    raise AssertionError(
                        f"{self.name}: {len(found)} {kind} events of {count}: {self.events[-5:]}"
                    )
                self._cond.wait(min(left, 0.5))

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)
        self._reader.join(10)

    def finish(self, timeout_s: float) -> int:
        code = self.process.wait(timeout=timeout_s)
        self._reader.join(10)
        return code


@pytest.fixture
def procs() -> Iterator[list[Proc]]:
    started: list[Proc] = []
    yield started
    for proc in started:
        proc.kill()


def _coordinator(tmp: Path, sessions: int) -> list[str]:
    return [
        "coordinator",
        "serve",
        "--cert-dir",
        str(tmp / "coordinator"),
        "--region",
        REGION,
        "--port-file",
        str(tmp / "port"),
        "--expect",
        str(N),
        "--sessions",
        str(sessions),
        "--interval",
        "0.05",
        "--report-timeout",
        "0.3",
        "--ledger-url",
        f"sqlite:///{tmp / 'ledger.sqlite'}",
        "--log-key-file",
        str(tmp / "log.key"),
        "--no-progress",
    ]


def _agent(tmp: Path, venue: str, port: int, sessions: int) -> list[str]:
    return [
        "agent",
        "run",
        "--venue",
        venue,
        "--cert-dir",
        str(tmp / venue),
        "--target",
        f"127.0.0.1:{port}",
        "--scenario-venues",
        str(N),
        "--seed",
        str(SEED),
        "--kinds",
        ",".join(KINDS),
        "--sessions",
        str(sessions),
        "--tick-bps",
        "3",
        "--book-feed",
        "simulator",
        "--paper-latency-ms",
        "30",
        "--max-trades-per-minute",
        "100000",
        "--daily-notional-cap",
        "1e15",
        "--state-dir",
        str(tmp / venue / "state"),
    ]


def _region(tmp: Path, procs: list[Proc], sessions: int, tag: str) -> tuple[Proc, dict[str, Proc]]:
    (tmp / "port").unlink(missing_ok=True)
    coordinator = Proc(_coordinator(tmp, sessions), f"coordinator-{tag}")
    procs.append(coordinator)
    (listening,) = coordinator.wait_for("listening", 1, 60)
    agents = {
        venue: Proc(_agent(tmp, venue, int(listening["port"]), sessions), f"{venue}-{tag}")
        for venue in VENUES
    }
    procs.extend(agents.values())
    return coordinator, agents


VENUES = sorted(generate_scenario(N, SEED, kinds=KINDS).venues)


def _printed_fills(executions: list[dict[str, Any]]) -> Counter[tuple[str, str, str, str]]:
    return Counter(
        (f["client_order_id"], f["side"].lower(), f["price"], f["size"])
        for e in executions
        for f in e["fills"]
    )


def _stored_fills(store: ExecutionStore) -> Counter[tuple[str, str, str, str]]:
    return Counter(
        (f.client_order_id, f.side.value, format(f.price, "f"), format(f.size, "f")) for f in store.fills()
    )


def _never_negative(store: ExecutionStore, start: dict[str, Decimal]) -> None:
    """Replaying the stored fills in order from the start, no spot balance ever goes below zero."""
    balances = dict(start)
    for fill in store.fills():
        balances[fill.asset] = balances.get(fill.asset, Decimal(0)) + fill.signed_size
        balances[fill.quote] = balances.get(fill.quote, Decimal(0)) + fill.cash_flow
        assert balances[fill.asset] >= 0 and balances[fill.quote] >= 0, (fill, balances)


def _check_store(path: Path, start: dict[str, Decimal]) -> ExecutionStore:
    store = ExecutionStore.sqlite(path)
    assert set(conservation_gaps(store, start).values()) <= {Decimal(0)}
    _never_negative(store, start)
    with sqlite3.connect(path) as db:
        keys = db.execute(
            "SELECT idempotency_key, COUNT(*) FROM exec_orders GROUP BY 1 HAVING COUNT(*) > 1"
        ).fetchall()
        plans = db.execute(
            "SELECT session_id, sequence, COUNT(*) FROM exec_plans GROUP BY 1, 2 HAVING COUNT(*) > 1"
        ).fetchall()
        sequences = db.execute(
            "SELECT sequence, COUNT(*) FROM exec_plans GROUP BY 1 HAVING COUNT(*) > 1"
        ).fetchall()
    assert keys == [], f"orders sent twice: {keys}"
    assert plans == [] and sequences == [], f"plans executed twice: {plans} {sequences}"
    return store


def test_sigkill_under_continuous_trading_loses_no_fill_and_a_full_restart_repeats_no_sequence(
    tmp_path: Path, procs: list[Proc]
) -> None:
    scenario = generate_scenario(N, SEED, kinds=KINDS)
    ca = DevCertificateAuthority.create(tmp_path / "ca", REGION)
    write_bundle(tmp_path / "coordinator", ca.issue_coordinator())
    for venue in VENUES:
        write_bundle(tmp_path / venue, ca.issue_agent(venue))
    victim = VICTIM
    start = starting_inventory(scenario, victim)
    store_path = tmp_path / victim / "state" / "execution.sqlite"

    # Phase 1: continuous trading, then SIGKILL of the victim mid-flight, then of everything.
    coordinator, agents = _region(tmp_path, procs, 0, "first")
    # Killed right after its 8th plan's orders went out (the plan event follows the send): in flight.
    agents[victim].wait_for("plan", PLANS_BEFORE_KILL, 150)
    agents[victim].kill()
    for proc in (coordinator, *agents.values()):
        proc.kill()
    before = agents[victim].of("execution")
    plans_before = agents[victim].of("plan")
    last_before = max(p["sequence"] for p in plans_before)
    store = _check_store(store_path, start)
    printed, stored = _printed_fills(before), _stored_fills(store)
    missing = printed - stored
    in_flight = len(plans_before) - len(before)
    lost_in_flight = stored - printed
    print(
        f"killed after {len(before)} reported plans ({in_flight} committed and in flight): "
        f"{sum(printed.values())} fills reported, {sum(stored.values())} in the store, "
        f"{sum(missing.values())} missing; {len(store.orders())} orders, "
        f"{sum(1 for o in store.orders() if o.status == 'pending')} intents not yet answered"
    )
    assert sum(missing.values()) == 0, f"fills reported but not in the store: {missing}"
    print(f"{sum(lost_in_flight.values())} fills durable but not yet reported when the process died")
    stored_plans = {p.sequence for p in store.plans()}
    assert {e["sequence"] for e in before} <= stored_plans  # every reported plan is in the store

    # Phase 2: a full restart from the same state directories and ledger.
    coordinator, agents = _region(tmp_path, procs, 3, "second")
    assert coordinator.finish(180) == 0, coordinator.events[-5:]
    for venue, proc in agents.items():
        assert proc.finish(60) == 0, (venue, proc.events[-5:])
    again = agents[victim]
    (recovered,) = again.of("recovered")
    assert recovered["last_sequence"] >= last_before
    after_plans = again.of("plan")
    assert all(p["sequence"] > last_before for p in after_plans), "a restarted agent accepted an older plan"
    store = _check_store(store_path, start)
    (done,) = again.of("agent_done")
    inventory = {a: Decimal(q) for a, q in done["inventory"].items()}
    book = dict(start)
    for fill in store.fills():
        book[fill.asset] = book.get(fill.asset, Decimal(0)) + fill.signed_size
        book[fill.quote] = book.get(fill.quote, Decimal(0)) + fill.cash_flow
    assert inventory == {a: q for a, q in book.items() if a in inventory}, (inventory, book)
    assert all(o.status != "pending" for o in store.orders()), "an order of the killed process is still open"
    recovered_outcomes = [e for e in again.of("execution") if e["sequence"] <= last_before]
    residuals = store.residuals(state=None)
    print(
        f"restart: last sequence {recovered['last_sequence']} reported at join, {len(after_plans)} new plans "
        f"(all above {last_before}), {len(recovered_outcomes)} outcomes of the killed process reported, "
        f"{len(residuals)} residuals kept for a hedge session"
    )

    with Ledger.open(f"sqlite:///{tmp_path / 'ledger.sqlite'}") as ledger:
        entries = ledger.query(limit=100_000)
    committed = Counter(
        (json.loads(e.payload)["subject"], json.loads(e.payload)["sequence"])
        for e in entries
        if kind_name(e.kind) == "PLAN_COMMITTED"
    )
    duplicated = {k: n for k, n in committed.items() if n > 1}
    reported = {
        (json.loads(e.payload)["subject"], json.loads(e.payload)["sequence"]): kind_name(e.kind)
        for e in entries
        if kind_name(e.kind) in ("EXECUTION_REPORT", "LEG_OUT")
    }
    recovered_keys = [(victim, e["sequence"]) for e in recovered_outcomes]
    on_ledger = [reported.get(k) for k in recovered_keys]
    print(f"the killed process's plans on the ledger after the restart: {on_ledger}")
    assert None not in on_ledger, "a plan the killed process executed never reached the ledger"
    print(
        f"ledger: {sum(committed.values())} PLAN_COMMITTED entries, "
        f"{len(duplicated)} duplicated (venue, sequence)"
    )
    assert duplicated == {}
