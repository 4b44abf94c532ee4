"""Coinbase Pro (legacy, ``wss://ws-feed.pro.coinbase.com``) ``level2`` feed: a thin parser of our own.

cryptofeed 2.4.1 speaks only Coinbase Advanced Trade (``l2_data`` events), so it cannot parse the legacy
recordings; this module covers them (``snapshot``, ``l2update``, ``match``). The legacy level2 channel has no
sequence numbers: a message that cannot be read voids every book of the connection, and the crossed-book
check is the remaining guard. Sizes are absolute, ``"0"`` deletes the level.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, ClassVar

from agents.feeds.maintainer import BookMaintainer
from agents.feeds.session import VenueSession
from sdk.adapters.events import FeedError, FeedErrorKind, FeedEvent, Level, Side, Trade

_INF = float("inf")


def _iso_ts(text: object) -> float | None:
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


def _pairs(raw: Any, field: str) -> list[Level]:
    if not isinstance(raw, list):
        raise ValueError(f"{field} must be a list of [price, size], got {type(raw).__name__}")
    return [(float(p), float(s)) for p, s, *_ in raw]


class CoinbaseLegacySession(VenueSession):
    venue: ClassVar[str] = "coinbase"

    def __init__(self, symbols: list[str], *, cross_check: bool = True) -> None:
        if not symbols:
            raise ValueError("symbols must name at least one product id, got an empty list")
        super().__init__(BookMaintainer(self.venue, cross_check=cross_check))
        self._symbols = list(symbols)
        self._wanted = set(symbols)

    def symbols(self) -> list[str]:
        return list(self._symbols)

    def on_message(self, text: str, receipt_ts: float) -> list[FeedEvent]:
        self.messages += 1
        maintainer = self.maintainer
        try:
            msg = json.loads(text)
            kind = msg["type"]
            if kind == "l2update":
                symbol = msg["product_id"]
                if symbol in self._wanted:
                    bids: list[Level] = []
                    asks: list[Level] = []
                    for side, price, size in msg["changes"]:
                        if side == "buy":
                            bids.append((float(price), float(size)))
                        elif side == "sell":
                            asks.append((float(price), float(size)))
                        else:
                            raise ValueError(f"changes side must be 'buy' or 'sell', got {side!r}")
                    maintainer.update(symbol, bids, asks, receipt_ts, exchange_ts=_iso_ts(msg.get("time")))
            elif kind == "snapshot":
                symbol = msg["product_id"]
                if symbol in self._wanted:
                    maintainer.snapshot(
                        symbol, _pairs(msg["bids"], "bids"), _pairs(msg["asks"], "asks"), receipt_ts
                    )
            elif kind in ("match", "last_match"):
                self._trade(msg, receipt_ts)
            elif kind == "error":
                maintainer.events.append(
                    FeedError(
                        self.venue, None, FeedErrorKind.MALFORMED, f"venue error: {msg}"[:300], receipt_ts
                    )
                )
        except (ValueError, KeyError, TypeError) as exc:  # json errors are ValueErrors
            self.errors += 1
            kind_ = FeedErrorKind.MALFORMED
            if isinstance(exc, ValueError) and not isinstance(exc, json.JSONDecodeError):
                kind_ = FeedErrorKind.INVALID_VALUE
            maintainer.invalidate_all(kind_, f"{type(exc).__name__}: {exc}"[:300], receipt_ts)
        return maintainer.drain()

    def _trade(self, msg: dict[str, Any], receipt_ts: float) -> None:
        symbol = msg["product_id"]
        if symbol not in self._wanted:
            return
        price = float(msg["price"])
        size = float(msg["size"])
        if not (0.0 < price < _INF and 0.0 < size < _INF):
            raise ValueError(f"match price/size must be finite and > 0, got {price!r}/{size!r}")
        # ``side`` is the maker's side; the taker (aggressor) traded the other way.
        taker = Side.BUY if msg["side"] == "sell" else Side.SELL
        self.maintainer.events.append(
            Trade(
                self.venue,
                symbol,
                taker,
                price,
                size,
                receipt_ts,
                _iso_ts(msg.get("time")),
                str(msg.get("trade_id")),
            )
        )
