"""Coinbase Advanced Trade market data (``wss://advanced-trade-ws.coinbase.com``) through cryptofeed's class.

Protocol facts (Advanced Trade WebSocket docs, ``docs.cdp.coinbase.com/coinbase-app/advanced-trade-apis/
websocket/websocket-channels`` and the ``level2`` AsyncAPI page; the official ``coinbase-advanced-py`` SDK):

- subscribe per channel: ``{"type": "subscribe", "product_ids": [...], "channel": "level2"}``; ``level2``,
  ``market_trades`` and ``heartbeats`` need no authentication (the SDK's ``WS_AUTH_CHANNELS`` are ``user`` and
  ``futures_balance_summary`` only). Channels without traffic close after 60-90 s, so ``heartbeats`` is
  subscribed too (the docs' advice).
- every message is an envelope ``{"channel", "client_id", "timestamp", "sequence_num", "events": [...]}``;
  ``level2`` data arrives on channel ``l2_data`` as ``snapshot`` and ``update`` events of one ``product_id``
  whose ``updates`` are ``{"side", "event_time", "price_level", "new_quantity"}``; ``new_quantity`` is the
  absolute size, ``"0"`` removes the level.
- asks: the docs example shows only ``"bid"``; captures from the live venue (third-party fixtures) spell asks
  ``"offer"``, while cryptofeed 2.4.1 builds snapshots from ``"ask"`` only (so it dropped every ask of a real
  snapshot and then read ``"offer"`` updates into an ask book it never had). Both spellings are accepted here;
  any other side is an unreadable message (the book is voided, never guessed).
- ``sequence_num`` counts every message of the connection across all channels: a jump means a lost message.
  The channel has no REST snapshot to resync from, so the books are voided and the session asks the live
  feed to resubscribe (``reconnect_requested``): the fresh subscription's snapshot rebuilds them.

cryptofeed's ``Coinbase`` class supplies the symbol map (``_parse_symbol_data`` of the products list), the
subscription's channel names and product ids, and the ``market_trades`` parser; the ``l2_data`` events go from
the decoded message straight into our book. Its own subscribe step is replaced: it signs every subscription
with an HMAC of a legacy key (and fails without one) and asks for ``heartbeat`` while the venue's channel is
``heartbeats``.
"""

from __future__ import annotations

import json as std_json
from collections.abc import Sequence
from datetime import datetime
from typing import Any, ClassVar

from cryptofeed.defines import L2_BOOK
from cryptofeed.exchanges import Coinbase
from yapic import json  # type: ignore[import-untyped]  # cryptofeed's decoder: ISO times become datetimes

from agents.feeds.session import RestSource
from agents.feeds.venues.cryptofeed_bridge import CryptofeedSession
from agents.feeds.venues.guard import MessageRefused, ValueRefused, level
from sdk.adapters.events import FeedErrorKind, FeedEvent, Level

PRODUCTS_ADDRESS = "https://api.coinbase.com/api/v3/brokerage/market/products?product_type=SPOT"
"""The public product list (cryptofeed's route, ``/api/v3/brokerage/products``, needs authentication)."""
HEARTBEATS = "heartbeats"
ASK_SIDES = frozenset({"offer", "ask"})
QUIET_CHANNELS = frozenset({"subscriptions", HEARTBEATS})
"""Channels that carry nothing for the books (subscription acknowledgements, heartbeats)."""


class VenueMessageError(RuntimeError):
    """The venue answered with an ``error`` message (e.g. a refused subscription)."""


def _exchange_ts(value: object) -> float | None:
    """The envelope ``timestamp`` (decoded to a datetime; RFC 3339 with nanoseconds) in epoch seconds."""
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, str) and value:
        head, dot, rest = value.rstrip("Z").partition(".")
        digits = "".join(ch for ch in rest if ch.isdigit())[:6]
        try:
            return datetime.fromisoformat(
                f"{head}{dot}{digits}+00:00" if dot else f"{head}+00:00"
            ).timestamp()
        except ValueError:
            return None
    return None


class _CoinbaseFeed(Coinbase):  # type: ignore[misc]
    arb_session: CoinbaseSession

    async def subscribe(self, conn: Any) -> None:
        """One unauthenticated subscribe message per channel (public market data), then ``heartbeats``."""
        self.arb_session.on_subscribe()
        products: list[str] = []
        for channel, product_ids in self.subscription.items():
            products.extend(product_ids)
            await conn.write(
                std_json.dumps({"type": "subscribe", "product_ids": list(product_ids), "channel": channel})
            )
        wanted = list(dict.fromkeys(products))
        await conn.write(std_json.dumps({"type": "subscribe", "product_ids": wanted, "channel": HEARTBEATS}))

    async def message_handler(self, msg: str, conn: Any, timestamp: float) -> None:
        """Strict dispatch: a channel or event the venue does not document is an unreadable message."""
        data = json.loads(msg)
        if not isinstance(data, dict):
            raise ValueError(f"message must be a JSON object, got {type(data).__name__}")
        if data.get("type") == "error":
            raise VenueMessageError(f"venue error: {data.get('message')!r} {data.get('reason', '')!r}"[:300])
        session = self.arb_session
        sequence = data["sequence_num"]
        last = session.last_sequence
        if type(sequence) is int and last is not None and sequence == last + 1:
            session.last_sequence = sequence  # ``accept_sequence``'s usual case, inlined
        elif not session.accept_sequence(sequence):
            return
        channel = data["channel"]
        if channel in QUIET_CHANNELS:
            return
        events = data["events"]
        if type(events) is not list or not events:
            raise MessageRefused(f"{str(channel)[:40]}: events must be a non-empty list of objects")
        if channel == "l2_data":
            stamp = data.get("timestamp")
            exchange_ts = stamp.timestamp() if type(stamp) is datetime else _exchange_ts(stamp)
            for event in events:
                if type(event) is not dict:
                    raise MessageRefused("l2_data: events must be a non-empty list of objects")
                session.on_l2_event(event, exchange_ts, sequence)
        elif channel == "market_trades":
            for event in events:
                if type(event) is not dict:
                    raise MessageRefused("market_trades: events must be a non-empty list of objects")
                kind = event.get("type")
                if kind == "update":
                    trades = event["trades"]
                    if type(trades) is not list:
                        raise MessageRefused("market_trades: trades must be a list")
                    for trade in trades:
                        if type(trade) is not dict or trade.get("side") not in ("BUY", "SELL"):
                            raise MessageRefused("market_trades: a trade needs side 'BUY' or 'SELL'")
                        await self._trade_update(trade, timestamp)  # cryptofeed's parser
                elif kind != "snapshot":  # the recent trades sent on subscribing: history, not news
                    raise MessageRefused(f"market_trades event type {str(kind)[:40]!r} is not documented")
        else:
            raise MessageRefused(f"channel {str(channel)[:40]!r} is not one this session subscribes")


class CoinbaseSession(CryptofeedSession):
    """Coinbase Advanced Trade ``level2`` + ``market_trades`` on one connection."""

    venue: ClassVar[str] = "coinbase"
    feed_class: ClassVar[Any] = _CoinbaseFeed
    resubscribe_to_resync: ClassVar[bool] = True

    @classmethod
    def symbol_metadata(cls, bodies: Sequence[str]) -> object:
        """The products answer, spot products only (the list also carries futures)."""
        data = super().symbol_metadata(bodies)
        if not isinstance(data, dict) or not isinstance(data.get("products"), list):
            raise ValueError(f"{cls.venue}: products answer must be an object with a 'products' list")
        spot = [p for p in data["products"] if str(p.get("product_type", "SPOT")).upper() == "SPOT"]
        return {**data, "products": spot}

    @classmethod
    async def fetch_symbol_bodies(cls, rest: RestSource) -> list[str]:
        return [await rest.read(PRODUCTS_ADDRESS)]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.last_sequence: int | None = None
        self.gaps = 0
        super().__init__(*args, **kwargs)
        products = self.feed.subscription.get(self.feed.websocket_channels[L2_BOOK], ())
        self._l2_symbols = {p: self.feed.exchange_symbol_to_std_symbol(p) for p in products}
        """Product -> normalized symbol, for the products of the ``level2`` subscription (fixed for the
        session's life)."""

    def on_subscribe(self) -> None:
        """A fresh connection: its ``sequence_num`` chain starts anew."""
        self.last_sequence = None

    def accept_sequence(self, sequence: object) -> bool:
        """Follow the connection's ``sequence_num``; a jump voids every book and asks for a resubscription."""
        if not isinstance(sequence, int) or isinstance(sequence, bool):
            raise ValueError(f"sequence_num must be an integer, got {sequence!r}")
        last, self.last_sequence = self.last_sequence, sequence
        if last is None or sequence == last + 1:
            return True
        self.gaps += 1
        self.maintainer.invalidate_all(
            FeedErrorKind.SEQUENCE_GAP, f"sequence_num {sequence} after {last}: messages were lost", self._now
        )
        self.reconnect_requested = True
        return False

    def on_l2_event(self, event: dict[str, Any], exchange_ts: float | None, sequence: int) -> None:
        """One ``snapshot`` or ``update`` event of ``l2_data``."""
        kind = event["type"]
        if kind not in ("snapshot", "update"):
            raise ValueError(f"l2_data event type must be 'snapshot' or 'update', got {kind!r}")
        product = event["product_id"]
        symbol = self._l2_symbols.get(product) if type(product) is str else None
        if symbol is None:
            raise MessageRefused(f"l2_data for a product not subscribed: {str(product)[:40]!r}")
        updates = event["updates"]
        if type(updates) is not list:
            raise ValueRefused(f"l2_data updates must be a list, got {type(updates).__name__}")
        bids: list[Level] = []
        asks: list[Level] = []
        for update in updates:
            if type(update) is not dict:
                raise ValueRefused(f"l2_data update must be an object, got {type(update).__name__}")
            side = update["side"]
            pair = level(update["price_level"], update["new_quantity"], "l2_data update")
            if side == "bid":
                bids.append(pair)
            elif side in ASK_SIDES:
                asks.append(pair)
            else:
                raise ValueError(f"level2 side must be 'bid', 'offer' or 'ask', got {side!r}")
        if kind == "snapshot":
            self.maintainer.snapshot(
                symbol, bids, asks, self._now, exchange_ts=exchange_ts, sequence=sequence
            )
        else:
            self.maintainer.update(symbol, bids, asks, self._now, exchange_ts=exchange_ts, sequence=sequence)

    def _on_error(self, exc: Exception, receipt_ts: float) -> None:
        """An unreadable message may have carried book changes: void (the bridge does) and resubscribe."""
        super()._on_error(exc, receipt_ts)
        self.reconnect_requested = True

    def on_disconnect(self, receipt_ts: float) -> list[FeedEvent]:
        self.last_sequence = None
        return super().on_disconnect(receipt_ts)
