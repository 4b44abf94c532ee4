"""Gemini v2 market data (``l2`` subscription) through cryptofeed's parser.

The first ``l2_updates`` message per symbol after subscribing is the full book and is the only one carrying
``trades`` and ``auction_events``: that, not "our book happens to be empty", marks a snapshot here. Gemini v2
sends no sequence numbers, so a lost or unreadable message voids the connection's books.

cryptofeed decodes and dispatches every message (and parses the trades); the ``changes`` go from its decoded
message straight into our book. Its own Decimal book would only duplicate ours (two ``Decimal`` per change,
a few thousand for each full-book message) and decide nothing we use.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, ClassVar

from cryptofeed.defines import L2_BOOK
from cryptofeed.exchanges import Gemini

from agents.feeds.venues.cryptofeed_bridge import CryptofeedSession
from sdk.adapters.events import Level


class _GeminiFeed(Gemini):  # type: ignore[misc]
    arb_session: GeminiSession

    async def _book(self, msg: dict[str, Any], timestamp: float) -> None:
        """cryptofeed's subscription filter, then the session (instead of cryptofeed's Decimal book)."""
        if msg["symbol"] in self.subscription.get(L2_BOOK, ()):
            self.arb_session.on_changes(self.exchange_symbol_to_std_symbol(msg["symbol"]), msg)


class GeminiSession(CryptofeedSession):
    venue: ClassVar[str] = "gemini"
    feed_class: ClassVar[Any] = _GeminiFeed

    @classmethod
    def symbol_metadata(cls, bodies: Sequence[str]) -> object:
        """Gemini lists symbols, then one details answer per symbol: the parser takes the details."""
        return [json.loads(body) for body in bodies[1:]]

    def on_changes(self, symbol: str, raw: dict[str, Any]) -> None:
        """One decoded ``l2_updates`` message: ``changes`` are ``[side, price, absolute quantity]``."""
        bids: list[Level] = []
        asks: list[Level] = []
        for side, price, size in raw["changes"]:
            (asks if side == "sell" else bids).append((float(price), float(size)))
        if "trades" in raw:
            self.maintainer.snapshot(symbol, bids, asks, self._now)
        else:
            self.maintainer.update(symbol, bids, asks, self._now)
