"""Gemini v2 market data (``l2`` subscription) through cryptofeed's parser.

The first ``l2_updates`` message per symbol after subscribing is the full book and is the only one carrying
``trades`` and ``auction_events``: that, not "our book happens to be empty", marks a snapshot here. Gemini v2
sends no sequence numbers and has no REST snapshot for this stream, so a book that cannot be trusted (an
unreadable message, a rejected value, a crossed book, a dropped connection) is voided and rebuilt the only way
the venue allows: the session sets ``reconnect_requested`` and the live feed resubscribes on a fresh
connection, whose first message per symbol is again the full book. A message lost in transit without any of
those symptoms cannot be detected on this protocol (no sequence numbers, no checksum).

cryptofeed decodes and dispatches every message (and parses the trades); the ``changes`` go from its decoded
message straight into our book. Its own Decimal book would only duplicate ours (two ``Decimal`` per change,
a few thousand for each full-book message) and decide nothing we use. Its dispatcher logs and skips messages
it does not know (an error object, an unknown type) and drops book messages of symbols it was not asked
for; ours refuses both, because a skipped book message would leave a wrong book behind.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from operator import itemgetter
from typing import Any, ClassVar

from cryptofeed.defines import L2_BOOK
from cryptofeed.exchanges import Gemini
from yapic import json as yjson  # type: ignore[import-untyped]

from agents.feeds.session import RestSource
from agents.feeds.venues.cryptofeed_bridge import CryptofeedSession
from agents.feeds.venues.guard import BULK_LEVELS, MessageRefused, decimal_hook, level, levels
from sdk.adapters.events import Level

SIDES = frozenset({"buy", "sell"})
_IGNORED_TYPES = frozenset({"heartbeat", "auction_open", "auction_indicative", "auction_result"})
"""Market-data messages that carry nothing for the book (cryptofeed skips the same ones)."""


class UnreadableMessage(MessageRefused):
    """A message of the market-data stream that is not one the venue documents (voids the books)."""


class _Doubt(MessageRefused):
    """Internal: an update the one-pass reader leaves to the checked path."""


class _GeminiFeed(Gemini):  # type: ignore[misc]
    arb_session: GeminiSession

    async def subscribe(self, conn: Any) -> None:
        """A fresh subscription: the venue's first message per symbol is the full book again."""
        self.arb_session.reconnect_requested = False
        await super().subscribe(conn)

    async def message_handler(self, msg: str, conn: Any, timestamp: float) -> None:
        """cryptofeed's dispatch, strict: anything but a documented market-data message raises."""
        data = yjson.loads(msg, parse_float=decimal_hook)
        if not isinstance(data, dict):
            raise UnreadableMessage(f"expected a JSON object, got {type(data).__name__}")
        kind = data.get("type")
        if kind == "l2_updates":
            self._l2_updates(data)  # cryptofeed's ``_book`` step, without its coroutine (nothing awaits)
        elif kind == "trade":
            await self._trade(data, timestamp)
        elif kind not in _IGNORED_TYPES:
            raise UnreadableMessage(f"unknown message {str(data)[:200]}")

    def _l2_updates(self, msg: dict[str, Any]) -> None:
        """The session's book (instead of cryptofeed's Decimal one); the venue sends only the symbols the
        connection subscribed, so any other symbol means the message cannot be trusted."""
        symbol = msg["symbol"]
        if not isinstance(symbol, str) or symbol not in self.arb_session.book_symbols:
            raise UnreadableMessage(f"l2_updates for a symbol not subscribed: {str(symbol)[:40]!r}")
        self.arb_session.on_changes(self.exchange_symbol_to_std_symbol(symbol), msg)


class GeminiSession(CryptofeedSession):
    venue: ClassVar[str] = "gemini"
    feed_class: ClassVar[Any] = _GeminiFeed
    resubscribe_to_resync: ClassVar[bool] = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.book_symbols = frozenset(self.feed.subscription.get(self.feed.websocket_channels[L2_BOOK], ()))
        """Exchange symbols of the ``l2`` subscription (fixed for the session's life)."""

    @classmethod
    def symbol_metadata(cls, bodies: Sequence[str]) -> object:
        """Gemini lists symbols, then one details answer per symbol: the parser takes the details."""
        return [json.loads(body) for body in bodies[1:]]

    @classmethod
    async def fetch_symbol_bodies(cls, rest: RestSource) -> list[str]:
        """The symbol list (``/v1/symbols``), then each symbol's details (``/v1/symbols/details/{s}``), in
        the order ``symbol_metadata`` takes them (the recordings hold the same answers)."""
        endpoint = cls.feed_class.rest_endpoints[0]
        listing = await rest.read(endpoint.route("currencies"))
        names = json.loads(listing)
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ValueError(f"gemini: /v1/symbols must answer a list of names, got {listing[:200]!r}")
        bodies = [listing]
        for name in names:
            bodies.append(await rest.read(endpoint.route("instruments").format(name)))
        return bodies

    def on_changes(self, symbol: str, raw: dict[str, Any]) -> None:
        """One decoded ``l2_updates`` message: ``changes`` are ``[side, price, absolute quantity]``."""
        changes = raw["changes"]
        if type(changes) is not list:
            raise UnreadableMessage(f"{symbol}: changes must be a list, got {type(changes).__name__}")
        bids: list[Level] = []
        asks: list[Level] = []
        if len(changes) < BULK_LEVELS:  # an update: one pass; any doubt takes the checked path below
            try:
                for change in changes:
                    if type(change) is not list or len(change) != 3:
                        raise _Doubt
                    side = change[0]
                    if side == "buy":
                        bids.append(level(change[1], change[2], "changes"))
                    elif side == "sell":
                        asks.append(level(change[1], change[2], "changes"))
                    else:
                        raise _Doubt
            except MessageRefused:  # _Doubt or a refused level: the checked path raises what it always did
                bids, asks = self._checked_changes(symbol, changes)
        else:
            bids, asks = self._checked_changes(symbol, changes)
        if "trades" in raw:
            self.maintainer.snapshot(symbol, bids, asks, self._now)
        else:
            self.maintainer.update(symbol, bids, asks, self._now)

    @staticmethod
    def _checked_changes(symbol: str, changes: list[Any]) -> tuple[list[Level], list[Level]]:
        """``(bids, asks)`` of ``changes`` checked in bulk (full books), or the error naming what is wrong."""
        if changes and (set(map(type, changes)) != {list} or set(map(len, changes)) != {3}):
            raise UnreadableMessage(f"{symbol}: every change must be [side, price, quantity]")
        sides = set(map(itemgetter(0), changes))
        if not sides <= SIDES:
            raise UnreadableMessage(
                f"{symbol}: change side must be 'buy' or 'sell', got {sorted(map(str, sides))}"
            )
        bids = levels([c[1:] for c in changes if c[0] == "buy"], "changes") if "buy" in sides else []
        asks = levels([c[1:] for c in changes if c[0] == "sell"], "changes") if "sell" in sides else []
        return bids, asks

    def after_invalidate(self) -> None:
        self.reconnect_requested = True  # no REST snapshot on Gemini v2: only a resubscription rebuilds
