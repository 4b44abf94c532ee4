"""The two adapter contracts. An adapter author reads this one file and knows the whole job.

DataFeedAdapter: market data of one venue connection, normalized (``sdk.adapters.events``), with maintained
books that are either correct or absent (never wrong); asynchronous (a websocket per venue). ExecutionAdapter:
limit orders with a price cap, cancel, order and fill events to a listener, balances, and reconciliation by
client order id; synchronous (what the agent's executor calls, in virtual or real time).

Every method below is one the author implements; nothing else is required. Run ``sdk.adapters.conformance``
against the adapter with pytest to check the behaviour these docstrings promise.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
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


ExecutionListener = Callable[[ExecutionEvent], None]
"""Where an execution adapter reports: the executor's ``on_event`` (``PlanRunner.on_event``)."""


@runtime_checkable
class ExecutionAdapter(Protocol):
    """Orders on one venue: what the agent's executor (``agents.execution.runner.PlanRunner``) calls, for
    paper, simulated and live venues alike.

    Synchronous and event-driven, so one executor runs in virtual time (tests, backtests) and in real time:
    the adapter is built with an ``ExecutionListener`` and reports every state change (``OrderEvent``) and
    every fill (``FillEvent``) of its orders to it, in venue order: ``ACCEPTED`` (or ``REJECTED``), fills,
    then the final status. ``submit`` and ``cancel`` return without waiting for the venue's answer; when
    the answer arrives is the adapter's business (a paper venue after its latency, a REST venue inside the
    call, a streaming one on its own thread).

    Client order ids come from PlanDelta idempotency keys: submitting an id again must never create a
    second order (the venue deduplicates, or the adapter reconciles before sending); it is never reported
    as a refusal either: the existing order's state stands (and is reported again when it changed).
    """

    manifest: ClassVar[AdapterManifest]

    def submit(self, order: OrderRequest, role: str = "leg") -> None:
        """Send ``order``: a limit order capped at ``order.limit_price`` (never filled at a worse price),
        immediate-or-cancel or resting until its deadline per ``order.time_in_force``. ``role`` (``leg`` or
        ``hedge``) is informational.

        A venue refusal is not raised: it is a ``REJECTED`` ``OrderEvent`` whose ``reason`` starts with the
        name of the SDK error it maps to (``InvalidOrder: ...``, ``InsufficientFunds: ...``). An outcome the
        venue left unknown (timeout, 5xx) is reconciled by client order id before anything is re-sent.
        """
        ...

    def cancel(self, client_order_id: str) -> None:
        """Cancel an open order; the outcome reaches the listener. An unknown or terminal order is no
        error."""
        ...

    def fetch_order(self, client_order_id: str) -> OrderEvent:
        """Current state by client order id (reconciliation after a restart); ``OrderNotFound`` if the
        venue never saw it."""
        ...

    def balances(self) -> Mapping[str, Balance]:
        """Free and locked balance per asset."""
        ...
