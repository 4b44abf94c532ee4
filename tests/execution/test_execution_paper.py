from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from agents.execution.clock import VirtualTime
from agents.execution.paper import CurvePaperVenue, PaperConfig, PaperVenue
from sdk.adapters.conformance import ExecutionConformance
from sdk.adapters.execution import (
    AdapterError,
    ExecutionEvent,
    ExecutionInputError,
    FillEvent,
    InvalidOrder,
    Liquidity,
    OrderEvent,
    OrderRequest,
    OrderStatus,
    Side,
    TimeInForce,
)
from sdk.adapters.interfaces import ExecutionAdapter, ExecutionListener
from sdk.curves.cpmm import ConstantProductCurve
from tests.execution.exec_helpers import book, order

D = Decimal


def make(latency: int = 0) -> tuple[VirtualTime, PaperVenue, list[ExecutionEvent]]:
    vt = VirtualTime(1_000)
    events: list[ExecutionEvent] = []
    venue = PaperVenue(
        PaperConfig("paper", taker_fee_bps=D(10), maker_fee_bps=D(1), latency_ms=latency), vt, events.append
    )
    venue.update_book("SOL-USD", book([("99", "5"), ("98", "5")], [("100", "1"), ("101", "2"), ("103", "9")]))
    return vt, venue, events


def fills(events: list[ExecutionEvent]) -> list[FillEvent]:
    return [e for e in events if isinstance(e, FillEvent)]


def statuses(events: list[ExecutionEvent]) -> list[OrderStatus]:
    return [e.status for e in events if isinstance(e, OrderEvent)]


def test_ioc_walks_book_up_to_cap_and_cancels_the_rest() -> None:
    vt, venue, events = make()
    venue.submit(order("a", Side.BUY, "5", "101"))
    vt.advance(0)
    got = [(f.price, f.size, f.fee) for f in fills(events)]
    assert got == [(D(100), D(1), D("0.1")), (D(101), D(2), D("0.202"))]
    assert statuses(events) == [OrderStatus.ACCEPTED, OrderStatus.CANCELLED]
    final = events[-1]
    assert isinstance(final, OrderEvent) and final.filled == D(3)
    assert all(f.liquidity is Liquidity.TAKER for f in fills(events))


def test_taken_liquidity_is_not_taken_twice_until_next_book() -> None:
    vt, venue, events = make()
    venue.submit(order("a", Side.BUY, "1", "100"))
    venue.submit(order("b", Side.BUY, "1", "100"))
    vt.advance(0)
    assert [f.client_order_id for f in fills(events)] == ["a"]
    venue.update_book("SOL-USD", book([("99", "5")], [("100", "1")]))
    venue.submit(order("c", Side.BUY, "1", "100"))
    vt.advance(0)
    assert [f.client_order_id for f in fills(events)] == ["a", "c"]


def test_sell_ioc_full_fill() -> None:
    vt, venue, events = make()
    venue.submit(order("s", Side.SELL, "7", "98"))
    vt.advance(0)
    assert [(f.price, f.size) for f in fills(events)] == [(D(99), D(5)), (D(98), D(2))]
    assert statuses(events)[-1] is OrderStatus.FILLED


def test_latency_applies_the_book_at_arrival() -> None:
    vt, venue, events = make(latency=50)
    venue.submit(order("a", Side.BUY, "1", "100"))
    vt.advance(49)
    assert events == []
    venue.update_book("SOL-USD", book([("99", "5")], [("100.5", "3")], ts=1_049))
    vt.advance(1)
    assert fills(events) == []  # the book moved above the cap before the order arrived
    assert statuses(events) == [OrderStatus.ACCEPTED, OrderStatus.CANCELLED]
    assert events[0].ts_ms == 1_050


def test_order_arriving_after_deadline_expires() -> None:
    vt, venue, events = make(latency=100)
    venue.submit(order("a", Side.BUY, "1", "100", deadline=1_050))
    vt.advance(100)
    assert statuses(events) == [OrderStatus.EXPIRED]


def test_duplicate_client_order_id_reports_the_existing_order() -> None:
    vt, venue, events = make()
    venue.submit(order("a", Side.BUY, "1", "100"))
    venue.submit(order("a", Side.BUY, "1", "100"))
    vt.advance(0)
    assert statuses(events) == [OrderStatus.ACCEPTED, OrderStatus.FILLED, OrderStatus.FILLED]
    assert len(fills(events)) == 1
    assert venue.fetch_order("a").status is OrderStatus.FILLED


def test_balances_follow_the_fills() -> None:
    vt = VirtualTime(1_000)
    venue = PaperVenue(
        PaperConfig("paper", taker_fee_bps=D(10)), vt, lambda e: None, balances={"USD": D(500)}
    )
    venue.update_book("SOL-USD", book([("99", "5")], [("100", "1")]))
    venue.submit(order("a", Side.BUY, "1", "100"))
    vt.advance(0)
    balances = venue.balances()
    assert (balances["SOL"].free, balances["USD"].free) == (D(1), D("399.9"))


class TestPaperVenueConformance(ExecutionConformance):
    """The paper book venue passes the SDK's execution conformance kit (in virtual time)."""

    def make_execution(self, listener: ExecutionListener) -> ExecutionAdapter:
        self.vt = VirtualTime(1_000)
        venue = PaperVenue(PaperConfig("paper", latency_ms=5), self.vt, listener)
        venue.update_book("SOL-USD", book([("99", "5")], [("100", "1"), ("101", "2")]))
        return venue

    def settle(self) -> None:
        self.vt.advance(5)

    def marketable_order(self, client_order_id: str) -> OrderRequest:
        return order(client_order_id, Side.BUY, "2", "101", venue="paper", deadline=1_000_000)

    def unmarketable_order(self, client_order_id: str) -> OrderRequest:
        return order(client_order_id, Side.BUY, "1", "99", venue="paper", deadline=1_000_000)

    def error_cases(self) -> list[tuple[OrderRequest, type[AdapterError]]]:
        unknown = order("no-book", Side.BUY, "1", "100", venue="paper", deadline=1_000_000)
        return [(replace(unknown, instrument="XRP-USD", asset="XRP"), InvalidOrder)]


class TestCurvePaperVenueConformance(ExecutionConformance):
    """The simulated-market venue (fills on any cost curve) passes the same kit."""

    def make_execution(self, listener: ExecutionListener) -> ExecutionAdapter:
        self.vt = VirtualTime(1_000)
        pool = ConstantProductCurve(1_000.0, 100_000.0, fee=0.003)
        return CurvePaperVenue("paper", pool, self.vt, listener, latency_ms=5)

    def settle(self) -> None:
        self.vt.advance(5)

    def marketable_order(self, client_order_id: str) -> OrderRequest:
        return order(client_order_id, Side.BUY, "1", "102", venue="paper", deadline=1_000_000)

    def unmarketable_order(self, client_order_id: str) -> OrderRequest:
        return order(client_order_id, Side.BUY, "1", "90", venue="paper", deadline=1_000_000)


def test_resting_order_waits_for_queue_ahead() -> None:
    vt, venue, events = make()
    venue.submit(order("r", Side.BUY, "2", "99", tif=TimeInForce.GTC))
    vt.advance(0)
    assert venue.queue_ahead("r") == D(1)  # 20% of the 5 resting at 99
    venue.on_trade("SOL-USD", D(99), D("0.5"))
    assert fills(events) == []
    venue.on_trade("SOL-USD", D(100), D(10))  # above our bid: does not reach us
    assert fills(events) == []
    venue.on_trade("SOL-USD", D(99), D("1.5"))  # 0.5 finishes the queue, 1 fills us
    assert [(f.price, f.size, f.liquidity) for f in fills(events)] == [(D(99), D(1), Liquidity.MAKER)]
    assert fills(events)[0].fee == D("0.0099")
    venue.on_trade("SOL-USD", D(98), D(5))  # traded through our price: the rest fills
    assert sum(f.size for f in fills(events)) == D(2)
    assert statuses(events)[-1] is OrderStatus.FILLED
    assert venue.open_orders() == []


def test_resting_order_expires_at_deadline_and_cancel_works() -> None:
    vt, venue, events = make()
    venue.submit(order("r", Side.SELL, "1", "102", tif=TimeInForce.GTC, deadline=2_000))
    venue.submit(order("q", Side.SELL, "1", "104", tif=TimeInForce.GTC, deadline=9_000))
    vt.advance(0)
    venue.cancel("q")
    vt.advance(0)
    vt.advance_to(2_000)
    assert statuses(events)[-2:] == [OrderStatus.CANCELLED, OrderStatus.EXPIRED]


def test_resting_marketable_part_takes_then_rests() -> None:
    vt, venue, events = make()
    venue.submit(order("g", Side.BUY, "2", "100", tif=TimeInForce.GTC))
    vt.advance(0)
    assert [(f.price, f.size) for f in fills(events)] == [(D(100), D(1))]
    assert [o.client_order_id for o in venue.open_orders()] == ["g"]
    venue.update_book("SOL-USD", book([("99", "5")], [("99.5", "4")]))  # crosses our resting bid
    assert sum(f.size for f in fills(events)) == D(2)


def test_config_validation_names_field() -> None:
    with pytest.raises(ExecutionInputError, match="latency_ms"):
        PaperConfig("v", latency_ms=-1)
    with pytest.raises(ExecutionInputError, match="queue_fraction"):
        PaperConfig("v", queue_fraction=D(2))
    with pytest.raises(ExecutionInputError, match="taker_fee_bps"):
        PaperConfig("v", taker_fee_bps=D("NaN"))
