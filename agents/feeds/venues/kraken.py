"""Kraken spot WebSocket v1: cryptofeed's parser plus a CRC32 check of the maintained book on every update.

cryptofeed validates the checksum only when ``c`` sits in the first dict of the message, so updates that carry
both asks and bids (``c`` in the second dict) go unchecked there; here every update carrying ``c`` is checked.

Kraken v1 books carry no sequence numbers and Kraken offers no REST snapshot that lines up with the stream:
the checksum is what reveals a lost or misapplied update. A book that fails it (or any other check: an
unreadable message, a rejected value, a crossed book, a dropped connection) is voided and the session sets
``reconnect_requested``: the live feed resubscribes on a fresh connection, whose ``as``/``bs`` snapshot
rebuilds the book. cryptofeed's dispatcher logs and skips messages it does not know (a refused subscription,
an unknown channel); ours refuses them, because a skipped book message would leave a wrong book behind.

cryptofeed decodes and dispatches every message (and parses trades and tickers); the book parts of a message
(``as``/``bs`` snapshot, ``a``/``b`` updates) go from its decoded message straight into our book and the
checksum texts. cryptofeed's own Decimal book would only duplicate ours (two ``Decimal`` per level).
"""

from __future__ import annotations

from typing import Any, ClassVar

from cryptofeed.defines import L2_BOOK
from cryptofeed.exchanges import Kraken
from yapic import json as yjson  # type: ignore[import-untyped]

from agents.feeds.book import L2Book
from agents.feeds.checksum import KrakenChecksum
from agents.feeds.maintainer import ChecksumFn
from agents.feeds.venues.cryptofeed_bridge import CryptofeedSession
from agents.feeds.venues.guard import MessageRefused, decimal_hook, integer, levels

_SNAPSHOT_KEYS = frozenset({"as", "bs"})
_UPDATE_KEYS = frozenset({"a", "b", "c"})
_QUIET_EVENTS = frozenset({"heartbeat", "systemStatus", "pong"})


class UnreadableMessage(MessageRefused):
    """A message of the v1 public stream that is not one the venue documents (voids the books)."""


class _KrakenFeed(Kraken):  # type: ignore[misc]
    arb_session: KrakenSession

    async def subscribe(self, conn: Any) -> None:
        """A fresh subscription: the venue sends every book's snapshot again."""
        self.arb_session.reconnect_requested = False
        await super().subscribe(conn)

    async def message_handler(self, msg: str, conn: Any, timestamp: float) -> None:
        """cryptofeed's dispatch, strict: anything but a documented public-stream message raises."""
        data = yjson.loads(msg, parse_float=decimal_hook)
        if isinstance(data, list):
            if len(data) < 4 or not isinstance(data[-2], str) or not isinstance(data[-1], str):
                raise UnreadableMessage(f"channel message without channel name and pair: {msg[:200]}")
            channel = data[-2]
            pair = self.exchange_symbol_to_std_symbol(data[-1])
            if channel == "trade":
                await self._trade(data, pair, timestamp)
            elif channel.startswith("book"):
                self._book_parts(data, pair)  # cryptofeed's ``_book`` step, without its coroutine
            elif channel == "ticker":
                await self._ticker(data, pair, timestamp)
            elif channel.startswith("ohlc"):
                await self._candle(data, pair, timestamp)
            else:
                raise UnreadableMessage(f"unknown channel {channel!r}")
            return
        if not isinstance(data, dict):
            raise UnreadableMessage(f"expected a JSON array or object, got {type(data).__name__}")
        event = data.get("event")
        if event in _QUIET_EVENTS:
            return
        if event == "subscriptionStatus" and data.get("status") in ("subscribed", "unsubscribed"):
            return
        raise UnreadableMessage(f"unexpected event {str(data)[:200]}")

    def _book_parts(self, msg: list[Any], pair: str) -> None:
        """``[channel id, part, (part,) channel name, pair]``: the parts go to the session (cryptofeed's
        ``_book`` slices them the same way). The venue sends only the pairs the connection subscribed."""
        if msg[-1] not in self.arb_session.book_pairs:
            raise UnreadableMessage(f"book message for a pair not subscribed: {str(msg[-1])[:40]!r}")
        self.arb_session.on_book_parts(pair, msg[1:-2])


class KrakenSession(CryptofeedSession):
    venue: ClassVar[str] = "kraken"
    feed_class: ClassVar[Any] = _KrakenFeed
    max_depth: ClassVar[int | None] = 1000
    resubscribe_to_resync: ClassVar[bool] = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._texts: dict[str, KrakenChecksum] = {}
        super().__init__(*args, **kwargs)
        self.book_pairs = frozenset(self.feed.subscription.get(self.feed.websocket_channels[L2_BOOK], ()))
        """Exchange pairs of the book subscription (fixed for the session's life)."""

    def checksum_fn(self) -> ChecksumFn | None:
        texts = self._texts

        def compute(symbol: str, book: L2Book) -> int:
            return texts[symbol].compute(book)

        return compute

    def on_book_parts(self, symbol: str, parts: list[dict[str, Any]]) -> None:
        """The book dicts of one decoded message: a snapshot (``as``/``bs``) or updates (``a``/``b``)."""
        if not parts or not all(isinstance(p, dict) for p in parts):
            raise UnreadableMessage(f"{symbol}: book message without book parts")
        if "as" in parts[0] or "bs" in parts[0]:
            if len(parts) != 1 or not set(parts[0]) <= _SNAPSHOT_KEYS:
                raise UnreadableMessage(f"{symbol}: snapshot with unexpected parts {list(parts[0])[:5]}")
            self._snapshot(symbol, parts[0])
        else:
            if not all(set(p) <= _UPDATE_KEYS for p in parts):
                raise UnreadableMessage(f"{symbol}: update with unexpected keys")
            self._update(symbol, parts)

    def _snapshot(self, symbol: str, raw: dict[str, Any]) -> None:
        ask_entries, bid_entries = _entries(raw, "as"), _entries(raw, "bs")
        asks, bids = levels(ask_entries, "as"), levels(bid_entries, "bs")
        texts = KrakenChecksum()
        for (price, _), entry in zip(asks, ask_entries, strict=True):
            texts.set_ask(price, entry[0], entry[1], False)
        for (price, _), entry in zip(bids, bid_entries, strict=True):
            texts.set_bid(price, entry[0], entry[1], False)
        self._texts[symbol] = texts
        self.maintainer.snapshot(symbol, bids, asks, self._now)

    def _update(self, symbol: str, parts: list[dict[str, Any]]) -> None:
        """Every value is read before the checksum texts change: a refused value leaves them as they were."""
        last = parts[-1]
        checksum = integer(last["c"], "c", high=2**32 - 1) if "c" in last else None
        if len(parts) == 1:
            ask_entries, bid_entries = _entries(last, "a"), _entries(last, "b")
        else:  # asks and bids in two parts, each with its own list
            ask_entries = [e for part in parts for e in _entries(part, "a")]
            bid_entries = [e for part in parts for e in _entries(part, "b")]
        asks, bids = levels(ask_entries, "a"), levels(bid_entries, "b")
        texts = self._texts.get(symbol)
        if texts is not None:
            for (price, size), entry in zip(asks, ask_entries, strict=True):
                texts.set_ask(price, entry[0], entry[1], size == 0.0)
            for (price, size), entry in zip(bids, bid_entries, strict=True):
                texts.set_bid(price, entry[0], entry[1], size == 0.0)
        self.maintainer.update(symbol, bids, asks, self._now, checksum=checksum)

    def after_invalidate(self) -> None:
        self.reconnect_requested = True  # no REST snapshot in step with the stream: resubscribe


def _entries(part: dict[str, Any], key: str) -> list[Any]:
    """``part[key]``: ``[[price, volume, timestamp(, "r")], ...]`` (none when absent), shape checked."""
    if key not in part:
        return []
    raw = part[key]
    if type(raw) is not list:
        raise UnreadableMessage(f"{key}: expected a list of levels, got {type(raw).__name__}")
    for entry in raw:
        if type(entry) is not list or not 3 <= len(entry) <= 4:
            raise UnreadableMessage(
                f"{key}: expected [price, volume, timestamp(, 'r')], got {str(entry)[:60]}"
            )
    return raw
