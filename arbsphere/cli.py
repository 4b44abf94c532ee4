"""The ``arbsphere`` command line: one sub-app per user-facing area."""

from __future__ import annotations

import typer

from arbsphere.commands import agent, coordinator, events, ledger, markets, pki, registry, replay, report

app = typer.Typer(
    help="ArbSphere: federated cross-venue arbitrage without revealing private market state.",
    no_args_is_help=True,
)
app.add_typer(ledger.app, name="ledger", help="Query and verify the governance ledger (auditors).")
app.add_typer(registry.app, name="registry", help="Graph-of-Contracts adapter registry.")
app.add_typer(coordinator.app, name="coordinator", help="Run a region's coordinator.")
app.add_typer(agent.app, name="agent", help="Run a venue's edge agent.")
app.add_typer(pki.app, name="pki", help="Dev certificate authority: short-lived mTLS certificates.")
app.add_typer(events.app, name="events", help="Event log of an agent or coordinator: tail, store, replay.")
app.add_typer(markets.app, name="markets", help="Prediction-market metadata: match markets across venues.")
app.command("replay")(replay.replay)
app.command("backtest")(replay.backtest)
app.command("report")(report.report)


@app.command()
def demo(
    case: str = typer.Option(
        "region",
        "--case",
        help="region: the federated region as real processes (make demo); "
        "perp: a funding-arbitrage pair on two simulated perp venues, entry to exit; "
        "prediction: a Kalshi + Polymarket complete set from recorded data, match to resolution.",
    ),
) -> None:
    """Run the embedded demo."""
    if case == "perp":
        from arbsphere.perp_demo import run_perp_demo

        raise typer.Exit(run_perp_demo())
    if case == "prediction":
        from arbsphere.prediction_demo import run_prediction_demo

        raise typer.Exit(run_prediction_demo())
    if case != "region":
        raise typer.BadParameter(
            f"expected 'region', 'perp' or 'prediction', got {case!r}", param_hint="--case"
        )
    from arbsphere.demo import run_demo

    raise typer.Exit(run_demo())


if __name__ == "__main__":
    app()
