"""Conformance kit: the behaviour every adapter promises, as checks an adapter author runs with pytest.

Two ways to use it. Call the ``check_*`` functions (coroutines for feeds) from your own tests, or subclass
the test bases (named without the ``Test`` prefix so pytest does not collect them here) and provide the
factory hooks::

    class TestMyFeed(DataFeedConformance):
        symbols = ("BTC-USD",)
        def make_feed(self) -> DataFeedAdapter:
            return MyFeed(...)

Book checks compare the adapter's maintained book, after every event, with a naive dict model rebuilt from
the events the adapter emitted: the book must equal what the events say, be uncrossed, hold only positive
sizes, and be absent (``None``) between a ``Resync`` and the next ``BookSnapshot``.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, ClassVar

from sdk.adapters.events import BookSnapshot, BookUpdate, FeedError, FeedEvent, Level, Resync, Side
from sdk.adapters.execution import (
    AdapterError,
    ExecutionEvent,
    FillEvent,
    OrderEvent,
    OrderNotFound,
    OrderRequest,
    OrderStatus,
    TimeInForce,
)
from sdk.adapters.interfaces import DataFeedAdapter, ExecutionAdapter, ExecutionListener
from sdk.adapters.manifest import AdapterManifest


class ConformanceError(AssertionError):
    """The adapter broke a promise of the contract; the message says which, where and with what values."""


def ioc_order(
    venue: str,
    instrument: str,
    side: Side,
    size: Decimal,
    limit_price: Decimal,
    *,
    client_order_id: str,
    deadline_ms: int | None = None,
    plan_id: str = "conformance",
) -> OrderRequest:
    """An IOC ``OrderRequest`` for the order factories of ``ExecutionConformance``: ``instrument`` is
    ``BASE-QUOTE`` (asset and quote are read from it), the idempotency key is the client order id and the
    deadline defaults to a minute from now (wall clock)."""
    base, _, quote = instrument.partition("-")
    return OrderRequest(
        client_order_id=client_order_id,
        idempotency_key=client_order_id,
        plan_id=plan_id,
        venue=venue,
        instrument=instrument,
        asset=base,
        side=side,
        size=size,
        limit_price=limit_price,
        deadline_ms=int(time.time() * 1000) + 60_000 if deadline_ms is None else deadline_ms,
        time_in_force=TimeInForce.IOC,
        quote=quote.split("-")[0] if quote else "USD",
    )


class BookModel:
    """The naive reference: one dict per side, rebuilt only from emitted events."""

    def __init__(self) -> None:
        self.books: dict[str, tuple[dict[float, float], dict[float, float]]] = {}

    def apply(self, event: FeedEvent) -> None:
        if isinstance(event, BookSnapshot):
            self.books[event.symbol] = (
                {p: s for p, s in event.bids if s > 0},
                {p: s for p, s in event.asks if s > 0},
            )
        elif isinstance(event, BookUpdate):
            bids, asks = self.books[event.symbol]
            for side, changes in ((bids, event.bids), (asks, event.asks)):
                for price, size in changes:
                    if size == 0:
                        side.pop(price, None)
                    else:
                        side[price] = size
        elif isinstance(event, Resync):
            self.books.pop(event.symbol, None)

    def top(self, symbol: str, n: int) -> tuple[list[Level], list[Level]]:
        bids, asks = self.books[symbol]
        return sorted(asks.items())[:n], sorted(bids.items(), reverse=True)[:n]


@dataclass
class FeedReport:
    events: int = 0
    snapshots: int = 0
    updates: int = 0
    errors: int = 0
    resyncs: int = 0
    books_checked: int = 0
    symbols_seen: set[str] = field(default_factory=set)


def _book_problem(adapter: DataFeedAdapter, model: BookModel, symbol: str, depth: int) -> str | None:
    """Why the adapter's book of ``symbol`` disagrees with the model, or ``None`` when it agrees."""
    view = adapter.book(symbol)
    if symbol not in model.books:
        return None if view is None else f"book({symbol!r}) is served although its last event was a Resync"
    if view is None:
        return f"book({symbol!r}) is None although a snapshot for it was emitted"
    asks, bids = view.curve_levels(depth)
    want_asks, want_bids = model.top(symbol, depth)
    if asks != want_asks or bids != want_bids:
        return (
            f"maintained top-{depth} of {symbol} differs from the emitted events: "
            f"asks {asks[:3]}... vs {want_asks[:3]}..., bids {bids[:3]}... vs {want_bids[:3]}..."
        )
    for side_name, levels in (("ask", asks), ("bid", bids)):
        for price, size in levels:
            if not (math.isfinite(price) and price > 0 and math.isfinite(size) and size > 0):
                return f"{symbol} {side_name} level ({price!r}, {size!r}) is invalid"
    if view.is_crossed():
        return f"{symbol} book is crossed: {view.best_bid()} >= {view.best_ask()}"
    return None


async def _bounded(events: AsyncIterator[FeedEvent], timeout_s: float) -> AsyncIterator[FeedEvent]:
    while True:
        try:
            event = await asyncio.wait_for(anext(events), timeout_s)
        except StopAsyncIteration:
            return
        yield event


async def check_book_integrity(
    adapter: DataFeedAdapter,
    symbols: Sequence[str],
    *,
    max_events: int = 100_000,
    depth: int = 10,
    timeout_s: float = 10.0,
    model: BookModel | None = None,
    report: FeedReport | None = None,
    subscribe: bool = True,
) -> FeedReport:
    """Consume up to ``max_events`` events and check the maintained books against them after each one."""
    model = model or BookModel()
    report = report or FeedReport()
    if subscribe:
        await adapter.connect()
        await adapter.subscribe_books(list(symbols))
    seen = 0
    pending: dict[str, str] = {}
    """Symbols whose book disagreed with the model within the current receipt instant (one message can
    emit several events; the book must agree once all events of that instant are out)."""
    instant: float | None = None
    async for event in _bounded(adapter.events(), timeout_s):
        seen += 1
        report.events += 1
        where = f"event #{report.events} ({type(event).__name__})"
        receipt = getattr(event, "receipt_ts", None)
        if receipt != instant:
            if pending:
                raise ConformanceError(f"before {where}: " + "; ".join(sorted(pending.values())))
            instant = receipt
        touched: str | None = None
        if isinstance(event, BookSnapshot | BookUpdate):
            report.symbols_seen.add(event.symbol)
            if isinstance(event, BookUpdate) and event.symbol not in model.books:
                raise ConformanceError(
                    f"{where}: update for {event.symbol} while its book is void (no snapshot)"
                )
            model.apply(event)
            report.snapshots += isinstance(event, BookSnapshot)
            report.updates += isinstance(event, BookUpdate)
            report.books_checked += 1
            touched = event.symbol
        elif isinstance(event, Resync):
            model.apply(event)
            report.resyncs += 1
            touched = event.symbol
        elif isinstance(event, FeedError):
            report.errors += 1
            if not event.detail:
                raise ConformanceError(f"{where}: FeedError without a detail message")
        if touched is not None:
            pending[touched] = f"{where}: {touched}"
        for symbol in list(pending):
            problem = _book_problem(adapter, model, symbol, depth)
            if problem is None:
                del pending[symbol]
            else:
                pending[symbol] = f"{where}: {problem}"
        if seen >= max_events:
            return report  # may stop inside an instant: its pending checks are not judged
    if pending:
        raise ConformanceError("at the end: " + "; ".join(sorted(pending.values())))
    return report


async def check_reconnect_resync(
    adapter: DataFeedAdapter,
    symbols: Sequence[str],
    *,
    events_before: int = 200,
    events_after: int = 200,
    expect_snapshot_after: bool = True,
    depth: int = 10,
) -> FeedReport:
    """Drop the connection mid-stream: every book must go void, then come back only through a snapshot."""
    model = BookModel()
    report = await check_book_integrity(adapter, symbols, max_events=events_before, depth=depth, model=model)
    if not report.snapshots:
        raise ConformanceError("no BookSnapshot before the disconnect: cannot test resync")
    await adapter.disconnect()
    for symbol in symbols:
        if adapter.book(symbol) is not None:
            raise ConformanceError(f"book({symbol!r}) still served after disconnect()")
    await adapter.connect()
    await adapter.subscribe_books(list(symbols))
    snapshots_before = report.snapshots
    report = await check_book_integrity(
        adapter, symbols, max_events=events_after, depth=depth, model=model, report=report, subscribe=False
    )
    if expect_snapshot_after and report.snapshots == snapshots_before:
        raise ConformanceError("no fresh BookSnapshot after reconnecting")
    return report


class OrderLog:
    """The listener a checked execution adapter reports to: every event, in arrival order (thread-safe
    enough for adapters that report from their own thread: appends only)."""

    def __init__(self) -> None:
        self.events: list[ExecutionEvent] = []

    def __call__(self, event: ExecutionEvent) -> None:
        self.events.append(event)

    def orders(self, client_order_id: str) -> list[OrderEvent]:
        return [
            e for e in list(self.events) if isinstance(e, OrderEvent) and e.client_order_id == client_order_id
        ]

    def fills(self, client_order_id: str) -> list[FillEvent]:
        return [
            e for e in list(self.events) if isinstance(e, FillEvent) and e.client_order_id == client_order_id
        ]


def _sleep() -> None:
    time.sleep(0.01)


def _final(log: OrderLog, client_order_id: str, settle: Callable[[], None], timeout_s: float) -> OrderEvent:
    """The terminal ``OrderEvent`` of ``client_order_id``, letting the venue work (``settle``) until it
    arrives or ``timeout_s`` passes (wall clock)."""
    deadline = time.monotonic() + timeout_s
    while True:
        orders = log.orders(client_order_id)
        if orders and orders[-1].status.terminal:
            return orders[-1]
        if time.monotonic() > deadline:
            state = orders[-1].status if orders else "no event at all"
            raise ConformanceError(f"order {client_order_id} not terminal after {timeout_s}s: {state}")
        settle()


def check_order_lifecycle(
    adapter: ExecutionAdapter,
    log: OrderLog,
    marketable: OrderRequest,
    unmarketable: OrderRequest,
    *,
    settle: Callable[[], None] = _sleep,
    timeout_s: float = 5.0,
) -> None:
    """An IOC ends terminal; fills respect the price cap and add up; an unmarketable IOC fills nothing;
    ``fetch_order`` agrees with the events."""
    adapter.submit(marketable)
    final = _final(log, marketable.client_order_id, settle, timeout_s)
    first = log.orders(marketable.client_order_id)[0]
    if first.venue != marketable.venue or first.instrument != marketable.instrument:
        raise ConformanceError(
            f"order event names {first.venue}/{first.instrument}, "
            f"sent {marketable.venue}/{marketable.instrument}"
        )
    fills = log.fills(marketable.client_order_id)
    filled = sum((f.size for f in fills), Decimal(0))
    if filled != final.filled:
        raise ConformanceError(f"fills add up to {filled}, final order state says filled={final.filled}")
    if final.filled > marketable.size:
        raise ConformanceError(f"filled {final.filled} exceeds the order's size {marketable.size}")
    for fill in fills:
        worse = (
            fill.price > marketable.limit_price
            if marketable.side is Side.BUY
            else fill.price < marketable.limit_price
        )
        if worse:
            raise ConformanceError(f"fill at {fill.price} breaches the price cap {marketable.limit_price}")
        if fill.plan_id != marketable.plan_id or fill.side is not marketable.side:
            raise ConformanceError(f"fill {fill.fill_id} does not carry its order's plan id and side")
    if final.filled == 0:
        raise ConformanceError("the marketable IOC filled nothing; give an order that crosses the book")
    state = adapter.fetch_order(marketable.client_order_id)
    if (state.client_order_id, state.status, state.filled) != (
        marketable.client_order_id,
        final.status,
        final.filled,
    ):
        raise ConformanceError(
            f"fetch_order says {state.status} filled={state.filled}, the events {final.status} "
            f"filled={final.filled}"
        )
    adapter.submit(unmarketable)
    final = _final(log, unmarketable.client_order_id, settle, timeout_s)
    fills = log.fills(unmarketable.client_order_id)
    if fills or final.filled != 0 or final.status not in (OrderStatus.CANCELLED, OrderStatus.EXPIRED):
        raise ConformanceError(
            f"unmarketable IOC ended {final.status} with filled={final.filled}, fills={fills}"
        )


def check_client_order_id_idempotency(
    adapter: ExecutionAdapter,
    log: OrderLog,
    order: OrderRequest,
    *,
    settle: Callable[[], None] = _sleep,
    timeout_s: float = 5.0,
) -> None:
    """Submitting the same client order id twice never creates a second order."""
    cid = order.client_order_id
    adapter.submit(order)
    _final(log, cid, settle, timeout_s)
    adapter.submit(order)
    for _ in range(5):
        settle()
    ids = {e.exchange_order_id for e in log.orders(cid) if e.exchange_order_id}
    if len(ids) > 1:
        raise ConformanceError(f"re-sending {cid} created venue orders {sorted(ids)}")
    filled = sum((f.size for f in log.fills(cid)), Decimal(0))
    if filled > order.size:
        raise ConformanceError(
            f"fills of {cid} add up to {filled}, more than the single order's {order.size}"
        )
    if any(e.status is OrderStatus.REJECTED for e in log.orders(cid)):
        raise ConformanceError(f"the re-send of {cid} was reported REJECTED, not as the existing order")
    state = adapter.fetch_order(cid)
    if state.client_order_id != cid:
        raise ConformanceError(f"fetch_order returned {state.client_order_id!r}")
    if state.filled > order.size:
        raise ConformanceError(f"filled {state.filled} exceeds the single order's size {order.size}")


def check_error_mapping(
    adapter: ExecutionAdapter,
    log: OrderLog,
    cases: Sequence[tuple[OrderRequest, type[AdapterError]]],
    *,
    settle: Callable[[], None] = _sleep,
    timeout_s: float = 5.0,
) -> None:
    """Venue refusals end ``REJECTED`` with the SDK error's name leading the reason; cancelling an unknown
    id is no error; looking it up is ``OrderNotFound``."""
    for order, expected in cases:
        try:
            adapter.submit(order)
        except Exception as exc:
            raise ConformanceError(
                f"{order.client_order_id}: submit raised {type(exc).__name__} ({exc}); a refusal must be "
                f"a REJECTED order event"
            ) from exc
        final = _final(log, order.client_order_id, settle, timeout_s)
        if final.status is not OrderStatus.REJECTED or log.fills(order.client_order_id):
            raise ConformanceError(f"{order.client_order_id}: ended {final.status}, want REJECTED")
        if not final.reason.startswith(f"{expected.__name__}:"):
            raise ConformanceError(
                f"{order.client_order_id}: rejected with reason {final.reason!r}, want it to start with "
                f"{expected.__name__!r}"
            )
    try:
        adapter.cancel("never-sent-0000")
    except Exception as exc:
        raise ConformanceError(f"cancel of an unknown id raised {type(exc).__name__}: {exc}") from exc
    try:
        adapter.fetch_order("never-sent-0000")
    except OrderNotFound:
        pass
    except Exception as exc:
        raise ConformanceError(
            f"fetch_order of an unknown id raised {type(exc).__name__}, want OrderNotFound"
        ) from exc
    else:
        raise ConformanceError("fetch_order of an unknown id succeeded, want OrderNotFound")


def check_manifest(adapter: Any) -> AdapterManifest:
    """The adapter class declares a valid ``manifest``."""
    manifest = getattr(type(adapter), "manifest", None)
    if not isinstance(manifest, AdapterManifest):
        raise ConformanceError(
            f"{type(adapter).__name__}.manifest must be an AdapterManifest, got {manifest!r}"
        )
    return manifest


class DataFeedConformance:
    """Subclass as ``TestXxx`` and implement ``make_feed``; set ``symbols`` and the knobs below."""

    symbols: ClassVar[tuple[str, ...]] = ()
    max_events: ClassVar[int] = 5_000
    expect_snapshot_after_reconnect: ClassVar[bool] = True

    def make_feed(self) -> DataFeedAdapter:
        raise NotImplementedError

    def test_manifest(self) -> None:
        check_manifest(self.make_feed())

    def test_protocol(self) -> None:
        feed = self.make_feed()
        if not isinstance(feed, DataFeedAdapter):
            raise ConformanceError(f"{type(feed).__name__} does not implement DataFeedAdapter")

    def test_book_integrity(self) -> None:
        async def run() -> FeedReport:
            feed = self.make_feed()
            try:
                return await check_book_integrity(feed, self.symbols, max_events=self.max_events)
            finally:
                await feed.disconnect()

        report = asyncio.run(run())
        if not report.snapshots:
            raise ConformanceError("the feed emitted no BookSnapshot")

    def test_reconnect_resync(self) -> None:
        async def run() -> None:
            feed = self.make_feed()
            try:
                await check_reconnect_resync(
                    feed, self.symbols, expect_snapshot_after=self.expect_snapshot_after_reconnect
                )
            finally:
                await feed.disconnect()

        asyncio.run(run())


class ExecutionConformance:
    """Subclass as ``TestXxx``; implement ``make_execution`` and the order factories (``ioc_order`` builds
    the orders). Override ``settle`` when the venue needs more than time to pass (a paper venue in virtual
    time advances its clock there)."""

    def make_execution(self, listener: ExecutionListener) -> ExecutionAdapter:
        raise NotImplementedError

    def marketable_order(self, client_order_id: str) -> OrderRequest:
        raise NotImplementedError

    def unmarketable_order(self, client_order_id: str) -> OrderRequest:
        raise NotImplementedError

    def error_cases(self) -> list[tuple[OrderRequest, type[AdapterError]]]:
        return []

    def settle(self) -> None:
        """Let the venue work a little (default: 10 ms of wall clock)."""
        _sleep()

    def test_manifest(self) -> None:
        check_manifest(self.make_execution(OrderLog()))

    def test_protocol(self) -> None:
        adapter = self.make_execution(OrderLog())
        if not isinstance(adapter, ExecutionAdapter):
            raise ConformanceError(f"{type(adapter).__name__} does not implement ExecutionAdapter")

    def test_order_lifecycle(self) -> None:
        log = OrderLog()
        check_order_lifecycle(
            self.make_execution(log),
            log,
            self.marketable_order("conf-mkt-1"),
            self.unmarketable_order("conf-lim-1"),
            settle=self.settle,
        )

    def test_client_order_id_idempotency(self) -> None:
        log = OrderLog()
        check_client_order_id_idempotency(
            self.make_execution(log), log, self.marketable_order("conf-idem-1"), settle=self.settle
        )

    def test_error_mapping(self) -> None:
        log = OrderLog()
        check_error_mapping(self.make_execution(log), log, self.error_cases(), settle=self.settle)
