"""A prediction venue's facts as data: endpoints, its feed session, its fee model, whether it can trade live.

Kalshi and Polymarket are not ccxt-and-cryptofeed spot venues (``agents.venues.spec.VenueSpec``): their books
are outcome shares in probability units, their fees are per-order formulas (``sdk.curves.prediction``) and
their feeds are parsed by ``agents.feeds.venues.prediction`` sessions. ``PredictionVenueSpec`` is the
declarative record each venue module (``agents.venues.kalshi``, ``agents.venues.polymarket``) exports as
``SPEC``; ``agents.feeds.venues.prediction.PredictionMarket`` is the market source built from it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Protocol

from agents.feeds.venues.prediction import PredictionMarket, PredictionRules, PredictionSession, StatusSink
from sdk.curves.prediction import FeeModel

if TYPE_CHECKING:
    from agents.agent_config import AgentConfig

PREDICTION_NAMES = ("kalshi", "polymarket")


@dataclass(frozen=True, slots=True)
class PredictionVenueSpec:
    name: str
    rest_url: str
    """Default REST base (scheme, host and the API's path prefix); a config may point it at a fake."""
    ws_url: str
    """Default websocket base (scheme and host); the session's ``ws_path`` is appended."""
    feed_session: type[PredictionSession]
    fees: Callable[[float | None], FeeModel]
    """The venue's fee model for an instrument's configured fee rate (``None``: the venue's default)."""
    live_orders: bool
    """Whether ``mode = 'live'`` can send orders through this module (Polymarket: not yet, see its module)."""
    tick_size: str = "0.01"
    lot_size: str = "1"


def prediction_spec(name: str) -> PredictionVenueSpec:
    if name not in PREDICTION_NAMES:
        raise ValueError(f"exchange must be one of {list(PREDICTION_NAMES)}, got {name!r}")
    import importlib

    spec = importlib.import_module(f"agents.venues.{name}").SPEC
    assert isinstance(spec, PredictionVenueSpec)
    return spec


def instrument_rules(
    config: AgentConfig, spec: PredictionVenueSpec
) -> dict[str, tuple[str, Decimal, Decimal]]:
    """asset -> ``(symbol, lot, tick)`` of each configured instrument (the venue's defaults where unset)."""
    return {
        i.asset: (i.symbol, i.lot_size or Decimal(spec.lot_size), i.tick_size or Decimal(spec.tick_size))
        for i in config.instruments
    }


def prediction_market(
    config: AgentConfig,
    spec: PredictionVenueSpec,
    *,
    secrets: tuple[str, str] | None = None,
    on_status: StatusSink | None = None,
) -> PredictionMarket:
    """The venue's market source from its config: one curve per instrument with the venue's exact fee
    model, the config's book-usage share and caps; ``secrets`` ``(key id, secret)`` sign the websocket
    handshake where the venue needs it (Kalshi's order-book channel)."""
    rules = []
    for i in config.instruments:
        assert i.market is not None  # the config checked it
        rules.append(
            PredictionRules(
                asset=i.asset,
                market=i.market,
                outcome=i.outcome,
                fees=spec.fees(i.fee_rate),
                book_usage=config.caps.book_usage,
                lot_size=float(i.lot_size or Decimal(spec.lot_size)),
                max_buy=None if i.max_buy is None else float(i.max_buy),
                max_sell=None if i.max_sell is None else float(i.max_sell),
            )
        )
    markets = sorted({r.market for r in rules})
    handshake = None
    if spec.name == "kalshi" and secrets is not None:
        from agents.venues.kalshi import KalshiSigner
        from agents.venues.kalshi import handshake as kalshi_handshake

        handshake = kalshi_handshake(KalshiSigner.from_pem(*secrets))
    return PredictionMarket(
        config.venue,
        spec.feed_session(markets),
        rules,
        ws_base=config.endpoints.ws or spec.ws_url,
        handshake=handshake,
        stale_after_s=config.risk.stale_after_s,
        on_status=on_status,
    )


def paper_inventory(config: AgentConfig) -> Mapping[str, Decimal]:
    inventory = {i.asset: Decimal(0) for i in config.instruments} | {config.quote_asset: Decimal(0)}
    inventory.update({k: Decimal(v) for k, v in config.paper_balances.items()})
    return inventory


class Settles(Protocol):
    def settle_resolution(self, asset: str, payout: Decimal) -> tuple[Decimal, Decimal]: ...

    def balances(self) -> dict[str, Decimal]: ...


def hold_to_resolution(
    market: PredictionMarket,
    runtime: Settles,
    *,
    venue: str,
    quote: str,
    start: Mapping[str, Decimal],
    wait_s: float,
    emit: StatusSink,
    poll_s: float = 0.1,
) -> dict[str, object] | None:
    """Hold every position until its market resolves (at most ``wait_s``), settle each at 1/0 as the venue
    announces it (``settlement`` events), then report the realised PnL of the agent's whole life on this
    venue: final wealth minus starting wealth, the starting shares valued at their payout. ``None`` (and a
    ``notice``) when some held market did not resolve in time."""
    deadline = time.monotonic() + wait_s
    settled: dict[str, Decimal] = {}
    while True:
        held = {a for a, q in runtime.balances().items() if a != quote and q != 0 and a not in settled}
        for asset, payout in sorted(market.payouts().items()):
            if asset in settled:
                continue
            quantity, cash = runtime.settle_resolution(asset, payout)
            settled[asset] = payout
            rule = market.rules[asset]
            emit({"event": "settlement", "venue": venue, "asset": asset, "market": rule.market,
                  "outcome": rule.outcome, "payout": str(payout), "quantity": format(quantity, "f"),
                  "cash": format(cash, "f")})  # fmt: skip
            held.discard(asset)
        if not held:
            break
        if time.monotonic() >= deadline:
            emit({"event": "notice", "venue": venue, "detail": f"unresolved at exit: {sorted(held)}"})
            return None
        time.sleep(poll_s)
    balances = runtime.balances()
    start_value = start.get(quote, Decimal(0)) + sum(
        (q * settled.get(a, Decimal(0)) for a, q in start.items() if a != quote), Decimal(0)
    )
    pnl = balances.get(quote, Decimal(0)) - start_value
    result: dict[str, object] = {"event": "resolution_pnl", "venue": venue, "quote": quote,
                                 "settled": {a: str(p) for a, p in sorted(settled.items())},
                                 "realised_pnl": format(pnl, "f")}  # fmt: skip
    emit(result)
    return result


__all__ = [
    "PREDICTION_NAMES",
    "PredictionVenueSpec",
    "hold_to_resolution",
    "instrument_rules",
    "paper_inventory",
    "prediction_market",
    "prediction_spec",
]
