"""`arbsphere markets`: prediction-market metadata across venues.

``match`` reads one Kalshi and one Polymarket metadata file (any payload shape the venues' public APIs
return, or the recordings in ``../shared/data/recordings/prediction_markets``), runs the matcher
(:mod:`sdk.prediction.matcher`) and prints one JSON line per decision: the ``MARKET_MATCH`` ledger payload
(match, pending_approval, and with ``--all`` the rejections), best first. Markets a file holds but that
cannot be parsed are reported on stderr, one JSON line each, and skipped; so are the multi-outcome events
whose markets matched one to one (``event_match``, with ``complete``), and a summary line. stdout stays a
stream of records another tool can append to the ledger.

The matcher is imported inside the command, so ``arbsphere --help`` stays fast.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(help="Prediction-market metadata: cross-venue matching.", no_args_is_help=True)


def _read(path: Path, option: str) -> Any:
    try:
        return json.loads(path.read_text())
    except OSError as exc:
        raise typer.BadParameter(f"cannot read {path}: {exc.strerror}", param_hint=option) from None
    except json.JSONDecodeError as exc:
        raise typer.BadParameter(
            f"{path} is not JSON ({exc.msg} at line {exc.lineno})", param_hint=option
        ) from None


def _cross_listings(values: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for value in values:
        left, sep, right = value.partition("=")
        if not sep or not left.startswith("kalshi:") or not right.startswith("polymarket:"):
            raise typer.BadParameter(
                f"expected kalshi:<ticker>=polymarket:<condition id>, got {value!r}",
                param_hint="--cross-listing",
            )
        out[left] = right
    return out


def _emit(stream: Any, payload: dict[str, object]) -> None:
    print(json.dumps(payload, sort_keys=True), file=stream, flush=True)


@app.command("match")
def match(  # typer reads options from keyword parameters; none is positional on the command line
    *,
    kalshi: Annotated[Path, typer.Option(help="Kalshi markets/events JSON (API answer or recording).")],
    polymarket: Annotated[Path, typer.Option(help="Polymarket Gamma/CLOB markets or events JSON.")],
    accept: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Confidence at or above which a pair matches.")
    ] = 0.85,
    review: Annotated[
        float,
        typer.Option(min=0.0, max=1.0, help="Confidence at or above which a pair waits for an operator."),
    ] = 0.60,
    window_hours: Annotated[
        float, typer.Option(min=0.001, help="Largest gap between the two resolution times, hours.")
    ] = 168.0,
    cross_listing: Annotated[
        list[str] | None,
        typer.Option(help="Known identity, kalshi:<ticker>=polymarket:<condition id> (repeatable)."),
    ] = None,
    show_all: Annotated[bool, typer.Option("--all", help="Also print rejected candidate pairs.")] = False,
) -> None:
    """Match Kalshi and Polymarket markets; print each decision as a MARKET_MATCH JSON line."""
    from datetime import timedelta

    from sdk.prediction import (
        Decision,
        MatchConfig,
        PredictionMarketError,
        match_events,
        match_markets,
        parse_kalshi,
        parse_polymarket,
    )

    try:
        config = MatchConfig(
            accept_confidence=accept,
            review_confidence=review,
            time_window=timedelta(hours=window_hours),
            cross_listings=_cross_listings(cross_listing or []),
        )
    except PredictionMarketError as exc:
        raise typer.BadParameter(str(exc), param_hint="--review") from None
    errors: list[str] = []
    try:
        left = parse_kalshi(_read(kalshi, "--kalshi"), "kalshi", errors=errors)
        right = parse_polymarket(_read(polymarket, "--polymarket"), "polymarket", errors=errors)
    except PredictionMarketError as exc:
        raise typer.BadParameter(str(exc)) from None
    for error in errors:
        _emit(sys.stderr, {"skipped": error})
    decisions = match_markets(left, right, config, include_rejections=show_all)
    for decision in decisions:
        _emit(sys.stdout, decision.to_record())
    counts = {
        d.value: sum(1 for x in decisions if x.decision is d) for d in (Decision.MATCH, Decision.PENDING)
    }
    for event in match_events(decisions, left, right):
        _emit(sys.stderr, {"event_match": event.to_json()})
    _emit(
        sys.stderr,
        {
            "summary": {
                "kalshi_markets": len(left),
                "polymarket_markets": len(right),
                "skipped": len(errors),
                **counts,
            }
        },
    )
