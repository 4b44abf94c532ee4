"""Gemini v2 market data (``l2`` subscription) through cryptofeed's parser.

The first ``l2_updates`` message per symbol after subscribing is the full book and is the only one carrying
``trades`` and ``auction_events``: that, not "our book happens to be empty", marks a snapshot here. Gemini v2
sends no sequence numbers, so a lost or unreadable message voids the connection's books.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, ClassVar

from cryptofeed.exchanges import Gemini

from agents.feeds.venues.cryptofeed_bridge import CryptofeedSession


class _GeminiFeed(Gemini):  # type: ignore[misc]
    """cryptofeed's Gemini, unchanged."""


class GeminiSession(CryptofeedSession):
    venue: ClassVar[str] = "gemini"
    feed_class: ClassVar[Any] = _GeminiFeed

    @classmethod
    def symbol_metadata(cls, bodies: Sequence[str]) -> object:
        """Gemini lists symbols, then one details answer per symbol: the parser takes the details."""
        return [json.loads(body) for body in bodies[1:]]

    async def _on_book(self, book: Any, _receipt_ts: float) -> None:
        raw = book.raw
        bids: list[tuple[float, float]] = []
        asks: list[tuple[float, float]] = []
        for side, price, size in raw["changes"]:
            (asks if side == "sell" else bids).append((float(price), float(size)))
        if "trades" in raw:
            self.maintainer.snapshot(book.symbol, bids, asks, self._now)
        else:
            self.maintainer.update(book.symbol, bids, asks, self._now)
