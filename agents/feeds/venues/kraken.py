"""Kraken spot WebSocket v1: cryptofeed's parser plus a CRC32 check of the maintained book on every update.

cryptofeed validates the checksum only when ``c`` sits in the first dict of the message, so updates that carry
both asks and bids (``c`` in the second dict) go unchecked there; here every update carrying ``c`` is checked.

cryptofeed decodes and dispatches every message (and parses trades and tickers); the book parts of a message
(``as``/``bs`` snapshot, ``a``/``b`` updates) go from its decoded message straight into our book and the
checksum texts. cryptofeed's own Decimal book would only duplicate ours (two ``Decimal`` per level).
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
    arb_session: KrakenSession

    async def _book(self, msg: list[Any], pair: str, timestamp: float) -> None:
        """``[channel id, part, (part,) checksum-bearing..., channel name, pair]``: the parts go to the
        session (cryptofeed's ``_book`` slices them the same way)."""
        self.arb_session.on_book_parts(pair, msg[1:-2])


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

    def on_book_parts(self, symbol: str, parts: list[dict[str, Any]]) -> None:
        """The book dicts of one decoded message: a snapshot (``as``/``bs``) or updates (``a``/``b``)."""
        if "as" in parts[0]:
            self._snapshot(symbol, parts[0])
        else:
            self._update(symbol, parts)

    def _snapshot(self, symbol: str, raw: dict[str, Any]) -> None:
        texts = self._texts[symbol] = KrakenChecksum()
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
        self.maintainer.snapshot(symbol, bids, asks, self._now)

    def _update(self, symbol: str, parts: list[dict[str, Any]]) -> None:
        texts = self._texts.get(symbol)
        checksum: int | None = None
        if "c" in parts[-1]:
            checksum = int(parts[-1]["c"])
        bids: list[Level] = []
        asks: list[Level] = []
        for part in parts:
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
