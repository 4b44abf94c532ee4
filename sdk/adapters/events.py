"""Typed market-data events every data-feed adapter emits, whatever the venue.

Prices and sizes are floats in the venue's own units (quote per base, base units), already validated at the
adapter boundary (finite, price > 0, size >= 0), so the agent core never re-checks them. A ``BookUpdate``
carries absolute sizes per price level (``0.0`` deletes the level): every venue in scope sends absolute
levels, and absolute levels make a replayed book independent of how many times a level was touched.
Timestamps are unix seconds (float): ``exchange_ts`` is the venue's clock when it sent one, ``receipt_ts``
is ours when the message arrived (the latency budget is ``receipt_ts - exchange_ts``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from decimal import Decimal

Level = tuple[float, float]
"""One price level: ``(price, size)``."""


class Side(enum.StrEnum):
    """Direction: the taker side of a trade, the side of a book level, or an order's side from our account's
    point of view. The one ``Side`` of the SDK, the feeds and execution (the IR's wire enum is its protobuf
    mirror)."""

    BUY = "buy"
    SELL = "sell"

    @property
    def sign(self) -> Decimal:
        """``+1`` for a buy (asset in), ``-1`` for a sell."""
        return Decimal(1) if self is Side.BUY else Decimal(-1)

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY

    @staticmethod
    def of_signed(quantity: Decimal) -> Side:
        """Side that moves a position by ``quantity`` (positive buys)."""
        return Side.BUY if quantity > 0 else Side.SELL


@dataclass(frozen=True, slots=True)
class BookSnapshot:
    """The complete L2 book of one symbol: replaces whatever the consumer held."""

    venue: str
    symbol: str
    bids: tuple[Level, ...]
    """Best (highest) first."""
    asks: tuple[Level, ...]
    """Best (lowest) first."""
    receipt_ts: float
    exchange_ts: float | None = None
    sequence: int | None = None


@dataclass(frozen=True, slots=True)
class BookUpdate:
    """Changed levels of one symbol's book, absolute sizes, ``0.0`` deletes."""

    venue: str
    symbol: str
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]
    receipt_ts: float
    exchange_ts: float | None = None
    sequence: int | None = None
    checksum: int | None = None
    """The venue's checksum of the book after this update, when it sends one (already verified)."""


@dataclass(frozen=True, slots=True)
class Trade:
    """One public trade print."""

    venue: str
    symbol: str
    side: Side
    price: float
    size: float
    receipt_ts: float
    exchange_ts: float | None = None
    trade_id: str | None = None


@dataclass(frozen=True, slots=True)
class Funding:
    """Perpetual funding: the rate per funding interval and when it is next charged."""

    venue: str
    symbol: str
    rate: float
    """Fraction of notional per interval (``0.0001`` = 1 bp); longs pay shorts when positive."""
    receipt_ts: float
    mark_price: float | None = None
    next_funding_ts: float | None = None
    interval_s: float | None = None
    exchange_ts: float | None = None


class FeedErrorKind(enum.StrEnum):
    """Why a feed message could not be applied."""

    MALFORMED = "malformed"
    """The message is not valid JSON or lacks a field the venue's format requires."""
    INVALID_VALUE = "invalid_value"
    """A price or size is NaN, infinite, negative or unparsable."""
    SEQUENCE_GAP = "sequence_gap"
    """The venue's sequence numbers show a missed message."""
    CHECKSUM_MISMATCH = "checksum_mismatch"
    """The venue's checksum disagrees with the maintained book."""
    CROSSED_BOOK = "crossed_book"
    """Best bid >= best ask after an update: the book cannot be right."""
    STALE = "stale"
    """No update within the staleness budget."""
    DISCONNECTED = "disconnected"
    """The connection dropped; every book it carried is void until resynchronised."""
    SNAPSHOT_UNAVAILABLE = "snapshot_unavailable"
    """A resync needs a REST snapshot and none could be had; the book stays void."""


@dataclass(frozen=True, slots=True)
class FeedError:
    """A message was rejected; ``symbol`` is ``None`` when it could not be attributed to one."""

    venue: str
    symbol: str | None
    kind: FeedErrorKind
    detail: str
    receipt_ts: float


@dataclass(frozen=True, slots=True)
class Resync:
    """The book of ``symbol`` is void from now on; no book event follows until a fresh ``BookSnapshot``."""

    venue: str
    symbol: str
    reason: FeedErrorKind
    receipt_ts: float


BookEvent = BookSnapshot | BookUpdate
FeedEvent = BookSnapshot | BookUpdate | Trade | Funding | FeedError | Resync
