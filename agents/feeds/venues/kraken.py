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
        for price, volume, *_ in raw["as"]:
            texts.set_ask(float(price), price, volume, False)
        for price, volume, *_ in raw["bs"]:
            texts.set_bid(float(price), price, volume, False)
        super().on_library_snapshot(book)

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
