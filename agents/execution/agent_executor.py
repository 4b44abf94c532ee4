"""A standalone executor process: run committed PlanDeltas on live venues through CCXT, crash-safe.

    python -m agents.execution.agent_executor --config executor.json

Config (JSON): ``state_dir`` (outbox, store and ledger journal live there), ``venues`` (``venue_id``,
``exchange_id`` (a ccxt id), ``base_url`` (optional: redirect every REST URL), ``api_key``, ``secret``,
``quote``, ``instruments``: ``{instrument: {symbol, asset, lot_size, tick_size}}``), ``plans`` (paths of
binary ``PlanDelta`` files of one plan group), optional ``hedge`` (``slippage_bps``, ``timeout_ms``,
``max_rounds``), ``poll_interval_ms``, ``give_up_after_ms``.

Start-up first re-tracks and reconciles everything in the durable outbox, then (re-)submits the plans: legs
already sent are recognised by client order id and never sent again. It then polls venues and applies
leg-out handling until every plan is complete (or hedged) and prints one JSON summary line.
Exit codes: 0 complete, 2 gave up with plans open, 1 bad configuration.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from agents.execution.clock import SystemClock
from agents.execution.events import LedgerEvent
from agents.execution.legout import HedgeQuote, LegOutMonitor, LegOutPolicy, ReplanRequest
from agents.execution.live import CcxtVenue, LiveInstrument, make_exchange
from agents.execution.model import ExecutionInputError, parse_decimal
from agents.execution.outbox import Outbox
from agents.execution.plan import ExecPlan, plan_from_proto
from agents.execution.runner import PlanRunner
from agents.persistence.store import ExecutionStore
from agents.persistence.writer import StoreWriter
from agents.risk.limits import RiskLimits
from agents.risk.manager import RiskManager
from agents.risk.market import MarketState
from energibridge.v1 import ir_pb2


class JournalSink:
    """Appends ledger-bound events to a JSON-lines journal (flushed per event) until the ledger takes them."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def record(self, event: LedgerEvent) -> None:
        line = json.dumps({"audit_kind": event.audit_kind, "payload": event.payload()}, sort_keys=True)
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")
            handle.flush()


@dataclass(frozen=True, slots=True)
class VenueConfig:
    venue_id: str
    exchange_id: str
    base_url: str | None
    api_key: str
    secret: str
    quote: str
    instruments: Mapping[str, LiveInstrument]


def _venue_config(i: int, raw: Any) -> VenueConfig:
    where = f"venues[{i}]"
    if not isinstance(raw, dict):
        raise ExecutionInputError(f"{where} must be an object, got {type(raw).__name__}")
    try:
        instruments = {
            str(name): LiveInstrument(
                symbol=str(spec["symbol"]),
                asset=str(spec["asset"]),
                lot_size=parse_decimal(
                    f"{where}.instruments.{name}.lot_size", spec["lot_size"], positive=True
                ),
                tick_size=parse_decimal(
                    f"{where}.instruments.{name}.tick_size", spec["tick_size"], positive=True
                ),
            )
            for name, spec in dict(raw["instruments"]).items()
        }
        return VenueConfig(
            venue_id=str(raw["venue_id"]),
            exchange_id=str(raw["exchange_id"]),
            base_url=raw.get("base_url"),
            api_key=str(raw.get("api_key", "")),
            secret=str(raw.get("secret", "")),
            quote=str(raw.get("quote", "USD")),
            instruments=instruments,
        )
    except KeyError as exc:
        raise ExecutionInputError(f"{where} is missing the field {exc.args[0]!r}") from None


def _load_plan(path: Path) -> ExecPlan:
    delta = ir_pb2.PlanDelta()
    delta.ParseFromString(path.read_bytes())
    return plan_from_proto(delta)


def run(config: Mapping[str, Any]) -> dict[str, object]:
    state_dir = Path(str(config["state_dir"]))
    state_dir.mkdir(parents=True, exist_ok=True)
    venues_cfg = [_venue_config(i, raw) for i, raw in enumerate(config["venues"])]
    plans = [_load_plan(Path(str(p))) for p in config["plans"]]
    hedge_cfg = dict(config.get("hedge", {}))
    policy = LegOutPolicy(
        hedge_slippage_bps=parse_decimal("hedge.slippage_bps", str(hedge_cfg.get("slippage_bps", "50"))),
        hedge_timeout_ms=int(hedge_cfg.get("timeout_ms", 2_000)),
        max_hedge_rounds=int(hedge_cfg.get("max_rounds", 3)),
    )
    poll_s = int(config.get("poll_interval_ms", 50)) / 1000
    give_up_ms = int(config.get("give_up_after_ms", 20_000))

    clock = SystemClock()
    sink = JournalSink(state_dir / "ledger.jsonl")
    outbox = Outbox.sqlite(state_dir / "outbox.db")
    writer = StoreWriter(ExecutionStore.sqlite(state_dir / "store.db"))
    replans: list[ReplanRequest] = []
    runner = PlanRunner(
        clock=clock,
        monitor=LegOutMonitor(policy, sink),
        sink=sink,
        risk=RiskManager(RiskLimits(), sink),
        writer=writer,
        on_replan=replans.append,
    )
    venues: dict[str, CcxtVenue] = {}
    for vc in venues_cfg:
        exchange = make_exchange(vc.exchange_id, base_url=vc.base_url, api_key=vc.api_key, secret=vc.secret)
        exchange.load_markets()
        venue = CcxtVenue(
            vc.venue_id,
            exchange,
            outbox=outbox,
            clock=clock,
            listener=runner.on_event,
            instruments=vc.instruments,
        )
        venues[vc.venue_id] = venue
        runner.add_venue(vc.venue_id, venue, kind=vc.exchange_id)

    # 1. Recovery: re-track every order of these plans we ever committed to send, then reconcile each with
    #    its venue (orders of other plans still unfinished are reconciled too, but not re-tracked).
    current = {p.plan_id for p in plans}
    for venue in venues.values():
        records = [r for r in outbox.records(venue=venue.venue) if r.order.plan_id in current]
        for record in records:
            runner.track_existing(record.order, record.role)  # before any event can arrive for it
        venue.recover()
        for record in records:
            venue.reconcile(record)  # replays finished orders' fills into the fresh monitor (deduplicated)

    # 2. (Re-)submit the plans: already-sent legs are recognised, the rest are sent.
    for plan in plans:
        runner.submit_plan(plan, _market(venues, plan), quote=_quote(venues_cfg, plan.venue))

    # 3. Poll and hedge until every plan is complete.
    started = clock.now_ms()
    plan_ids = sorted({p.plan_id for p in plans})
    while True:
        for venue in venues.values():
            venue.poll()
        runner.tick(_quotes(venues))
        now = clock.now_ms()
        if all(runner.monitor.complete(pid, now) for pid in plan_ids):
            break
        if now - started > give_up_ms:
            break
        time.sleep(poll_s)
    writer.close()
    now = clock.now_ms()
    complete = {pid: runner.monitor.complete(pid, now) for pid in plan_ids}
    return {
        "all_complete": all(complete.values()),
        "complete": complete,
        "realised_pnl": {pid: str(runner.portfolio.plan_cash_flow.get(pid, Decimal(0))) for pid in plan_ids},
        "replans": [{"asset": r.asset, "side": r.side.value, "size": str(r.size)} for r in replans],
    }


def _market(venues: Mapping[str, CcxtVenue], plan: ExecPlan) -> MarketState:
    venue = venues[plan.venue]
    return MarketState({(plan.venue, leg.instrument): venue.book(leg.instrument) for leg in plan.legs})


def _quotes(venues: Mapping[str, CcxtVenue]) -> list[HedgeQuote]:
    quotes: list[HedgeQuote] = []
    for venue in venues.values():
        for name, inst in venue.instruments.items():
            asset = name.split("-")[0]
            quotes.append(
                HedgeQuote(venue.venue, name, asset, venue.book(name), inst.lot_size, inst.tick_size)
            )
    return quotes


def _quote(venues_cfg: Sequence[VenueConfig], venue_id: str) -> str:
    return next((vc.quote for vc in venues_cfg if vc.venue_id == venue_id), "USD")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--config", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        config = json.loads(args.config.read_text())
        summary = run(config)
    except (ExecutionInputError, KeyError, ValueError) as exc:
        print(json.dumps({"error": str(exc)}), file=sys.stderr)
        return 1
    print(json.dumps(summary, sort_keys=True), flush=True)
    return 0 if summary["all_complete"] is True else 2


if __name__ == "__main__":
    raise SystemExit(main())
