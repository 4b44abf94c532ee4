"""``sdk.adapters.ExecutionAdapter`` over CCXT REST: the live venue path, shaped as the SDK contract.

A thin async shell around ``CcxtVenue`` (which owns idempotency: the durable outbox and the lookup by client
order id). Blocking REST calls run in a worker thread; events reach ``order_events()`` through the running
loop. Orders and events are ``sdk.adapters.execution``'s, the same the plan runner and the paper venues use,
so nothing is converted on the way. ccxt errors map onto the SDK's error types. ``manifest`` is per venue:
subclass and override it for another ccxt exchange (the venue difference is data, not code).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from dataclasses import replace
from decimal import Decimal
from functools import cache
from typing import Any, ClassVar

import ccxt

from agents.execution.clock import Clock
from agents.execution.live import CcxtVenue, LiveInstrument, status_of
from agents.execution.outbox import Outbox, OutboxState
from agents.venues.spec import VenueSpec
from sdk.adapters.execution import (
    AdapterError,
    AuthenticationFailed,
    Balance,
    DuplicateClientOrderId,
    ExecutionEvent,
    InsufficientFunds,
    InvalidOrder,
    OrderEvent,
    OrderNotFound,
    OrderRequest,
    OrderStatus,
    RateLimited,
    TimeInForce,
    VenueUnavailable,
)
from sdk.adapters.manifest import AdapterKind, AdapterManifest, Capability, VenueKind


def map_ccxt_error(exc: Exception) -> AdapterError:
    """The SDK error for a ccxt exception (most specific first: ccxt's classes form a hierarchy)."""
    table: tuple[tuple[type[Exception], type[AdapterError]], ...] = (
        (ccxt.InsufficientFunds, InsufficientFunds),
        (ccxt.OrderNotFound, OrderNotFound),
        (ccxt.AuthenticationError, AuthenticationFailed),
        (ccxt.RateLimitExceeded, RateLimited),
        (ccxt.DDoSProtection, RateLimited),
        (ccxt.NetworkError, VenueUnavailable),
        (ccxt.InvalidOrder, InvalidOrder),
        (ccxt.BadRequest, InvalidOrder),
    )
    for ccxt_type, sdk_type in table:
        if isinstance(exc, ccxt_type):
            return sdk_type(str(exc))
    return VenueUnavailable(str(exc))


class CcxtExecutionAdapter:
    """Orders on one ccxt venue. ``instruments`` is keyed by the SDK's ``BASE-QUOTE`` symbol."""

    manifest: ClassVar[AdapterManifest] = AdapterManifest(
        name="arbsphere-ccxt-binance-execution",
        version="0.1.0",
        venue="binance",
        kind=AdapterKind.EXECUTION,
        venue_kind=VenueKind.ORDER_BOOK,
        symbols=(),
        capabilities=frozenset(
            {
                Capability.IOC_LIMIT,
                Capability.CANCEL,
                Capability.CLIENT_ORDER_IDS,
                Capability.BALANCES,
                Capability.ORDER_EVENTS,
            }
        ),
        library=f"ccxt=={ccxt.__version__}",
    )

    def __init__(
        self, exchange: Any, *, outbox: Outbox, clock: Clock, instruments: Mapping[str, LiveInstrument]
    ) -> None:
        self._venue = CcxtVenue(
            self.manifest.venue,
            exchange,
            outbox=outbox,
            clock=clock,
            listener=self._on_event,
            instruments=instruments,
        )
        self._clock = clock
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[ExecutionEvent] | None = None
        self._latest: dict[str, OrderEvent] = {}

    # -- lifecycle -----------------------------------------------------------------------------------
    async def connect(self) -> None:
        self._loop = asyncio.get_running_loop()
        if self._queue is None:
            self._queue = asyncio.Queue()
        try:
            await asyncio.to_thread(self._venue.exchange.load_markets)
        except ccxt.BaseError as exc:
            raise map_ccxt_error(exc) from exc

    async def disconnect(self) -> None:
        self._loop = None

    # -- orders --------------------------------------------------------------------------------------
    async def place_ioc_limit(self, order: OrderRequest) -> OrderEvent:
        cid = order.client_order_id
        if self._venue.outbox.get(cid) is not None:
            raise DuplicateClientOrderId(cid, await self.fetch_order(cid))
        self._check_order(order)
        try:
            await asyncio.to_thread(self._venue.submit, order)
        except ccxt.BaseError as exc:  # raised before sending (e.g. an unknown market)
            raise map_ccxt_error(exc) from exc
        error = self._venue.errors.pop(cid, None)
        if error is not None:
            raise map_ccxt_error(error) from error
        return self._latest[cid]

    async def cancel(self, client_order_id: str) -> OrderEvent:
        if self._venue.outbox.get(client_order_id) is None:
            raise OrderNotFound(f"no order with client order id {client_order_id!r}")
        try:
            await asyncio.to_thread(self._venue.cancel, client_order_id)
        except ccxt.BaseError as exc:
            raise map_ccxt_error(exc) from exc
        return await self.fetch_order(client_order_id)

    async def fetch_order(self, client_order_id: str) -> OrderEvent:
        record = self._venue.outbox.get(client_order_id)
        if record is None:
            raise OrderNotFound(f"no order with client order id {client_order_id!r}")
        if record.state is OutboxState.NOT_SENT:
            return self._order_event(record.order, OrderStatus.EXPIRED, Decimal(0), "", "never sent")
        try:
            remote = await asyncio.to_thread(self._venue.lookup, record.order)
        except ccxt.BaseError as exc:
            raise map_ccxt_error(exc) from exc
        if remote is None:
            latest = self._latest.get(client_order_id)
            if latest is not None:
                return latest  # rejected by the venue: it keeps no record
            raise OrderNotFound(f"the venue does not know client order id {client_order_id!r}")
        filled = Decimal(str(remote.get("filled") or 0))
        status = status_of(record.order, remote)
        return self._order_event(record.order, status, filled, str(remote.get("id") or ""), "")

    async def order_events(self) -> AsyncIterator[ExecutionEvent]:
        if self._queue is None:
            self._queue = asyncio.Queue()
        while True:
            yield await self._queue.get()

    async def balances(self) -> Mapping[str, Balance]:
        try:
            raw = await asyncio.to_thread(self._venue.exchange.fetch_balance)
        except ccxt.BaseError as exc:
            raise map_ccxt_error(exc) from exc
        out: dict[str, Balance] = {}
        for asset, free in dict(raw.get("free") or {}).items():
            used = dict(raw.get("used") or {}).get(asset) or 0
            out[asset] = Balance(asset, Decimal(str(free or 0)), Decimal(str(used)))
        return out

    # -- helpers -----------------------------------------------------------------------------------
    def _check_order(self, order: OrderRequest) -> None:
        """The venue-independent checks ``OrderRequest`` cannot do: this adapter serves the instrument, the
        order is an IOC and its asset is the instrument's base."""
        instrument = self._venue.instruments.get(order.instrument)
        if instrument is None:
            raise InvalidOrder(f"instrument {order.instrument!r} is not served by this adapter")
        if order.time_in_force is not TimeInForce.IOC:
            raise InvalidOrder(f"time_in_force must be ioc for place_ioc_limit, got {order.time_in_force}")
        if order.asset != instrument.asset:
            raise InvalidOrder(
                f"asset must be {instrument.asset!r} for {order.instrument}, got {order.asset!r}"
            )

    def _order_event(
        self,
        order: OrderRequest,
        status: OrderStatus,
        filled: Decimal,
        exchange_order_id: str,
        reason: str,
    ) -> OrderEvent:
        return OrderEvent(
            client_order_id=order.client_order_id,
            venue=order.venue,
            instrument=order.instrument,
            status=status,
            filled=filled,
            remaining=Decimal(0) if status.terminal else order.size - filled,
            ts_ms=self._clock.now_ms(),
            exchange_order_id=exchange_order_id,
            reason=reason,
        )

    def _on_event(self, event: ExecutionEvent) -> None:
        """Listener of the wrapped venue (the same event types the adapter emits); runs in the worker
        thread."""
        if isinstance(event, OrderEvent):
            self._latest[event.client_order_id] = event
        loop, queue = self._loop, self._queue
        if loop is not None and queue is not None:
            loop.call_soon_threadsafe(queue.put_nowait, event)


@cache
def execution_adapter_class(spec: VenueSpec) -> type[CcxtExecutionAdapter]:
    """The ``CcxtExecutionAdapter`` subclass of one venue, with its own manifest (the contract wants the
    manifest on the class) and the venue's order semantics (``spec.orders``)."""
    manifest = replace(
        CcxtExecutionAdapter.manifest,
        name=f"arbsphere-ccxt-{spec.name}-execution",
        venue=spec.name,
        endpoints={"rest": spec.rest_url},
    )
    return type(f"{spec.name.capitalize()}CcxtExecution", (CcxtExecutionAdapter,), {"manifest": manifest})
