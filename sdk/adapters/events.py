"""Typed market-data events every data-feed adapter emits, whatever the venue.

Prices and sizes are floats in the venue's own units (quote per base, base units), already validated at the
adapter boundary (finite, price > 0, size >= 0), so the agent core never re-checks them. A ``BookUpdate``
carries absolute sizes per price level (``0.0`` deletes the level): every venue in scope sends absolute
levels, and absolute levels make a replayed book independent of how many times a level was touched.
Timestamps are unix seconds (float): ``exchange_ts`` is the venue's clock when it sent one, ``receipt_ts``
is ours when the message arrived (the latency budget is ``receipt_ts - exchange_ts``).

``BookSnapshot`` is the one book snapshot of the product, from the feed adapters to the executor: generic in
its numbers, ``BookSnapshot[float]`` on the market-data path (what adapters emit and books serve) and
``BookSnapshot[Decimal]`` where execution reads it exactly (paper fills, risk gates, hedging;
``sdk.adapters.execution.exact_book`` converts and ``decimal_book`` validates one at the boundary).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, fields
from decimal import Decimal
from typing import Generic, TypeVar

Level = tuple[float, float]
"""One price level: ``(price, size)``."""
DecimalLevel = tuple[Decimal, Decimal]
"""One price level read exactly: ``(price, size)`` as execution accounts them."""
N = TypeVar("N", float, Decimal)
"""The number type of a ``BookSnapshot``'s levels."""


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
class BookSnapshot(Generic[N]):
    """The complete L2 book of one symbol at one instant: replaces whatever the consumer held. Sizes > 0,
    never crossed (validated where the snapshot is built)."""

    venue: str
    symbol: str
    bids: tuple[tuple[N, N], ...]
    """Best (highest) first."""
    asks: tuple[tuple[N, N], ...]
    """Best (lowest) first."""
    receipt_ts: float
    exchange_ts: float | None = None
    sequence: int | None = None

    @property
    def ts_ms(self) -> int:
        """``receipt_ts`` in unix milliseconds (execution's clock unit)."""
        return round(self.receipt_ts * 1000)

    def side_to_take(self, side: Side) -> tuple[tuple[N, N], ...]:
        """Levels an order of ``side`` consumes: asks for a buy, bids for a sell."""
        return self.asks if side is Side.BUY else self.bids

    def side_to_join(self, side: Side) -> tuple[tuple[N, N], ...]:
        """Levels an order of ``side`` rests among."""
        return self.bids if side is Side.BUY else self.asks


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


def _book_update_constructor() -> Callable[..., BookUpdate]:
    """``BookUpdate(...)`` (all eight fields, positional) without the dataclass ``__init__``: a frozen
    dataclass sets each field with ``object.__setattr__``, which costs about 0.7 us per update, an eighth
    of a whole venue message on the live path. Setting the fields through their slot descriptors builds the
    same instance (equal, hashable, still frozen to everyone else) in about half the time."""
    new = object.__new__
    names = ("venue", "symbol", "bids", "asks", "receipt_ts", "exchange_ts", "sequence", "checksum")
    assert names == tuple(f.name for f in fields(BookUpdate))
    sv, ss, sb, sa, sr, se, sq, sc = (getattr(BookUpdate, n).__set__ for n in names)

    def book_update(  # noqa: PLR0917 -- the event's own eight fields, positional: the hot path
        venue: str,
        symbol: str,
        bids: tuple[Level, ...],
        asks: tuple[Level, ...],
        receipt_ts: float,
        exchange_ts: float | None,
        sequence: int | None,
        checksum: int | None,
    ) -> BookUpdate:
        event: BookUpdate = new(BookUpdate)
        sv(event, venue)
        ss(event, symbol)
        sb(event, bids)
        sa(event, asks)
        sr(event, receipt_ts)
        se(event, exchange_ts)
        sq(event, sequence)
        sc(event, checksum)
        return event

    return book_update


book_update = _book_update_constructor()
"""The feeds' hot-path constructor of ``BookUpdate`` (every field positional, values already checked)."""

BookEvent = BookSnapshot[float] | BookUpdate
FeedEvent = BookSnapshot[float] | BookUpdate | Trade | Funding | FeedError | Resync
