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
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from agents.execution.book import BookSnapshot, Level, consume, marketable, walk
from agents.execution.clock import Scheduler
from sdk.adapters.execution import (
    BPS,
    ExecutionEvent,
    ExecutionInputError,
    FillEvent,
    Liquidity,
    OrderEvent,
    OrderRequest,
    OrderStatus,
    Side,
    TimeInForce,
    parse_decimal,
    require_id,
)

Listener = Callable[[ExecutionEvent], None]


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


class PaperVenue:
    """One simulated venue; feed it books and trades, submit and cancel orders, receive events."""

    def __init__(self, config: PaperConfig, scheduler: Scheduler, listener: Listener) -> None:
        self.config = config
        self._scheduler = scheduler
        self._listener = listener
        self._books: dict[str, BookSnapshot] = {}
        self._resting: dict[str, _Resting] = {}
        self._seen: set[str] = set()
        self._fill_ids = itertools.count(1)
        self._seq = itertools.count()

    # -- market data ---------------------------------------------------------------------------------
    def update_book(self, instrument: str, book: BookSnapshot) -> None:
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

    def book(self, instrument: str) -> BookSnapshot | None:
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
        if cid in self._seen:
            self._emit_status(order, OrderStatus.REJECTED, Decimal(0), "duplicate client order id")
            return
        self._seen.add(cid)
        if self._now() > order.deadline_ms:
            self._emit_status(order, OrderStatus.EXPIRED, Decimal(0), "arrived after its deadline")
            return
        book = self._books.get(order.instrument)
        if book is None:
            self._emit_status(order, OrderStatus.REJECTED, Decimal(0), f"no book for {order.instrument}")
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

    def _take(self, order: OrderRequest, book: BookSnapshot, fills: Sequence[Level]) -> None:
        if not fills:
            return
        taken = consume(book.side_to_take(order.side), fills)
        if order.side is Side.BUY:
            self._books[order.instrument] = BookSnapshot(book.bids, taken, book.ts_ms)
        else:
            self._books[order.instrument] = BookSnapshot(taken, book.asks, book.ts_ms)
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
        self._listener(
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
        self._listener(
            OrderEvent(
                client_order_id=order.client_order_id,
                venue=order.venue,
                instrument=order.instrument,
                status=status,
                filled=filled,
                remaining=order.size - filled if not status.terminal else Decimal(0),
                ts_ms=self._now(),
                reason=reason,
            )
        )
