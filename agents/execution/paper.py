"""Paper execution: our orders against the current book, with fees, latency and queue position.

- IOC limit orders arrive after ``latency_ms`` and walk the book *as it is then*, up to their price cap;
  what the book cannot give is cancelled (partial fills are normal). The liquidity we took is removed from our
  copy of the book until the next book update replaces it, so two orders never take the same size twice.
- Resting (GTC) orders first take whatever is marketable, then rest. At entry they queue behind
  ``queue_fraction`` (default 20%) of the depth resting at their price; trades printed at or through their
  price eat that queue first and only then fill the order (maker fee). A book update that crosses a resting
  price fills it too. Resting orders expire at their deadline.
- Fees are ``bps`` of the fill notional, in quote units, exact Decimals.

Events go to a listener callback in the order a real venue would send them: ACCEPTED, fills, then the final
status. Nothing sleeps: latency is a callback scheduled on an injected ``Scheduler``.

``PaperVenue`` (order books) and ``CurvePaperVenue`` (pools, prediction markets, any cost curve of the
simulated market) are the SDK's ``ExecutionAdapter``s, the same contract as the live ``CcxtVenue``: the
executor cannot tell them apart, and the conformance kit checks all of them. A client order id sent again
is reported as the order it already is, never traded twice.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import ClassVar, TypedDict

from agents.execution.book import Level, consume, marketable, walk
from agents.execution.clock import Scheduler
from sdk.adapters.events import BookSnapshot
from sdk.adapters.execution import (
    BPS,
    Balance,
    ExecutionEvent,
    ExecutionInputError,
    FillEvent,
    InvalidOrder,
    Liquidity,
    OrderEvent,
    OrderNotFound,
    OrderRequest,
    OrderStatus,
    Side,
    TimeInForce,
    exact,
    parse_decimal,
    refusal,
    require_id,
)
from sdk.adapters.interfaces import ExecutionListener
from sdk.adapters.manifest import DEFAULT_IR_RANGE, AdapterKind, AdapterManifest, Capability, VenueKind
from sdk.curves.base import CostCurve

Listener = ExecutionListener
POOL_PRICE_QUANTUM = Decimal("1e-8")
EXECUTION_CAPABILITIES = frozenset(
    {
        Capability.IOC_LIMIT,
        Capability.CANCEL,
        Capability.CLIENT_ORDER_IDS,
        Capability.BALANCES,
        Capability.ORDER_EVENTS,
    }
)
"""What every execution adapter here declares (paper, pool paper and the live ccxt venue)."""


def execution_manifest(
    name: str, version: str, venue_kind: VenueKind, library: str | None = None
) -> AdapterManifest:
    """The manifest of one of our IOC-limit execution adapters (``EXECUTION_CAPABILITIES``)."""
    return AdapterManifest(
        name=name,
        version=version,
        kind=AdapterKind.EXECUTION,
        venue_kind=venue_kind,
        capabilities=EXECUTION_CAPABILITIES,
        ir_range=DEFAULT_IR_RANGE,
        library=library,
    )


@dataclass(frozen=True, slots=True)
class PaperConfig:
    venue: str
    taker_fee_bps: Decimal = Decimal(10)
    maker_fee_bps: Decimal = Decimal(0)
    latency_ms: int = 0
    queue_fraction: Decimal = Decimal("0.2")

    def __post_init__(self) -> None:
        require_id("venue", self.venue)
        parse_decimal("taker_fee_bps", self.taker_fee_bps, non_negative=True)
        parse_decimal("maker_fee_bps", self.maker_fee_bps, non_negative=True)
        if isinstance(self.latency_ms, bool) or not isinstance(self.latency_ms, int) or self.latency_ms < 0:
            raise ExecutionInputError(f"latency_ms must be an integer >= 0, got {self.latency_ms!r}")
        fraction = parse_decimal("queue_fraction", self.queue_fraction, non_negative=True)
        if fraction > 1:
            raise ExecutionInputError(f"queue_fraction must be in [0, 1], got {fraction}")


@dataclass
class _Resting:
    order: OrderRequest
    filled: Decimal
    queue_ahead: Decimal
    seq: int

    @property
    def remaining(self) -> Decimal:
        return self.order.size - self.filled


class _PaperAccount:
    """What every paper venue keeps for the contract's queries: each order's latest state and the balances
    its fills moved. Every event goes out through ``_report``."""

    def __init__(self, listener: Listener, balances: Mapping[str, Decimal] | None) -> None:
        self._listener = listener
        self._latest: dict[str, OrderEvent] = {}
        self._balances: dict[str, Decimal] = dict(balances or {})

    def fetch_order(self, client_order_id: str) -> OrderEvent:
        latest = self._latest.get(client_order_id)
        if latest is None:
            raise OrderNotFound(f"no order with client order id {client_order_id!r}")
        return latest

    def balances(self) -> Mapping[str, Balance]:
        return {a: Balance(a, q, Decimal(0)) for a, q in sorted(self._balances.items())}

    def _repeat(self, client_order_id: str) -> bool:
        """A client order id arriving again: report the order it already is (never trade it twice)."""
        latest = self._latest.get(client_order_id)
        if latest is None:
            return False
        self._listener(latest)
        return True

    def _status(
        self, order: OrderRequest, status: OrderStatus, filled: Decimal, now: int, reason: str = ""
    ) -> None:
        self._report(
            OrderEvent(
                client_order_id=order.client_order_id,
                venue=order.venue,
                instrument=order.instrument,
                status=status,
                filled=filled,
                remaining=Decimal(0) if status.terminal else order.size - filled,
                ts_ms=now,
                reason=reason,
            )
        )

    def _report(self, event: ExecutionEvent) -> None:
        if isinstance(event, OrderEvent):
            self._latest[event.client_order_id] = event
        else:
            self._balances[event.asset] = self._balances.get(event.asset, Decimal(0)) + event.signed_size
            self._balances[event.quote] = self._balances.get(event.quote, Decimal(0)) + event.cash_flow
        self._listener(event)


class PaperVenue(_PaperAccount):
    """One simulated order-book venue; feed it books and trades, submit and cancel orders, receive events.
    ``balances`` are the starting balances its fills move (``balances()``)."""

    manifest: ClassVar[AdapterManifest] = execution_manifest(
        "arbsphere-paper-book", "1.0.0", VenueKind.ORDER_BOOK
    )

    def __init__(
        self,
        config: PaperConfig,
        scheduler: Scheduler,
        listener: Listener,
        *,
        balances: Mapping[str, Decimal] | None = None,
    ) -> None:
        super().__init__(listener, balances)
        self.config = config
        self._scheduler = scheduler
        self._books: dict[str, BookSnapshot[Decimal]] = {}
        self._resting: dict[str, _Resting] = {}
        self._fill_ids = itertools.count(1)
        self._seq = itertools.count()

    # -- market data ---------------------------------------------------------------------------------
    def update_book(self, instrument: str, book: BookSnapshot[Decimal]) -> None:
        """Replace our view of ``instrument``'s book; a crossing book fills resting orders."""
        self._books[instrument] = book
        for resting in self._resting_on(instrument):
            opposite = book.side_to_take(resting.order.side)
            crossing = sum(
                (s for p, s in opposite if marketable(resting.order.side, p, resting.order.limit_price)),
                Decimal(0),
            )
            if crossing > 0:
                self._fill_resting(resting, min(crossing, resting.remaining))

    def on_trade(self, instrument: str, price: Decimal, size: Decimal) -> None:
        """A public trade printed: it eats the queue ahead of our resting orders at or through its price."""
        parse_decimal("trade.price", price, positive=True)
        volume = parse_decimal("trade.size", size, positive=True)
        for resting in self._resting_on(instrument):
            if volume <= 0:
                break
            if not marketable(resting.order.side, price, resting.order.limit_price):
                continue  # a buy at P is reached by trades at P or lower, a sell by trades at P or higher
            eaten = min(volume, resting.queue_ahead)
            resting.queue_ahead -= eaten
            volume -= eaten
            take = min(volume, resting.remaining)
            if take > 0:
                volume -= take
                self._fill_resting(resting, take)

    def book(self, instrument: str) -> BookSnapshot[Decimal] | None:
        return self._books.get(instrument)

    # -- orders --------------------------------------------------------------------------------------
    def submit(self, order: OrderRequest, role: str = "leg") -> None:
        """Send ``order``; it reaches the matching engine ``latency_ms`` later (``role`` is informational)."""
        if order.venue != self.config.venue:
            raise ExecutionInputError(f"order.venue must be {self.config.venue!r}, got {order.venue!r}")
        self._scheduler.call_later(self.config.latency_ms, lambda: self._arrive(order))

    def cancel(self, client_order_id: str) -> None:
        self._scheduler.call_later(self.config.latency_ms, lambda: self._cancel_now(client_order_id))

    def open_orders(self) -> list[OrderRequest]:
        return [r.order for r in self._resting.values()]

    def queue_ahead(self, client_order_id: str) -> Decimal | None:
        resting = self._resting.get(client_order_id)
        return None if resting is None else resting.queue_ahead

    # -- internals -----------------------------------------------------------------------------------
    def _now(self) -> int:
        return self._scheduler.clock.now_ms()

    def _arrive(self, order: OrderRequest) -> None:
        cid = order.client_order_id
        if self._repeat(cid):
            return
        if self._now() > order.deadline_ms:
            self._emit_status(order, OrderStatus.EXPIRED, Decimal(0), "arrived after its deadline")
            return
        book = self._books.get(order.instrument)
        if book is None:
            error = InvalidOrder(f"no book for {order.instrument}")
            self._emit_status(order, OrderStatus.REJECTED, Decimal(0), refusal(error))
            return
        self._emit_status(order, OrderStatus.ACCEPTED, Decimal(0))
        fills = walk(book.side_to_take(order.side), order.side, order.size, order.limit_price)
        self._take(order, book, fills)
        filled = sum((s for _, s in fills), Decimal(0))
        if order.time_in_force is TimeInForce.IOC or filled == order.size:
            status = OrderStatus.FILLED if filled == order.size else OrderStatus.CANCELLED
            self._emit_status(
                order, status, filled, "" if filled == order.size else "IOC remainder cancelled"
            )
            return
        joined = book.side_to_join(order.side)
        at_price = sum((s for p, s in joined if p == order.limit_price), Decimal(0))
        resting = _Resting(order, filled, at_price * self.config.queue_fraction, next(self._seq))
        self._resting[cid] = resting
        self._scheduler.call_at(order.deadline_ms, lambda: self._expire(cid))

    def _take(self, order: OrderRequest, book: BookSnapshot[Decimal], fills: Sequence[Level]) -> None:
        if not fills:
            return
        taken = consume(book.side_to_take(order.side), fills)
        if order.side is Side.BUY:
            self._books[order.instrument] = replace(book, asks=taken)
        else:
            self._books[order.instrument] = replace(book, bids=taken)
        for price, size in fills:
            self._emit_fill(order, price, size, Liquidity.TAKER)

    def _fill_resting(self, resting: _Resting, size: Decimal) -> None:
        resting.filled += size
        self._emit_fill(resting.order, resting.order.limit_price, size, Liquidity.MAKER)
        if resting.remaining == 0:
            del self._resting[resting.order.client_order_id]
            self._emit_status(resting.order, OrderStatus.FILLED, resting.filled)
        else:
            self._emit_status(resting.order, OrderStatus.PARTIALLY_FILLED, resting.filled)

    def _expire(self, cid: str) -> None:
        resting = self._resting.pop(cid, None)
        if resting is not None:
            self._emit_status(resting.order, OrderStatus.EXPIRED, resting.filled, "deadline passed")

    def _cancel_now(self, cid: str) -> None:
        resting = self._resting.pop(cid, None)
        if resting is not None:
            self._emit_status(resting.order, OrderStatus.CANCELLED, resting.filled, "cancelled on request")

    def _resting_on(self, instrument: str) -> list[_Resting]:
        """Resting orders on ``instrument`` in price-time priority (best price first, then entry)."""
        orders = [r for r in self._resting.values() if r.order.instrument == instrument]

        def priority(r: _Resting) -> tuple[Decimal, int]:
            price = -r.order.limit_price if r.order.side is Side.BUY else r.order.limit_price
            return price, r.seq

        return sorted(orders, key=priority)

    def _emit_fill(self, order: OrderRequest, price: Decimal, size: Decimal, liquidity: Liquidity) -> None:
        bps = self.config.taker_fee_bps if liquidity is Liquidity.TAKER else self.config.maker_fee_bps
        self._report(
            FillEvent.of_order(
                order,
                fill_id=f"{self.config.venue}:{next(self._fill_ids)}",
                price=price,
                size=size,
                fee=price * size * bps / BPS,
                liquidity=liquidity,
                ts_ms=self._now(),
            )
        )

    def _emit_status(
        self, order: OrderRequest, status: OrderStatus, filled: Decimal, reason: str = ""
    ) -> None:
        self._status(order, status, filled, self._now(), reason)


class CurveOptions(TypedDict, total=False):
    """``CurvePaperVenue``'s optional settings (what a subclass passes through)."""

    latency_ms: int
    price_quantum: Decimal
    balances: Mapping[str, Decimal] | None


class CurvePaperVenue(_PaperAccount):
    """Paper fills on a pool (or any cost curve of the simulated market): the whole leg at the curve's
    average price (rounded against us to ``price_quantum``, which keeps the Decimal accounting exact), or
    nothing when that is beyond the cap. Nothing rests: every order is final on arrival."""

    manifest: ClassVar[AdapterManifest] = execution_manifest("arbsphere-paper-curve", "1.0.0", VenueKind.CPMM)

    def __init__(
        self,
        venue: str,
        curve: CostCurve,
        scheduler: Scheduler,
        listener: Listener,
        *,
        latency_ms: int = 0,
        price_quantum: Decimal = POOL_PRICE_QUANTUM,
        balances: Mapping[str, Decimal] | None = None,
    ) -> None:
        super().__init__(listener, balances)
        self.venue = require_id("venue", venue)
        self.curve = curve
        self.quantum = price_quantum
        self._scheduler = scheduler
        self._latency_ms = latency_ms

    def submit(self, order: OrderRequest, role: str = "leg") -> None:
        if order.venue != self.venue:
            raise ExecutionInputError(f"order.venue must be {self.venue!r}, got {order.venue!r}")
        self._scheduler.call_later(self._latency_ms, lambda: self._arrive(order))

    def cancel(self, client_order_id: str) -> None:
        """Nothing rests on a pool: every order is final on arrival."""

    def _arrive(self, order: OrderRequest) -> None:
        now = self._scheduler.clock.now_ms()
        if self._repeat(order.client_order_id):
            return
        if now > order.deadline_ms:
            self._status(order, OrderStatus.EXPIRED, Decimal(0), now, "arrived after its deadline")
            return
        self._status(order, OrderStatus.ACCEPTED, Decimal(0), now)
        priced = self._price(order)
        if isinstance(priced, str):
            self._status(order, OrderStatus.CANCELLED, Decimal(0), now, priced)
            return
        average, fee = priced
        rounding = ROUND_CEILING if order.side is Side.BUY else ROUND_FLOOR
        price = (average / self.quantum).to_integral_value(rounding) * self.quantum
        if price <= 0 or not marketable(order.side, price, order.limit_price):
            self._status(
                order, OrderStatus.CANCELLED, Decimal(0), now, f"average price {price} beyond the cap"
            )
            return
        self._report(
            FillEvent.of_order(
                order,
                fill_id=f"{order.client_order_id}-1",
                price=price,
                size=order.size,
                fee=fee,
                liquidity=Liquidity.TAKER,
                ts_ms=now,
            )
        )
        self._status(order, OrderStatus.FILLED, order.size, now)

    def _price(self, order: OrderRequest) -> tuple[Decimal, Decimal] | str:
        """The whole order's average price (before rounding to ``price_quantum``) and its fee in quote, or
        why it cannot fill (it is then cancelled with that reason). Here: the curve's average, no fee."""
        quantity = float(order.side.sign * order.size)
        cost = self.curve.cost(quantity)
        average = abs(cost) / float(order.size)
        if not math.isfinite(cost) or average <= 0 or (cost < 0) != (quantity < 0):
            return "beyond the pool's feasible box"
        return exact(average), Decimal(0)
