"""Kraken spot WebSocket v1: cryptofeed's parser plus a CRC32 check of the maintained book on every update.

cryptofeed validates the checksum only when ``c`` sits in the first dict of the message, so updates that carry
both asks and bids (``c`` in the second dict) go unchecked there; here every update carrying ``c`` is checked.
"""

from __future__ import annotations

from typing import Any, ClassVar

from cryptofeed.exchanges import Kraken

from agents.feeds.book import L2Book
from agents.feeds.checksum import KrakenChecksum
from agents.feeds.maintainer import ChecksumFn
from agents.feeds.venues.cryptofeed_bridge import CryptofeedSession
from sdk.adapters.events import Level


class _KrakenFeed(Kraken):  # type: ignore[misc]
    """cryptofeed's Kraken, unchanged: subclassed so the session can be attached to it."""


class KrakenSession(CryptofeedSession):
    venue: ClassVar[str] = "kraken"
    feed_class: ClassVar[Any] = _KrakenFeed
    max_depth: ClassVar[int | None] = 1000

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._texts: dict[str, KrakenChecksum] = {}
        super().__init__(*args, **kwargs)

    def checksum_fn(self) -> ChecksumFn | None:
        texts = self._texts

        def compute(symbol: str, book: L2Book) -> int:
            return texts[symbol].compute(book)

        return compute

    def on_library_snapshot(self, book: Any) -> None:
        symbol = book.symbol
        texts = self._texts[symbol] = KrakenChecksum()
        raw = book.raw[0]
        asks: list[Level] = []
        for price_text, volume_text, *_ in raw["as"]:
            price = float(price_text)
            texts.set_ask(price, price_text, volume_text, False)
            asks.append((price, float(volume_text)))
        bids: list[Level] = []
        for price_text, volume_text, *_ in raw["bs"]:
            price = float(price_text)
            texts.set_bid(price, price_text, volume_text, False)
            bids.append((price, float(volume_text)))
        self.maintainer.snapshot(
            symbol, bids, asks, self._now, exchange_ts=book.timestamp, sequence=book.sequence_number
        )

    async def _on_book(self, book: Any, _receipt_ts: float) -> None:
        if book.delta is None:
            self.on_library_snapshot(book)
            return
        symbol = book.symbol
        texts = self._texts.get(symbol)
        raw = book.raw
        checksum: int | None = None
        if "c" in raw[-1]:
            checksum = int(raw[-1]["c"])
        bids: list[tuple[float, float]] = []
        asks: list[tuple[float, float]] = []
        for part in raw:
            for key, target, setter in (
                ("a", asks, texts.set_ask if texts else None),
                ("b", bids, texts.set_bid if texts else None),
            ):
                for entry in part.get(key, ()):
                    price_text, volume_text = entry[0], entry[1]
                    price = float(price_text)
                    size = float(volume_text)
                    target.append((price, size))
                    if setter is not None:
                        setter(price, price_text, volume_text, size == 0.0)
        self.maintainer.update(symbol, bids, asks, self._now, checksum=checksum)
