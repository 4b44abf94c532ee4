"""Full-loop benchmark: a market tick to the paper orders of the federated plan, N = 5 agents.

Agents run as separate processes (``arbsphere agent run``) over mutual-TLS gRPC on loopback with secure
aggregation on and paper execution (risk gates, execution store on its own thread); the coordinator runs
in this process with a real SQLite ledger recording commits and execution reports. Each session is one
tick of the seeded synthetic feed (2 bp correlated move): the coordinator opens the session, every agent
moves its feed (rebuilds its venue from the moved public mids) and answers; the plan commits, each agent
executes its legs on paper and reports. Measured per session, with ``time.monotonic_ns`` (one
system-wide clock on Linux, so stamps compare across processes):

- loop: session opened (the tick published) -> the last venue's paper orders submitted;
- per venue: its feed tick -> its orders, split into tick -> plan committed and plan -> orders.

Side by side: the same loop in one process (``InProcessLink``, secure aggregation on, the same runtime),
where the feed is moved once per tick for all venues, with the store writes of the five runtimes held for
a quiet moment and, for comparison, written right after each plan as the agent processes do. Inventory
limits are off (paper balances may go short) so every session trades; the risk caps are raised out of the
way for the same reason.
"""

from __future__ import annotations

import gc
import json
import os
import queue
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from agents.agent import CommittedPlan, EdgeAgent
from agents.market.simulated import starting_inventory, ticked_mids
from agents.risk.limits import RiskLimits
from agents.runtime import AgentRuntime
from arbsphere.inprocess import InProcessLink
from arbsphere.simulation import build_region
from bench.common import percentile, print_table, write_results
from coordinator.audit import LedgerAudit
from coordinator.grpc_server import ExecutionReports, GrpcLink, serve, venues_of
from coordinator.session import CommitAck, Gathered, SessionDriver
from energibridge.canonical import digest
from energibridge.protocol.messages import RoundBroadcast
from energibridge.protocol.rounding import Assignment
from registry.ledger import Ed25519Signer, Ledger, NoteSigner
from registry.pki import DevCertificateAuthority, write_bundle
from sdk.scenarios import DEFAULT_KINDS, generate_scenario

N = 5
SEED = 7
TICK_BPS = 2.0
WARMUP = 3
SESSIONS = 30
REGION = "benchloop"
QUIET_MS = 20
"""In one interpreter the five runtimes' store writes wait for a quiet moment (``DurableStoreWriter``, within
its durability bound: intents before each send, the rest before each report); the agent processes write
right after each plan (their default), which measured best for them."""


def _ms(ns: float) -> float:
    return ns / 1e6


def _agent_args(venue: str, workdir: Path, port: int) -> list[str]:
    return [
        sys.executable, "-m", "arbsphere.cli", "agent", "run",
        "--venue", venue, "--cert-dir", str(workdir / venue), "--target", f"127.0.0.1:{port}",
        "--scenario-venues", str(N), "--seed", str(SEED), "--kinds", ",".join(DEFAULT_KINDS),
        "--sessions", "0", "--tick-bps", str(TICK_BPS), "--latency-budget-ms", "600000",
        "--state-dir", str(workdir / venue / "state"),
        "--daily-notional-cap", "1e15", "--max-trades-per-minute", "1000000", "--no-inventory-limits",
    ]  # fmt: skip


def _reader(stream: IO[str], out: queue.Queue[dict[str, Any]]) -> None:
    for line in stream:
        if line.startswith('{"'):
            event = json.loads(line)
            if event.get("event") == "execution":
                out.put(event)


class _PhasedLink(GrpcLink):
    """``GrpcLink`` that stamps each phase of a session (``time.monotonic_ns``), for the breakdown."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.phases: dict[str, float] = {}
        self.commit_ns = 0

    def _timed(self, phase: str, started: int) -> None:
        self.phases[phase] = self.phases.get(phase, 0.0) + _ms(time.monotonic_ns() - started)

    def start(
        self, session_id: str, assets: Sequence[str], members: Sequence[str], *, cold: bool = False
    ) -> Mapping[str, Mapping[str, float]]:
        self.phases = {}
        started = time.monotonic_ns()
        try:
            return super().start(session_id, assets, members, cold=cold)
        finally:
            self._timed("start", started)

    def gather(self, broadcast: RoundBroadcast, members: Sequence[str]) -> Gathered:
        started = time.monotonic_ns()
        try:
            return super().gather(broadcast, members)
        finally:
            self._timed("rounds", started)

    def gather_rounding(self, session_id: str, members: Sequence[str]) -> Gathered:
        started = time.monotonic_ns()
        try:
            return super().gather_rounding(session_id, members)
        finally:
            self._timed("rounding", started)

    def propose(self, assignment: Assignment) -> tuple[bool, float]:
        started = time.monotonic_ns()
        try:
            return super().propose(assignment)
        finally:
            self._timed("rounding", started)

    def commit(self, session_id: str, sequence: int, members: Sequence[str]) -> list[CommitAck]:
        self.commit_ns = started = time.monotonic_ns()
        try:
            return super().commit(session_id, sequence, members)
        finally:
            self._timed("commit", started)


def grpc_loop(workdir: Path) -> dict[str, list[float]]:
    gc.collect()  # each measurement starts without the other's garbage
    ca = DevCertificateAuthority.create(workdir / "ca", REGION)
    scenario = generate_scenario(N, SEED, kinds=DEFAULT_KINDS)
    server = serve(ca.issue_coordinator(), region=REGION)
    ledger = Ledger.open(f"sqlite:///{workdir / 'ledger.sqlite'}", NoteSigner.generate("bench.loop.log"))
    audit = LedgerAudit(ledger, Ed25519Signer.generate())
    executions: queue.Queue[dict[str, Any]] = queue.Queue()
    processes = []
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    for venue in sorted(scenario.venues):
        write_bundle(workdir / venue, ca.issue_agent(venue))
        process = subprocess.Popen(
            _agent_args(venue, workdir, server.port),
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        assert process.stdout is not None
        threading.Thread(target=_reader, args=(process.stdout, executions), daemon=True).start()
        processes.append(process)
    keys = ("loop", "solve", "deliver", "venue", "to_plan", "execute", "rounds", "max_rounds")
    out: dict[str, list[float]] = {k: [] for k in (*keys, "start", "iterate", "rounding", "commit_to_orders")}
    try:
        server.hub.wait_for(N, 60)
        for venue in sorted(scenario.venues):
            audit.record("join", venue, {"region": REGION})
        link = _PhasedLink(server.hub, round_timeout_s=5.0)
        driver = SessionDriver(link, venues_of(server.hub))
        reports = ExecutionReports(server.hub, audit)
        for index in range(WARMUP + SESSIONS):
            session = f"loop-{index}"
            opened = time.monotonic_ns()
            result = driver.run(session, deadline_s=600.0)
            wanted = {a.venue_id for a in result.acks}
            got: dict[str, dict[str, Any]] = {}
            deadline = time.monotonic() + 10
            while set(got) != wanted and time.monotonic() < deadline:
                try:
                    event = executions.get(timeout=0.1)
                except queue.Empty:
                    continue
                if event["session"] == session:
                    got[event["venue"]] = event
            if set(got) != wanted:
                raise RuntimeError(
                    f"session {session}: execution events from {sorted(got)} of {sorted(wanted)}"
                )
            reports.expect(session, result.acks)
            reports.drain(5.0)
            audit.flush()
            if index < WARMUP or not got:
                continue
            sent = [e for e in got.values() if e["orders_ns"]]
            if not sent:
                continue
            out["loop"].append(_ms(max(e["orders_ns"] for e in sent) - opened))
            out["deliver"].append(_ms(min(e["tick_ns"] for e in got.values()) - opened))
            out["solve"].append(result.elapsed_s * 1e3)
            out["rounds"].append(result.rounds)
            out["max_rounds"].append(float(result.rounds >= driver.config.max_rounds))
            out["start"].append(link.phases.get("start", 0.0))
            out["iterate"].append(link.phases.get("rounds", 0.0))
            out["rounding"].append(link.phases.get("rounding", 0.0))
            out["commit_to_orders"].append(_ms(max(e["orders_ns"] for e in sent) - link.commit_ns))
            for event in sent:
                out["venue"].append(_ms(event["orders_ns"] - event["tick_ns"]))
                out["to_plan"].append(_ms(event["plan_ns"] - event["tick_ns"]))
                out["execute"].append(_ms(event["orders_ns"] - event["plan_ns"]))
        out["ledger_entries"] = [float(ledger.checkpoint().size)]
        out["reports_recorded"] = [float(len(reports.recorded))]
    finally:
        server.stop(0)
        for process in processes:
            process.kill()
            process.wait()
        ledger.close()
    return out


class _ExecutingLink(InProcessLink):
    """In-process transport whose commits carry the wall clock and go straight to each agent's runtime."""

    def __init__(self, agents: Mapping[str, EdgeAgent], runtimes: Mapping[str, AgentRuntime]) -> None:
        super().__init__(agents, secure=True)
        self.runtimes = runtimes
        self.orders_ns: list[int] = []

    def commit(self, session_id: str, sequence: int, members: Sequence[str]) -> list[CommitAck]:
        acks = []
        for venue in members:
            plan: CommittedPlan | None = self.agents[venue].commit(
                session_id, sequence, now_ms=time.time_ns() // 1_000_000
            )
            if plan is None:
                continue
            outcome = self.runtimes[venue].execute(plan)
            if outcome is not None and outcome.submitted_ns:
                self.orders_ns.append(outcome.submitted_ns)
            acks.append(CommitAck(venue, plan.delta.sequence, plan.state.state_hash(), digest(plan.delta)))
        return acks


def inprocess_loop(workdir: Path, *, store_quiet_ms: int) -> dict[str, list[float]]:
    gc.collect()  # each measurement starts without the other's garbage
    scenario, agents, infos = build_region(N, SEED, kinds=DEFAULT_KINDS, latency_budget_ms=600_000)
    limits = RiskLimits(daily_notional_cap=Decimal(10**15), max_trades=1_000_000)  # as the agents' flags
    runtimes = {
        v: AgentRuntime(
            a,
            workdir / v,
            inventory=starting_inventory(scenario, v),
            limits=limits,
            store_quiet_ms=store_quiet_ms,
        )
        for v, a in agents.items()
    }
    for runtime in runtimes.values():
        runtime.start()  # as in each agent process: store writes and journal when the agent is quiet
    link = _ExecutingLink(agents, runtimes)
    driver = SessionDriver(link, infos)
    out: dict[str, list[float]] = {"loop": [], "solve": [], "rounds": [], "feed": []}
    try:
        for index in range(WARMUP + SESSIONS):
            opened = time.monotonic_ns()
            if index > 0:  # the feed ticks: every venue's market moves with the public mids
                moved = generate_scenario(
                    N, SEED, kinds=DEFAULT_KINDS, mids=ticked_mids(dict(scenario.mids), SEED, index, TICK_BPS)
                )
                for venue, agent in agents.items():
                    agent.update_curves(moved.venues[venue].curves)
                    agent.reference_prices = {a: moved.mids[a] for a in agent.assets}
            for runtime in runtimes.values():  # as each agent process does at its session start
                runtime.market_moved()
                runtime.constrain(inventory_limits=False)
            link.orders_ns = []
            ticked = time.monotonic_ns()
            result = driver.run(f"inproc-{index}", deadline_s=600.0)
            if index < WARMUP or not link.orders_ns:
                continue
            out["loop"].append(_ms(max(link.orders_ns) - opened))
            out["feed"].append(_ms(ticked - opened))
            out["solve"].append(result.elapsed_s * 1e3)
            out["rounds"].append(result.rounds)
    finally:
        for runtime in runtimes.values():
            runtime.close()
    return out


def _typical_mean(sample: Mapping[str, list[float]], key: str) -> float:
    """Mean over the sessions that converged before the round cap (a capped session is a 2000-round
    outlier that would swamp every mean; it is in the p99 and counted separately)."""
    values = [v for v, capped in zip(sample[key], sample["max_rounds"], strict=True) if not capped]
    return statistics.fmean(values) if values else float("nan")


def main() -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="bench-loop-") as scratch:
        root = Path(scratch)
        (root / "grpc").mkdir()
        remote = grpc_loop(root / "grpc")
        local = inprocess_loop(root / "inproc", store_quiet_ms=QUIET_MS)
        eager = inprocess_loop(root / "inproc-eager", store_quiet_ms=0)
    metrics: dict[str, object] = {
        "sessions_measured": len(remote["loop"]),
        "loop_grpc_p50_ms": statistics.median(remote["loop"]),
        "loop_grpc_p99_ms": percentile(remote["loop"], 99),
        "loop_inprocess_p50_ms": statistics.median(local["loop"]),
        "loop_inprocess_p99_ms": percentile(local["loop"], 99),
        "loop_inprocess_eager_writes_p50_ms": statistics.median(eager["loop"]),
        "loop_inprocess_eager_writes_p99_ms": percentile(eager["loop"], 99),
        "solve_grpc_p50_ms": statistics.median(remote["solve"]),
        "solve_inprocess_p50_ms": statistics.median(local["solve"]),
        "feed_tick_inprocess_p50_ms": statistics.median(local["feed"]),
        "rounds_grpc_p50": statistics.median(remote["rounds"]),
        "rounds_inprocess_p50": statistics.median(local["rounds"]),
        "sessions_at_max_rounds": int(sum(remote["max_rounds"])),
        "loop_grpc_p95_ms": percentile(remote["loop"], 95),
        "loop_grpc_mean_ms": _typical_mean(remote, "loop"),
        "phase_start_keys_mean_ms": _typical_mean(remote, "start"),
        "phase_rounds_mean_ms": _typical_mean(remote, "iterate"),
        "phase_rounding_mean_ms": _typical_mean(remote, "rounding"),
        "phase_commit_to_last_orders_mean_ms": _typical_mean(remote, "commit_to_orders"),
        "session_start_delivery_p50_ms": statistics.median(remote["deliver"]),
        "venue_tick_to_orders_p50_ms": statistics.median(remote["venue"]),
        "venue_tick_to_orders_p99_ms": percentile(remote["venue"], 99),
        "venue_tick_to_plan_p50_ms": statistics.median(remote["to_plan"]),
        "venue_plan_to_orders_p50_ms": statistics.median(remote["execute"]),
        "venue_plan_to_orders_p99_ms": percentile(remote["execute"], 99),
        "ledger_entries": remote["ledger_entries"][0],
        "execution_reports_recorded": remote["reports_recorded"][0],
    }
    print_table(
        f"tick -> federated plan -> paper orders, N = {N} (price-space, secure aggregation on, "
        f"{len(remote['loop'])} warm sessions after {WARMUP} warm-up, 2 bp ticks)",
        ("transport", "loop p50 ms", "loop p99 ms", "solve p50 ms", "rounds p50", "target p50"),
        [
            (
                "processes, gRPC+mTLS",
                metrics["loop_grpc_p50_ms"],
                metrics["loop_grpc_p99_ms"],
                metrics["solve_grpc_p50_ms"],
                metrics["rounds_grpc_p50"],
                "<= 20 ms",
            ),
            (
                f"one process, store writes after {QUIET_MS} ms quiet",
                metrics["loop_inprocess_p50_ms"],
                metrics["loop_inprocess_p99_ms"],
                metrics["solve_inprocess_p50_ms"],
                metrics["rounds_inprocess_p50"],
                "",
            ),
            (
                "one process, store writes after each plan",
                metrics["loop_inprocess_eager_writes_p50_ms"],
                metrics["loop_inprocess_eager_writes_p99_ms"],
                statistics.median(eager["solve"]),
                statistics.median(eager["rounds"]),
                "",
            ),
        ],
    )
    print_table(
        "where the gRPC loop's time goes: session phases at the coordinator (mean ms over the sessions "
        "below the round cap, they add up to the loop; each phase waits for the slowest agent process)",
        ("open + feed tick + keys", "rounds", "rounding + residual", "commit -> last orders", "loop mean"),
        [
            (
                metrics["phase_start_keys_mean_ms"],
                metrics["phase_rounds_mean_ms"],
                metrics["phase_rounding_mean_ms"],
                metrics["phase_commit_to_last_orders_mean_ms"],
                metrics["loop_grpc_mean_ms"],
            )
        ],
    )
    print_table(
        "per venue (p50 ms, agent-side stamps)",
        (
            "SessionStart delivery",
            "feed tick -> plan committed",
            "plan -> orders",
            "tick -> orders",
            "loop p95",
            "at max rounds",
        ),
        [
            (
                metrics["session_start_delivery_p50_ms"],
                metrics["venue_tick_to_plan_p50_ms"],
                metrics["venue_plan_to_orders_p50_ms"],
                metrics["venue_tick_to_orders_p50_ms"],
                metrics["loop_grpc_p95_ms"],
                f"{metrics['sessions_at_max_rounds']} of {metrics['sessions_measured']} sessions",
            )
        ],
    )
    write_results("loop", metrics)
    return metrics


if __name__ == "__main__":
    main()
