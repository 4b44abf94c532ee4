"""`arbsphere agent run`: one venue's edge agent, connected to its coordinator over mutual TLS.

After each committed plan the agent executes its own legs (paper execution by default, ``agents.runtime``),
keeps orders, fills, positions and inventory in ``STATE_DIR/execution.sqlite`` and reports how the plan
ended to the coordinator, which records it on the governance ledger.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer

from agents.agent import CommittedPlan
from agents.grpc_client import AgentRunner, execution_report
from agents.risk.limits import RiskLimits
from agents.runtime import AgentRuntime, PlanOutcome
from arbsphere.book_feed import BOOK_KIND, SimulatedBookFeed
from arbsphere.simulation import agent_for, ticked_mids
from registry.pki import read_bundle
from sdk.scenarios import Scenario, generate_scenario

app = typer.Typer(help="Edge agent.", no_args_is_help=True)


def plan_event(plan: CommittedPlan) -> dict[str, object]:
    delta = plan.delta
    return {
        "event": "plan",
        "venue": delta.venue_id,
        "session": delta.session_id,
        "sequence": delta.sequence,
        "state_hash": delta.state_hash.hex(),
        "expected_profit": format(delta.expected_profit_quote, "f"),
        "legs": [
            {
                "instrument": leg.instrument,
                "side": leg.side.name,
                "size": format(leg.size, "f"),
                "limit_price": format(leg.limit_price, "f"),
                "idempotency_key": leg.idempotency_key,
            }
            for leg in delta.legs
        ],
    }


def execution_event(outcome: PlanOutcome, tick_ns: int, plan_ns: int) -> dict[str, object]:
    """What the operator sees of one plan's execution (local output: fills, prices and cash flows), with
    ``time.monotonic_ns()`` stamps of the session's feed tick, the plan's commit and the orders sent."""
    return {
        "event": "execution",
        "venue": outcome.venue_id,
        "session": outcome.session_id,
        "sequence": outcome.sequence,
        "status": outcome.status.name,
        "predicted_pnl": format(outcome.predicted, "f"),
        "realised_pnl": format(outcome.realised, "f"),
        "pnl_vs_plan": format(outcome.pnl_vs_plan, "f"),
        "fees": format(outcome.fees, "f"),
        "risk_gates": list(outcome.risk_gates),
        "fills": [
            {
                "instrument": f.instrument,
                "side": f.side.name,
                "price": format(f.price, "f"),
                "size": format(f.size, "f"),
                "fee": format(f.fee, "f"),
            }
            for f in outcome.fills
        ],
        "tick_ns": tick_ns,
        "plan_ns": plan_ns,
        "orders_ns": outcome.submitted_ns,
    }


def starting_inventory(scenario: Scenario, venue: str, quote: str = "USD") -> dict[str, Decimal]:
    """The synthetic venue's balances: its budget in quote, and as much of each asset as its box may sell."""
    spec = scenario.venues[venue]
    balances = {a: Decimal(repr(-curve.lower)) for a, curve in spec.curves.items()}
    balances[quote] = Decimal(repr(spec.budget_quote))
    return balances


@app.command("run")
def run_command(
    *,
    venue: Annotated[str, typer.Option(help="Venue id (must match the certificate's SPIFFE name).")],
    cert_dir: Annotated[Path, typer.Option(help="Agent bundle (key.pem, cert.pem, ca.pem).")],
    target: Annotated[str, typer.Option(help="Coordinator address host:port.")],
    scenario_venues: Annotated[int, typer.Option(help="Size of the seeded synthetic region.")] = 2,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic market (demo feed).")] = 7,
    kinds: Annotated[str, typer.Option(help="Comma-separated venue kinds of the scenario.")] = (
        "order_book,cpmm,clmm,perp"
    ),
    sessions: Annotated[int, typer.Option(help="Sessions to serve, then exit (0: until stopped).")] = 1,
    server_name: Annotated[
        str, typer.Option(help="Name the coordinator's certificate must carry.")
    ] = "localhost",
    latency_budget_ms: Annotated[int, typer.Option(help="This venue's latency budget.")] = 5000,
    tick_bps: Annotated[float, typer.Option(help="Synthetic feed: common mid move per session (bps).")] = 0.0,
    credential_file: Annotated[
        Path | None, typer.Option(help="Registry-issued verifiable credential presented at join.")
    ] = None,
    state_dir: Annotated[
        Path | None,
        typer.Option(
            help="Execution store and journal, kept across restarts (default: a temporary directory "
            "removed at exit, so unrelated runs never share balances)."
        ),
    ] = None,
    observe_only: Annotated[bool, typer.Option(help="Compute and commit plans, send no orders.")] = False,
    daily_notional_cap: Annotated[float, typer.Option(help="Risk: quote notional per UTC day.")] = 1e6,
    max_trades_per_minute: Annotated[int, typer.Option(help="Risk: orders per rolling minute.")] = 100,
    daily_loss_cap: Annotated[
        float, typer.Option(help="Risk: realised loss per UTC day before halting.")
    ] = 1e4,
    prediction_error_pct: Annotated[
        float, typer.Option(help="Risk: realised vs predicted PnL gap (%) that, 3 times in 10 min, halts.")
    ] = 50.0,
    paper_latency_ms: Annotated[int, typer.Option(help="Paper execution: order latency (ms).")] = 0,
    inventory_limits: Annotated[
        bool,
        typer.Option(help="Plan sells within the assets held and buys within the quote cash."),
    ] = True,
    book_feed: Annotated[
        str,
        typer.Option(
            help="Order-book venues: 'scenario' (static seeded books) or 'simulator' (the seeded market "
            "simulator through L2Book and CurveCache, one step per session)."
        ),
    ] = "scenario",
) -> None:
    """Join the region, answer its rounds privately, execute this venue's legs on paper and report them."""
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    if not daily_notional_cap >= 0 or daily_notional_cap == float("inf"):
        raise typer.BadParameter(
            f"expected a finite cap >= 0, got {daily_notional_cap}", param_hint="--daily-notional-cap"
        )
    scenario = generate_scenario(scenario_venues, seed, kinds=tuple(k.strip() for k in kinds.split(",")))
    if venue not in scenario.venues:
        raise typer.BadParameter(
            f"venue {venue!r} is not in the scenario {sorted(scenario.venues)}", param_hint="--venue"
        )
    if book_feed not in ("scenario", "simulator"):
        raise typer.BadParameter(
            f"expected 'scenario' or 'simulator', got {book_feed!r}", param_hint="--book-feed"
        )
    agent = agent_for(scenario, venue, latency_budget_ms=latency_budget_ms)
    mids = {a: scenario.mids[a] for a in agent.assets}
    feed = None
    if book_feed == "simulator" and scenario.venues[venue].kind == BOOK_KIND:
        feed = SimulatedBookFeed(scenario, venue, seed)
        agent.update_curves(feed.curves())
        mids.update(feed.mids())
    kind_list = tuple(k.strip() for k in kinds.split(","))
    runner: AgentRunner | None = None
    tick_ns = [time.monotonic_ns()]
    plan_ns: dict[int, int] = {}

    def on_outcome(outcome: PlanOutcome) -> None:
        event = execution_event(outcome, tick_ns[0], plan_ns.pop(outcome.sequence, 0))
        print(json.dumps(event, sort_keys=True), flush=True)
        if runner is not None:
            runner.send_report(execution_report(outcome))

    store_dir = state_dir
    if store_dir is None:
        store_dir = Path(tempfile.mkdtemp(prefix=f"arbsphere-agent-{venue}-"))
        print(
            f"{venue}: execution store in {store_dir} (removed at exit; --state-dir keeps it)",
            file=sys.stderr,
        )
    for name, value in (
        ("--daily-loss-cap", daily_loss_cap),
        ("--prediction-error-pct", prediction_error_pct),
    ):
        if not (value > 0 and math.isfinite(value)):
            raise typer.BadParameter(f"expected a finite value > 0, got {value}", param_hint=name)
    limits = RiskLimits(
        daily_notional_cap=Decimal(repr(daily_notional_cap)),
        daily_loss_cap=Decimal(repr(daily_loss_cap)),
        prediction_error_pct=Decimal(repr(prediction_error_pct)),
        max_trades=max_trades_per_minute,
        trades_window_ms=60_000,
    )
    runtime = AgentRuntime(
        agent,
        store_dir,
        inventory=starting_inventory(scenario, venue),
        limits=limits,
        latency_ms=paper_latency_ms,
        on_outcome=on_outcome,
    )
    if observe_only:
        runtime.risk.observe_only("operator started the agent observe-only", runtime.clock.now_ms())

    def before_session(index: int) -> None:
        # The demo feed: the synthetic market ticks between sessions (a real agent reads its exchange).
        tick_ns[0] = time.monotonic_ns()
        if feed is not None:
            if index > 0:
                feed.step()
                agent.update_curves(feed.curves())
                mids.update(feed.mids())
        elif tick_bps and index > 0:
            moved = generate_scenario(
                scenario_venues,
                seed,
                kinds=kind_list,
                mids=ticked_mids(dict(scenario.mids), seed, index, tick_bps),
            )
            agent.update_curves(moved.venues[venue].curves)
            mids.update({a: moved.mids[a] for a in mids})
        runtime.market_moved()
        runtime.constrain(inventory_limits=inventory_limits)  # never commit to legs the gates would refuse

    def on_plan(plan: CommittedPlan) -> None:
        plan_ns[plan.delta.sequence] = time.monotonic_ns()
        runtime.execute(plan)
        print(json.dumps(plan_event(plan), sort_keys=True), flush=True)

    def settle() -> None:
        if not runtime.settle(5.0):
            print(f"{venue}: executions still open at shutdown", file=sys.stderr)

    runner = AgentRunner(
        agent,
        target,
        lambda: read_bundle(cert_dir),
        lambda: mids,
        server_name=server_name,
        on_plan=on_plan,
        before_session=before_session,
        before_close=settle,
        credential=(lambda: credential_file.read_text().strip()) if credential_file is not None else None,
    )
    runtime.start()
    try:
        stats = runner.run(max_sessions=sessions or None)
    finally:
        runtime.close()
        inventory = runtime.inventory()
        if state_dir is None:
            shutil.rmtree(store_dir, ignore_errors=True)
    print(
        json.dumps(
            {
                "event": "agent_done",
                "venue": venue,
                "sessions": stats.sessions,
                "rounds": stats.rounds,
                "connects": stats.connects,
                "refused": stats.refused,
                "execution_reports": stats.reports,
                "inventory": {a: format(q, "f") for a, q in sorted(inventory.items())},
            },
            sort_keys=True,
        ),
        flush=True,
    )
