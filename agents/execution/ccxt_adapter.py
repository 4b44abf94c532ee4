"""``sdk.adapters.ExecutionAdapter`` over CCXT REST: the live venue path, shaped as the SDK contract.

A thin async shell around ``CcxtVenue`` (which owns idempotency: the durable outbox and the lookup by client
order id). Blocking REST calls run in a worker thread; events reach ``order_events()`` through the running
loop. ccxt errors map onto the SDK's error types. ``manifest`` is per venue: subclass and override it for
another ccxt exchange (the venue difference is data, not code).
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
from agents.execution.model import ExecutionEvent as OwnEvent
from agents.execution.model import FillEvent as OwnFill
from agents.execution.model import OrderEvent as OwnOrderEvent
from agents.execution.model import OrderRequest as OwnOrder
from agents.execution.model import OrderStatus as OwnStatus
from agents.execution.model import TimeInForce
from agents.execution.outbox import Outbox, OutboxState
from agents.venues.spec import VenueSpec
from sdk.adapters.execution import (
    AdapterError,
    AuthenticationFailed,
    Balance,
    DuplicateClientOrderId,
    ExecutionEvent,
    FillEvent,
    InsufficientFunds,
    InvalidOrder,
    OrderEvent,
    OrderNotFound,
    OrderRequest,
    OrderStatus,
    RateLimited,
    VenueUnavailable,
)
from sdk.adapters.manifest import AdapterKind, AdapterManifest, Capability, VenueKind

DEFAULT_DEADLINE_MS = 60_000

_STATUS = {
    OwnStatus.ACCEPTED: OrderStatus.OPEN,
    OwnStatus.PARTIALLY_FILLED: OrderStatus.PARTIALLY_FILLED,
    OwnStatus.FILLED: OrderStatus.FILLED,
    OwnStatus.CANCELLED: OrderStatus.CANCELLED,
    OwnStatus.EXPIRED: OrderStatus.EXPIRED,
    OwnStatus.REJECTED: OrderStatus.REJECTED,
}


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
        own = self._own_order(order)
        try:
            await asyncio.to_thread(self._venue.submit, own)
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
            return self._sdk_order_event(record.order, OwnStatus.EXPIRED, Decimal(0), None, "never sent")
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
        return self._sdk_order_event(record.order, status, filled, str(remote.get("id") or ""), None)

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

    # -- conversions ---------------------------------------------------------------------------------
    def _own_order(self, order: OrderRequest) -> OwnOrder:
        instrument = self._venue.instruments.get(order.symbol)
        if instrument is None:
            raise InvalidOrder(f"symbol {order.symbol!r} is not served by this adapter")
        now = self._clock.now_ms()
        deadline = (
            int(order.deadline_ts * 1000) if order.deadline_ts is not None else now + DEFAULT_DEADLINE_MS
        )
        return OwnOrder(
            client_order_id=order.client_order_id,
            idempotency_key=order.client_order_id,
            plan_id="sdk",
            venue=order.venue,
            instrument=order.symbol,
            asset=instrument.asset,
            side=order.side,
            size=order.size,
            limit_price=order.limit_price,
            deadline_ms=deadline,
            time_in_force=TimeInForce.IOC,
            quote=order.symbol.split("-")[-1],
        )

    def _sdk_order_event(
        self,
        order: OwnOrder,
        status: OwnStatus,
        filled: Decimal,
        venue_order_id: str | None,
        reason: str | None,
    ) -> OrderEvent:
        return OrderEvent(
            venue=order.venue,
            client_order_id=order.client_order_id,
            venue_order_id=venue_order_id or None,
            status=_STATUS[status],
            filled=filled,
            remaining=Decimal(0) if status.terminal else order.size - filled,
            ts=self._clock.now_ms() / 1000,
            reason=reason,
        )

    def _on_event(self, event: OwnEvent) -> None:
        """Listener of the wrapped venue; runs in the worker thread."""
        converted: ExecutionEvent
        if isinstance(event, OwnFill):
            converted = FillEvent(
                venue=event.venue,
                client_order_id=event.client_order_id,
                symbol=event.instrument,
                side=event.side,
                price=event.price,
                size=event.size,
                fee=event.fee,
                fee_asset=event.quote,
                ts=event.ts_ms / 1000,
                fill_id=event.fill_id,
                liquidity=event.liquidity.value,
            )
        else:
            assert isinstance(event, OwnOrderEvent)
            converted = OrderEvent(
                venue=event.venue,
                client_order_id=event.client_order_id,
                venue_order_id=event.exchange_order_id or None,
                status=_STATUS[event.status],
                filled=event.filled,
                remaining=event.remaining,
                ts=event.ts_ms / 1000,
                reason=event.reason or None,
            )
            self._latest[event.client_order_id] = converted
        loop, queue = self._loop, self._queue
        if loop is not None and queue is not None:
            loop.call_soon_threadsafe(queue.put_nowait, converted)


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
