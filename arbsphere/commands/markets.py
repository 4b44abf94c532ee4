"""`arbsphere markets`: prediction-market metadata across venues.

``match`` reads one Kalshi and one Polymarket metadata file (any payload shape the venues' public APIs
return, or the recordings in ``../shared/data/recordings/prediction_markets``), runs the matcher
(:mod:`sdk.prediction.matcher`) and prints one JSON line per decision: the ``MARKET_MATCH`` ledger payload
(match, pending_approval, and with ``--all`` the rejections), best first. Markets a file holds but that
cannot be parsed are reported on stderr, one JSON line each, and skipped; so are the multi-outcome events
whose markets matched one to one (``event_match``, with ``complete``), and a summary line. stdout stays a
stream of records another tool can append to the ledger.

With ``--ledger-url`` every printed decision is also appended to the governance ledger as a ``MARKET_MATCH``
entry (its canonical JSON, signed by the matcher's did:key in ``--signer-key-file``); ``decide`` records an
operator's approval or rejection of a ``pending_approval`` match the same way, naming the operator and the
entry it answers. Only public market metadata is read: no venue's book is involved.

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


LedgerUrl = Annotated[
    str | None, typer.Option(help="Append each decision to this ledger (SQLAlchemy URL) as MARKET_MATCH.")
]
LedgerKey = Annotated[Path, typer.Option(help="The ledger's log signing key file.")]
SignerKey = Annotated[
    Path, typer.Option(help="The matcher's did:key (Ed25519, 0600; created if absent) signing its entries.")
]


def _signer(path: Path) -> Any:
    from registry.identity import DidKeyPair
    from registry.identity.keystore import load_did_key, save_did_key

    if path.exists():
        return load_did_key(path)
    pair = DidKeyPair.generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    save_did_key(path, pair)
    return pair


def _append(url: str, key_file: Path, signer_file: Path, records: list[dict[str, object]]) -> list[int]:
    """Append ``records`` as MARKET_MATCH entries; their ledger indices."""
    from arbsphere.commands.coordinator import load_or_create_log_key
    from energibridge.v1 import ir_pb2
    from registry.ledger import Ledger, LedgerError
    from sdk.prediction.matcher import record_bytes

    signer = _signer(signer_file)
    try:
        with Ledger.open(url, load_or_create_log_key(key_file, "arbsphere.log")) as ledger:
            kind = ir_pb2.AUDIT_KIND_MARKET_MATCH
            return ledger.append_many([(kind, record_bytes(r), signer) for r in records], timeout=30)
    except (LedgerError, OSError, ValueError) as exc:
        raise typer.BadParameter(
            f"cannot append to the ledger {url!r}: {exc}", param_hint="--ledger-url"
        ) from None


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
    ledger_url: LedgerUrl = None,
    ledger_key_file: LedgerKey = Path("var/ledger-log.key"),
    signer_key_file: SignerKey = Path("var/matcher-signer.key"),
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
    if ledger_url is not None and decisions:
        indices = _append(ledger_url, ledger_key_file, signer_key_file, [d.to_record() for d in decisions])
        _emit(sys.stderr, {"ledger": {"url": ledger_url, "kind": "MARKET_MATCH", "indices": indices}})
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


@app.command("decide")
def decide(
    *,
    match_id: Annotated[str, typer.Option(help="The pending match (its match_id on the ledger).")],
    operator: Annotated[str, typer.Option(help="Who decides (recorded with the verdict).")],
    approve: Annotated[bool, typer.Option("--approve/--reject", help="Approve or reject the pair.")],
    ledger_url: Annotated[str, typer.Option(help="The ledger holding the pending MARKET_MATCH entry.")],
    note: Annotated[str, typer.Option(help="Why (recorded).")] = "",
    ledger_key_file: LedgerKey = Path("var/ledger-log.key"),
    signer_key_file: SignerKey = Path("var/matcher-signer.key"),
) -> None:
    """Approve or reject a match waiting for an operator; the verdict goes on the ledger as MARKET_MATCH."""
    from arbsphere.commands.coordinator import load_or_create_log_key
    from energibridge.v1 import ir_pb2
    from registry.ledger import Ledger, LedgerError
    from sdk.prediction import PredictionMarketError
    from sdk.prediction.matcher import operator_decision

    try:
        with Ledger.open(ledger_url, load_or_create_log_key(ledger_key_file, "arbsphere.log")) as ledger:
            entries = ledger.query(kind=ir_pb2.AUDIT_KIND_MARKET_MATCH, limit=100_000)
    except (LedgerError, OSError, ValueError) as exc:
        raise typer.BadParameter(
            f"cannot read the ledger {ledger_url!r}: {exc}", param_hint="--ledger-url"
        ) from None
    latest: tuple[int, dict[str, Any]] | None = None
    for entry in entries:
        record = json.loads(entry.payload)
        if isinstance(record, dict) and record.get("match_id") == match_id:
            latest = (entry.index, record)
    if latest is None:
        raise typer.BadParameter(f"no MARKET_MATCH entry for match_id {match_id!r}", param_hint="--match-id")
    index, record = latest
    try:
        verdict = operator_decision(record, approved=approve, operator=operator, note=note)
    except PredictionMarketError as exc:
        raise typer.BadParameter(f"entry {index}: {exc}", param_hint="--match-id") from None
    verdict["answers_index"] = index
    [written] = _append(ledger_url, ledger_key_file, signer_key_file, [verdict])
    _emit(sys.stdout, {**verdict, "ledger_index": written})
