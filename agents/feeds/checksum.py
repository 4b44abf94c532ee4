"""Kraken WebSocket v1 book checksum (CRC32 over the top 10 levels), verified on every update.

Per Kraken's v1 guide: take the 10 best asks (price ascending) then the 10 best bids (price descending); for
each level remove the '.' from the price and from the volume strings exactly as the venue sent them, strip
leading zeros, append price then volume; CRC32 of the whole string as an unsigned 32-bit integer. The text of
every level is kept as it arrived (trailing zeros matter), keyed by the float price the book uses.
"""

from __future__ import annotations

import zlib

from agents.feeds.book import L2Book

CHECKSUM_DEPTH = 10


def level_text(price: str, volume: str) -> str:
    """One level's contribution: both strings without '.', leading zeros stripped."""
    return price.replace(".", "").lstrip("0") + volume.replace(".", "").lstrip("0")


def checksum_of_texts(ask_texts: list[str], bid_texts: list[str]) -> int:
    """CRC32 of the concatenated level texts (asks first), unsigned."""
    return zlib.crc32("".join(ask_texts + bid_texts).encode("ascii")) & 0xFFFFFFFF


class KrakenChecksum:
    """The level texts of one book, kept in step with it, and its checksum."""

    __slots__ = ("_asks", "_bids")

    def __init__(self) -> None:
        self._asks: dict[float, str] = {}
        self._bids: dict[float, str] = {}

    def reset(self) -> None:
        self._asks = {}
        self._bids = {}

    def set_ask(self, price: float, price_text: str, volume_text: str, deleted: bool) -> None:
        if deleted:
            self._asks.pop(price, None)
        else:
            self._asks[price] = level_text(price_text, volume_text)

    def set_bid(self, price: float, price_text: str, volume_text: str, deleted: bool) -> None:
        if deleted:
            self._bids.pop(price, None)
        else:
            self._bids[price] = level_text(price_text, volume_text)

    def compute(self, book: L2Book) -> int:
        """Checksum of ``book``'s top 10 levels from the kept texts."""
        asks = self._asks
        bids = self._bids
        ask_texts = [asks[p] for p in book.asks.prices(CHECKSUM_DEPTH)]
        bid_texts = [bids[p] for p in book.bids.prices(CHECKSUM_DEPTH)]
        return checksum_of_texts(ask_texts, bid_texts)
