"""Polymarket's CLOB market channel: ``book`` snapshots and ``price_change`` level updates per token.

Facts (docs.polymarket.com "WSS market channel"; fixtures ``../shared/data/recordings/prediction_markets/
polymarket/nautilus_trader``):

- ``wss://ws-subscriptions-clob.polymarket.com/ws/market``, public; subscribe with
  ``{"assets_ids": [token ids], "type": "market"}``. The venue answers with one ``book`` per token (possibly
  as one JSON array of them).
- ``book``: ``asset_id``, ``market`` (condition id), ``bids`` / ``asks`` as ``[{"price", "size"}]`` decimal
  strings (bids ascending, asks descending: the best level last), ``hash``, ``timestamp``.
- ``price_change``: the new *absolute* size of one level (``0`` removes it); ``side`` ``BUY`` is a bid,
  ``SELL`` an ask. Two shapes: the newer one lists ``price_changes: [{asset_id, price, side, size, hash,
  best_bid, best_ask}]``, the older one carries ``asset_id``, ``price``, ``side``, ``size`` at the top.
- ``tick_size_change``, ``last_trade_price``, ``best_bid_ask``, ``new_market``: no book change.
  ``market_resolved``: ``winning_asset_id`` (and ``assets_ids``) — each of our tokens resolves ``yes`` if it
  won, ``no`` otherwise.
- No sequence numbers: an unreadable message voids every book and the session resubscribes.
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
    mapping,
    probability,
    size_field,
)


class PolymarketSession(PredictionSession):
    venue: ClassVar[str] = "polymarket"
    ws_path: ClassVar[str] = "/ws/market"

    def __init__(self, markets: Sequence[str]) -> None:
        super().__init__(markets)
        self.bids: dict[str, dict[Decimal, Decimal]] = {m: {} for m in self.markets}
        self.asks: dict[str, dict[Decimal, Decimal]] = {m: {} for m in self.markets}

    def subscribe_messages(self) -> list[str]:
        return [json.dumps({"assets_ids": list(self.markets), "type": "market"})]

    def clear(self, market: str) -> None:
        self.bids[market] = {}
        self.asks[market] = {}

    def handle(self, message: Any) -> set[str]:
        if isinstance(message, list):
            touched: set[str] = set()
            for i, item in enumerate(message):
                touched |= self._one(mapping(item, f"message[{i}]"))
            return touched
        return self._one(mapping(message, "message"))

    def _one(self, message: Mapping[str, Any]) -> set[str]:
        kind = message.get("event_type")
        if kind == "book":
            token = _token(message.get("asset_id"), "book.asset_id")
            if token not in self.bids:
                return set()
            self.bids[token] = _levels(message.get("bids"), "book.bids")
            self.asks[token] = _levels(message.get("asks"), "book.asks")
            self.void.pop(token, None)
            return {token}
        if kind == "price_change":
            changes = message.get("price_changes")
            if changes is None:
                return self._change(message, "price_change")
            if not isinstance(changes, list):
                raise FeedMessageError(f"price_change.price_changes must be a list, got {changes!r}")
            touched: set[str] = set()
            for i, change in enumerate(changes):
                touched |= self._change(mapping(change, f"price_changes[{i}]"), f"price_changes[{i}]")
            return touched
        if kind == "market_resolved":
            winner = message.get("winning_asset_id")
            assets = message.get("assets_ids") or []
            if not isinstance(assets, list):
                raise FeedMessageError(f"market_resolved.assets_ids must be a list, got {assets!r}")
            touched = set()
            for token in (*assets, winner):
                if isinstance(token, str) and token in self.bids:
                    self.resolved[token] = "yes" if token == winner else "no"
                    touched.add(token)
            return touched
        return set()

    def _change(self, change: Mapping[str, Any], where: str) -> set[str]:
        token = _token(change.get("asset_id"), f"{where}.asset_id")
        if token not in self.bids or token in self.void:
            return set()
        price = probability(change.get("price"), f"{where}.price")
        size = size_field(change.get("size"), f"{where}.size")
        side = change.get("side")
        if side not in ("BUY", "SELL"):
            raise FeedMessageError(f"{where}.side must be 'BUY' or 'SELL', got {side!r}")
        levels = self.bids[token] if side == "BUY" else self.asks[token]
        if size == 0:
            levels.pop(price, None)
        else:
            levels[price] = size
        return {token}

    def book(self, market: str, outcome: Outcome = "yes") -> tuple[list[Level], list[Level]] | None:
        if market in self.void or market not in self.bids:
            return None
        if outcome != "yes":
            raise ValueError(f"outcome: a Polymarket token is its own outcome's book, got {outcome!r}")
        bids = sorted(self.bids[market].items(), key=lambda kv: -kv[0])
        asks = sorted(self.asks[market].items(), key=lambda kv: kv[0])
        return bids, asks


def _token(value: object, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise FeedMessageError(f"{name} must be a token id string, got {value!r}")
    return value


def _levels(raw: object, name: str) -> dict[Decimal, Decimal]:
    if raw is None:
        return {}
    if not isinstance(raw, list):
        raise FeedMessageError(f"{name} must be a list of {{price, size}} levels, got {raw!r}")
    out: dict[Decimal, Decimal] = {}
    for i, entry in enumerate(raw):
        level = mapping(entry, f"{name}[{i}]")
        price = probability(level.get("price"), f"{name}[{i}].price")
        size = size_field(level.get("size"), f"{name}[{i}].size")
        if size > 0:
            out[price] = size
    return out


__all__ = ["PolymarketSession"]
