"""The two adapter contracts. An adapter author reads this one file and knows the whole job.

DataFeedAdapter: market data of one venue connection, normalized (``sdk.adapters.events``), with maintained
books that are either correct or absent (never wrong). ExecutionAdapter: IOC limit orders with a price cap,
cancel, order and fill events, balances, and reconciliation by client order id.

Every method below is one the author implements; nothing else is required. Run ``sdk.adapters.conformance``
against the adapter with pytest to check the behaviour these docstrings promise.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar, Protocol, runtime_checkable

from sdk.adapters.events import FeedEvent, Level
from sdk.adapters.execution import Balance, ExecutionEvent, OrderEvent, OrderRequest
from sdk.adapters.manifest import AdapterManifest


@runtime_checkable
class BookView(Protocol):
    """Read access to one maintained L2 book (what cost curves and risk gates consume)."""

    venue: str
    symbol: str

    def best_bid(self) -> float | None: ...

    def best_ask(self) -> float | None: ...

    def is_crossed(self) -> bool: ...

    def age(self, now: float) -> float:
        """Seconds since the last applied message (``inf`` before any)."""
        ...

    def curve_levels(self, n: int) -> tuple[list[Level], list[Level]]:
        """``(asks, bids)``: the best ``n`` ``(price, size)`` levels per side, best first."""
        ...


@dataclass(frozen=True, slots=True)
class LatencyStats:
    """Receipt minus venue timestamps over a recent window, in seconds (``None`` if the venue sends none)."""

    samples: int
    p50_s: float | None
    p99_s: float | None
    max_s: float | None
    clock_offset_s: float | None = None
    """Venue clock minus ours, from ``server_time`` (positive: venue ahead)."""


@runtime_checkable
class DataFeedAdapter(Protocol):
    """Market data of one venue. Lifecycle: connect -> subscribe_* -> iterate events() -> disconnect."""

    manifest: ClassVar[AdapterManifest]

    async def connect(self) -> None:
        """Open the connection(s). Idempotent. On a later drop the adapter reconnects by itself and emits
        ``FeedError(kind=DISCONNECTED)`` plus a ``Resync`` per book, then fresh ``BookSnapshot``s."""
        ...

    async def disconnect(self) -> None:
        """Close everything; ``events()`` ends. Idempotent."""
        ...

    async def subscribe_books(self, symbols: Sequence[str]) -> None:
        """L2 books of ``symbols`` (normalized ``BASE-QUOTE``): a ``BookSnapshot`` then ``BookUpdate``s."""
        ...

    async def subscribe_trades(self, symbols: Sequence[str]) -> None: ...

    async def subscribe_funding(self, symbols: Sequence[str]) -> None:
        """Perpetual venues only; spot adapters raise ``NotImplementedError`` (and omit the capability)."""
        ...

    def events(self) -> AsyncIterator[FeedEvent]:
        """Every normalized event in arrival order; ``FeedError``/``Resync`` included, never raised."""
        ...

    def book(self, symbol: str) -> BookView | None:
        """The maintained book of ``symbol`` if it is synchronised, else ``None``."""
        ...

    async def server_time(self) -> float:
        """The venue's clock (unix seconds), for clock-offset and latency budgeting."""
        ...

    def latency(self) -> LatencyStats:
        """Feed latency over a recent window (receipt time minus venue timestamp)."""
        ...


@runtime_checkable
class ExecutionAdapter(Protocol):
    """Orders on one venue. Client order ids come from PlanDelta idempotency keys: sending the same id twice
    must never create two orders (the venue deduplicates, or the adapter reconciles before sending)."""

    manifest: ClassVar[AdapterManifest]

    async def connect(self) -> None: ...

    async def disconnect(self) -> None: ...

    async def place_ioc_limit(self, order: OrderRequest) -> OrderEvent:
        """Send an IOC limit order capped at ``order.limit_price``; returns its first state.

        Raises ``DuplicateClientOrderId`` (carrying the existing order's state) when the id was already used,
        ``InvalidOrder``, ``InsufficientFunds``, ``RateLimited``, ``VenueUnavailable`` per the venue error.
        Never fills at a worse price than the cap.
        """
        ...

    async def cancel(self, client_order_id: str) -> OrderEvent:
        """Cancel an open order; an already terminal order is returned as is. ``OrderNotFound`` if unknown."""
        ...

    async def fetch_order(self, client_order_id: str) -> OrderEvent:
        """Current state by client order id (reconciliation after a restart); ``OrderNotFound`` if unknown."""
        ...

    def order_events(self) -> AsyncIterator[ExecutionEvent]:
        """``OrderEvent``s and ``FillEvent``s of this adapter's orders, in venue order."""
        ...

    async def balances(self) -> Mapping[str, Balance]:
        """Free and locked balance per asset."""
        ...
