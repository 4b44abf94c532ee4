"""`arbsphere agent run`: one venue's edge agent, connected to its coordinator over mutual TLS."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from agents.agent import CommittedPlan
from agents.grpc_client import AgentRunner
from arbsphere.simulation import agent_for, ticked_mids
from registry.pki import read_bundle
from sdk.scenarios import generate_scenario

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
) -> None:
    """Join the region, answer its rounds privately and print this venue's committed plans."""
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    scenario = generate_scenario(scenario_venues, seed, kinds=tuple(k.strip() for k in kinds.split(",")))
    if venue not in scenario.venues:
        raise typer.BadParameter(
            f"venue {venue!r} is not in the scenario {sorted(scenario.venues)}", param_hint="--venue"
        )
    agent = agent_for(scenario, venue, latency_budget_ms=latency_budget_ms)
    mids = {a: scenario.mids[a] for a in agent.assets}
    kind_list = tuple(k.strip() for k in kinds.split(","))

    def before_session(index: int) -> None:
        # The demo feed: the synthetic market ticks between sessions (a real agent reads its exchange).
        if tick_bps and index > 0:
            moved = generate_scenario(
                scenario_venues,
                seed,
                kinds=kind_list,
                mids=ticked_mids(dict(scenario.mids), seed, index, tick_bps),
            )
            agent.update_curves(moved.venues[venue].curves)
            mids.update({a: moved.mids[a] for a in mids})

    def on_plan(plan: CommittedPlan) -> None:
        print(json.dumps(plan_event(plan), sort_keys=True), flush=True)

    runner = AgentRunner(
        agent,
        target,
        lambda: read_bundle(cert_dir),
        lambda: mids,
        server_name=server_name,
        on_plan=on_plan,
        before_session=before_session,
        credential=(lambda: credential_file.read_text().strip()) if credential_file is not None else None,
    )
    stats = runner.run(max_sessions=sessions or None)
    print(
        json.dumps(
            {
                "event": "agent_done",
                "venue": venue,
                "sessions": stats.sessions,
                "rounds": stats.rounds,
                "connects": stats.connects,
                "refused": stats.refused,
            },
            sort_keys=True,
        ),
        flush=True,
    )
