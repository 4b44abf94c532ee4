"""Kalshi's market-data websocket (Trade API v2): ``orderbook_snapshot`` then ``orderbook_delta`` per market.

Facts (docs.kalshi.com: quick_start_websockets, asyncapi.yaml, orderbook_responses, fixed_point_migration;
fixtures ``../shared/data/recordings/prediction_markets/kalshi/nautilus_trader_unmerged_pr``):

- ``wss://api.elections.kalshi.com/trade-api/ws/v2``; the ``orderbook_delta`` channel is private: the
  handshake carries the signed ``KALSHI-ACCESS-*`` headers (``agents.venues.kalshi.KalshiSigner``).
- Subscribe: ``{"id": 1, "cmd": "subscribe", "params": {"channels": ["orderbook_delta"],
  "market_tickers": [...]}}``; the answer ``{"type": "subscribed", "id": 1, "msg": {"channel", "sid"}}``.
- Every data message is ``{"type", "sid", "seq", "msg"}``; ``seq`` counts per subscription (``sid``) from 1
  and a gap means the books of that subscription missed an update: they are voided and the session asks for
  a fresh subscription (its snapshot rebuilds them).
- ``orderbook_snapshot.msg``: ``market_ticker``, ``yes_dollars_fp`` / ``no_dollars_fp`` (also spelled
  ``yes_dollars`` / ``no_dollars``): ``[[price_dollars, count_fp], ...]`` *bids* only.
  ``orderbook_delta.msg``: ``market_ticker``, ``price_dollars``, ``delta_fp`` (signed change of the
  resting count), ``side`` (``yes``/``no``). A YES bid at ``p`` is a NO ask at ``1 - p``.
- ``{"type": "error", "msg": {"code", "msg"}}`` refuses a command (e.g. an unknown ticker).
- Resolution: the ``market_lifecycle_v2`` channel announces ``event_type`` ``determined`` (then
  ``settled``) with ``result`` ``yes``/``no``; the session records it in ``resolved`` (the market's
  assets pause and the agent settles them at 1/0).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, ClassVar

from agents.feeds.venues.prediction import (
    FeedMessageError,
    Level,
    Outcome,
    PredictionSession,
    decimal_field,
    mapping,
    probability,
    size_field,
)

_ONE = Decimal(1)


class KalshiSession(PredictionSession):
    venue: ClassVar[str] = "kalshi"
    ws_path: ClassVar[str] = "/trade-api/ws/v2"

    def __init__(self, markets: Sequence[str]) -> None:
        super().__init__(markets)
        self.yes: dict[str, dict[Decimal, Decimal]] = {m: {} for m in self.markets}
        self.no: dict[str, dict[Decimal, Decimal]] = {m: {} for m in self.markets}
        self._seq: dict[int, int] = {}
        self._markets_of: dict[int, set[str]] = {}
        self.gaps = 0
        self.refusals: list[str] = []

    def subscribe_messages(self) -> list[str]:
        self._seq.clear()
        self._markets_of.clear()
        command = {
            "id": 1,
            "cmd": "subscribe",
            "params": {
                "channels": ["orderbook_delta", "market_lifecycle_v2"],
                "market_tickers": list(self.markets),
            },
        }
        return [json.dumps(command)]

    def clear(self, market: str) -> None:
        self.yes[market] = {}
        self.no[market] = {}

    def handle(self, message: Any) -> set[str]:
        message = mapping(message, "message")
        kind = message.get("type")
        if kind in {"subscribed", "ok"}:
            return set()
        if kind == "error":
            self.refusals.append(json.dumps(message.get("msg"))[:300])
            return set()
        if kind == "market_lifecycle_v2":
            return self._lifecycle(mapping(message.get("msg"), "market_lifecycle_v2.msg"))
        if kind not in ("orderbook_snapshot", "orderbook_delta"):
            return set()  # ticker, trade, fill channels: not books
        body = mapping(message.get("msg"), f"{kind}.msg")
        ticker = body.get("market_ticker")
        if not isinstance(ticker, str) or not ticker:
            raise FeedMessageError(f"{kind}.msg.market_ticker must be a ticker string, got {ticker!r}")
        sid, seq = message.get("sid"), message.get("seq")
        if (
            isinstance(sid, bool)
            or not isinstance(sid, int)
            or isinstance(seq, bool)
            or not isinstance(seq, int)
        ):
            raise FeedMessageError(f"{kind}.sid and .seq must be integers, got {sid!r} and {seq!r}")
        if ticker not in self.yes:
            return set()  # a market we did not ask for
        self._markets_of.setdefault(sid, set()).add(ticker)
        expected = self._seq.get(sid)
        if kind == "orderbook_delta" and expected is not None and seq != expected + 1:
            self.gaps += 1
            for market in self._markets_of[sid]:
                self.invalidate(market, f"sequence gap on sid {sid}: {expected} then {seq}")
            self.reconnect_requested = True
            return set(self._markets_of[sid])
        self._seq[sid] = seq
        if kind == "orderbook_snapshot":
            self.yes[ticker] = _side(body, "yes", f"{kind}.msg")
            self.no[ticker] = _side(body, "no", f"{kind}.msg")
            self.void.pop(ticker, None)
            return {ticker}
        if ticker in self.void:
            return set()  # deltas before the snapshot change nothing we serve
        side = body.get("side")
        if side not in ("yes", "no"):
            raise FeedMessageError(f"orderbook_delta.msg.side must be 'yes' or 'no', got {side!r}")
        price = probability(body.get("price_dollars"), "orderbook_delta.msg.price_dollars")
        delta = decimal_field(body.get("delta_fp", body.get("delta")), "orderbook_delta.msg.delta_fp")
        levels = self.yes[ticker] if side == "yes" else self.no[ticker]
        size = levels.get(price, Decimal(0)) + delta
        if size < 0:
            self.invalidate(ticker, f"delta {delta} at {price} leaves {size} contracts")
            self.reconnect_requested = True
            return {ticker}
        if size == 0:
            levels.pop(price, None)
        else:
            levels[price] = size
        return {ticker}

    def _lifecycle(self, body: Mapping[str, Any]) -> set[str]:
        ticker = body.get("market_ticker")
        if ticker not in self.yes or body.get("event_type") not in ("determined", "settled"):
            return set()
        result = body.get("result")
        if result not in ("yes", "no"):
            raise FeedMessageError(f"market_lifecycle_v2.msg.result must be 'yes' or 'no', got {result!r}")
        assert isinstance(ticker, str)
        self.resolved[ticker] = result
        return {ticker}

    def book(self, market: str, outcome: Outcome = "yes") -> tuple[list[Level], list[Level]] | None:
        if market in self.void or market not in self.yes:
            return None
        own, other = (
            (self.yes[market], self.no[market]) if outcome == "yes" else (self.no[market], self.yes[market])
        )
        bids = sorted(own.items(), key=lambda kv: -kv[0])
        asks = sorted(((_ONE - p, q) for p, q in other.items()), key=lambda kv: kv[0])
        return bids, asks


def _side(body: Mapping[str, Any], side: str, where: str) -> dict[Decimal, Decimal]:
    key = f"{side}_dollars_fp" if f"{side}_dollars_fp" in body else f"{side}_dollars"
    raw = body.get(key) or []
    if not isinstance(raw, list):
        raise FeedMessageError(f"{where}.{key} must be a list of [price, count] pairs, got {raw!r}")
    out: dict[Decimal, Decimal] = {}
    for i, entry in enumerate(raw):
        if not isinstance(entry, list | tuple) or len(entry) != 2:
            raise FeedMessageError(f"{where}.{key}[{i}] must be a [price, count] pair, got {entry!r}")
        price = probability(entry[0], f"{where}.{key}[{i}].price")
        size = size_field(entry[1], f"{where}.{key}[{i}].count")
        if size > 0:
            out[price] = size
    return out


__all__ = ["KalshiSession"]
