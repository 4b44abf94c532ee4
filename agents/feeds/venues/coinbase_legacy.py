"""Coinbase Pro (legacy, ``wss://ws-feed.pro.coinbase.com``) ``level2`` feed: a thin parser of our own.

cryptofeed 2.4.1 speaks only Coinbase Advanced Trade (``l2_data`` events), so it cannot parse the legacy
recordings; this module covers them (``snapshot``, ``l2update``, ``match``). The legacy level2 channel has no
sequence numbers: a message that cannot be read voids every book of the connection, and the crossed-book
check is the remaining guard. Sizes are absolute, ``"0"`` deletes the level.

Reading is strict: a message type the channel does not document, a product the connection did not subscribe,
a value of the wrong type or out of range, or any failure at all while reading one message voids the books
(``FeedError`` + ``Resync``) and asks for a resubscription (the only way to get a fresh snapshot); nothing is
skipped silently and nothing escapes as an exception. Messages pass ``guard.check_message`` first, so the
decoder never recurses deeply.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, ClassVar

from agents.feeds.maintainer import BookMaintainer
from agents.feeds.session import VenueSession
from agents.feeds.venues.guard import MessageRefused, ValueRefused, check_message, level, levels, trade_values
from sdk.adapters.events import FeedError, FeedErrorKind, FeedEvent, Level, Side, Trade

QUIET_TYPES = frozenset({"subscriptions", "heartbeat", "ticker"})
"""Documented messages that carry nothing for the books (acknowledgements, heartbeats, the ticker channel)."""


def _iso_ts(text: object) -> float | None:
    if not isinstance(text, str) or len(text) > 64:
        return None
    try:
        return datetime.fromisoformat(text).timestamp()
    except (ValueError, OverflowError, OSError):
        return None


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
        try:
            self._read(text, receipt_ts)
        except Exception as exc:  # whatever reading one message raised: the books are voided, not guessed
            self.errors += 1
            if isinstance(exc, MessageRefused):
                kind = exc.kind
            elif isinstance(exc, ValueError) and not isinstance(exc, json.JSONDecodeError):
                kind = FeedErrorKind.INVALID_VALUE
            else:
                kind = FeedErrorKind.MALFORMED
            self.maintainer.invalidate_all(kind, f"{type(exc).__name__}: {exc}"[:300], receipt_ts)
        events = self.maintainer.drain()
        if any(isinstance(e, FeedError) for e in events):
            self.reconnect_requested = True  # no REST snapshot on this channel: only a resubscription
        return events

    def on_corrupt(self, detail: str, receipt_ts: float) -> list[FeedEvent]:
        events = super().on_corrupt(detail, receipt_ts)
        self.reconnect_requested = True
        return events

    def _read(self, text: str, receipt_ts: float) -> None:
        msg = json.loads(check_message(text))
        if type(msg) is not dict:
            raise MessageRefused(f"expected a JSON object, got {type(msg).__name__}")
        kind = msg["type"]
        maintainer = self.maintainer
        if kind == "l2update":
            symbol = self._product(msg)
            changes = msg["changes"]
            if type(changes) is not list:
                raise ValueRefused(f"changes must be a list, got {type(changes).__name__}")
            bids: list[Level] = []
            asks: list[Level] = []
            for change in changes:
                if type(change) is not list or len(change) != 3:
                    raise ValueRefused(f"a change must be [side, price, size], got {str(change)[:60]}")
                side = change[0]
                pair = level(change[1], change[2], "changes")
                if side == "buy":
                    bids.append(pair)
                elif side == "sell":
                    asks.append(pair)
                else:
                    raise ValueRefused(f"changes side must be 'buy' or 'sell', got {str(side)[:20]!r}")
            maintainer.update(symbol, bids, asks, receipt_ts, exchange_ts=_iso_ts(msg.get("time")))
        elif kind == "snapshot":
            symbol = self._product(msg)
            maintainer.snapshot(symbol, levels(msg["bids"], "bids"), levels(msg["asks"], "asks"), receipt_ts)
        elif kind in ("match", "last_match"):
            self._trade(msg, receipt_ts)
        elif kind == "error":
            raise MessageRefused(f"venue error: {str(msg)[:200]}")
        elif kind not in QUIET_TYPES:
            raise MessageRefused(f"message type {str(kind)[:40]!r} is not one the level2 channel sends")

    def _product(self, msg: dict[str, Any]) -> str:
        """The message's product id, which must be one this connection subscribed."""
        symbol = msg["product_id"]
        if not isinstance(symbol, str) or symbol not in self._wanted:
            raise MessageRefused(f"product {str(symbol)[:40]!r} was not subscribed on this connection")
        return symbol

    def _trade(self, msg: dict[str, Any], receipt_ts: float) -> None:
        symbol = self._product(msg)
        if type(msg["price"]) is not str or type(msg["size"]) is not str:
            raise ValueRefused("match price and size must be decimal strings")
        price, size = trade_values(msg["price"], msg["size"], "match")
        maker = msg["side"]
        if maker not in ("buy", "sell"):
            raise ValueRefused(f"match side must be 'buy' or 'sell', got {str(maker)[:20]!r}")
        # ``side`` is the maker's side; the taker (aggressor) traded the other way.
        taker = Side.BUY if maker == "sell" else Side.SELL
        self.maintainer.events.append(
            Trade(
                self.venue,
                symbol,
                taker,
                price,
                size,
                receipt_ts,
                _iso_ts(msg.get("time")),
                str(msg.get("trade_id"))[:128],
            )
        )
