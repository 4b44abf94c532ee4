"""The conformance kit run against our own adapters (simulator, replay) and a toy execution venue."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from decimal import Decimal
from typing import ClassVar

import pytest

from agents.feeds.adapters import ReplayFeedAdapter, SimulatedFeedAdapter
from agents.feeds.simulator import MarketSimulator, SimConfig
from sdk.adapters.conformance import (
    ConformanceError,
    DataFeedConformance,
    ExecutionConformance,
    check_book_integrity,
    ioc_order,
)
from sdk.adapters.events import BookSnapshot, BookUpdate, Side
from sdk.adapters.execution import (
    AdapterError,
    Balance,
    FillEvent,
    InvalidOrder,
    Liquidity,
    OrderEvent,
    OrderNotFound,
    OrderRequest,
    OrderStatus,
    refusal,
)
from sdk.adapters.interfaces import ExecutionListener
from sdk.adapters.manifest import (
    DEFAULT_IR_RANGE,
    AdapterKind,
    AdapterManifest,
    Capability,
    ManifestError,
    VenueKind,
)


class TestSimulatedFeedConformance(DataFeedConformance):
    symbols = ("BTC-USD",)
    max_events = 600

    def make_feed(self):
        return SimulatedFeedAdapter(SimConfig(seed=7, mispricing_prob=0.1), "sim-beta", steps=400)


@pytest.mark.shared
class TestKrakenReplayConformance(DataFeedConformance):
    symbols = ("ETH-CHF", "XMR-USD")
    max_events = 2_000
    expect_snapshot_after_reconnect = False  # a recording holds no second snapshot: books must stay void

    @pytest.fixture(autouse=True)
    def _dir(self, shared_data):
        self.directory = shared_data / "recordings" / "cryptofeed"

    def make_feed(self):
        return ReplayFeedAdapter("kraken", self.directory)


def test_simulator_is_deterministic_by_seed():
    def run(seed):
        return list(MarketSimulator(SimConfig(seed=seed, mispricing_prob=0.05)).run(300))

    a, b, c = run(11), run(11), run(12)
    assert a == b
    assert a != c
    sim = MarketSimulator(SimConfig(seed=11, mispricing_prob=0.05))
    list(sim.run(300))
    assert sim.mispricings and all(abs(m.offset_bps) == 15.0 for m in sim.mispricings)
    assert isinstance(a[0], BookSnapshot) and all(isinstance(e, BookUpdate) for e in a[3:])


def test_simulated_mids_are_correlated_and_mispricing_moves_one_venue():
    sim = MarketSimulator(SimConfig(seed=3, mispricing_prob=0.0))
    spreads = []
    for _ in range(200):
        sim.step()
        mids = [sim.venue_mid(v.venue) for v in sim.config.venues]
        spreads.append((max(mids) - min(mids)) / sim.common_mid * 1e4)
    assert max(spreads) < 30.0  # bps: venues stay within noise of the common walk
    with pytest.raises(ValueError, match="mispricing_prob"):
        SimConfig(seed=1, mispricing_prob=1.5)


def test_the_kit_catches_a_feed_that_serves_a_wrong_book():
    feed = SimulatedFeedAdapter(SimConfig(seed=1), "sim-alpha", steps=50)
    original = feed.maintainer.update

    def corrupting(symbol, bids, asks, ts, **kw):
        ok = original(symbol, bids, asks, ts, **kw)
        book = feed.maintainer.books[symbol]
        best = book.bids.best()
        if best is not None:
            book.bids.set(best, book.bids.size_at(best) + 1.0)  # silently wrong
        return ok

    feed.maintainer.update = corrupting  # type: ignore[method-assign]
    with pytest.raises(ConformanceError, match="differs from the emitted events"):
        asyncio.run(check_book_integrity(feed, ["BTC-USD"], max_events=100))


def test_manifest_validation_names_the_field():
    base = dict(
        name="x",
        version="1.0.0",
        venue="kraken",
        kind=AdapterKind.DATA_FEED,
        venue_kind=VenueKind.ORDER_BOOK,
        symbols=("BTC-USD",),
        capabilities=frozenset({Capability.BOOKS}),
        ir_range=DEFAULT_IR_RANGE,
    )
    assert AdapterManifest(**base).to_json_dict()["capabilities"] == ["books"]
    for field, value, match in [
        ("version", "1.0", "MAJOR.MINOR.PATCH"),
        ("symbols", ("btcusd",), "symbols entries"),
        ("endpoints", {"ws": "ftp://x"}, "endpoints"),
        ("ir_range", ">=1.0.0,<0.9.0", "ir_range"),
    ]:
        with pytest.raises(ManifestError, match=match):
            AdapterManifest(**{**base, field: value})


class ToyVenue:
    """A one-level book venue used only to exercise the execution checks (the SDK contract, minimal)."""

    manifest: ClassVar[AdapterManifest] = AdapterManifest(
        ir_range=DEFAULT_IR_RANGE,
        name="toy",
        version="0.0.1",
        venue="toy",
        kind=AdapterKind.EXECUTION,
        venue_kind=VenueKind.ORDER_BOOK,
        symbols=("BTC-USD",),
        capabilities=frozenset({Capability.IOC_LIMIT, Capability.CLIENT_ORDER_IDS}),
    )

    def __init__(self, listener: ExecutionListener) -> None:
        self.listener = listener
        self.ask = (Decimal(100), Decimal(2))
        self.orders: dict[str, OrderEvent] = {}

    def _emit(self, event: OrderEvent) -> None:
        self.orders[event.client_order_id] = event
        self.listener(event)

    def submit(self, order: OrderRequest, role: str = "leg") -> None:
        if order.client_order_id in self.orders:
            self.listener(self.orders[order.client_order_id])
            return
        if order.instrument != "BTC-USD":
            error = InvalidOrder(f"unknown instrument {order.instrument}")
            self._emit(
                OrderEvent(
                    order.client_order_id,
                    "toy",
                    order.instrument,
                    OrderStatus.REJECTED,
                    Decimal(0),
                    Decimal(0),
                    0,
                    reason=refusal(error),
                )
            )
            return
        price, size = self.ask
        qty = min(size, order.size) if order.side is Side.BUY and order.limit_price >= price else Decimal(0)
        if qty:
            self.listener(
                FillEvent.of_order(
                    order,
                    fill_id="f1",
                    price=price,
                    size=qty,
                    fee=Decimal(0),
                    liquidity=Liquidity.TAKER,
                    ts_ms=0,
                )
            )
        status = OrderStatus.FILLED if qty == order.size else OrderStatus.CANCELLED
        self._emit(
            OrderEvent(
                order.client_order_id,
                "toy",
                order.instrument,
                status,
                qty,
                Decimal(0),
                0,
                exchange_order_id=f"v-{len(self.orders)}",
            )
        )

    def cancel(self, client_order_id: str) -> None:
        pass  # IOC only: nothing ever rests

    def fetch_order(self, client_order_id: str) -> OrderEvent:
        if client_order_id not in self.orders:
            raise OrderNotFound(client_order_id)
        return self.orders[client_order_id]

    def balances(self) -> Mapping[str, Balance]:
        return {"USD": Balance("USD", Decimal(1000), Decimal(0))}


class TestToyExecutionConformance(ExecutionConformance):
    def make_execution(self, listener):
        return ToyVenue(listener)

    def marketable_order(self, client_order_id):
        return ioc_order(
            "toy", "BTC-USD", Side.BUY, Decimal(1), Decimal(101), client_order_id=client_order_id
        )

    def unmarketable_order(self, client_order_id):
        return ioc_order("toy", "BTC-USD", Side.BUY, Decimal(1), Decimal(99), client_order_id=client_order_id)

    def error_cases(self) -> list[tuple[OrderRequest, type[AdapterError]]]:
        return [
            (
                ioc_order("toy", "DOGE-USD", Side.BUY, Decimal(1), Decimal(1), client_order_id="bad-sym"),
                InvalidOrder,
            )
        ]


def test_order_request_validates_at_the_boundary():
    with pytest.raises(InvalidOrder, match="size must be finite"):
        ioc_order("toy", "BTC-USD", Side.BUY, Decimal("NaN"), Decimal(1), client_order_id="a")
    with pytest.raises(InvalidOrder, match="size must be a Decimal"):
        ioc_order("toy", "BTC-USD", Side.BUY, "1", Decimal(1), client_order_id="a")  # type: ignore[arg-type]
    with pytest.raises(InvalidOrder, match="client_order_id"):
        ioc_order("toy", "BTC-USD", Side.BUY, Decimal(1), Decimal(1), client_order_id="has space")
    with pytest.raises(InvalidOrder, match="client_order_id"):
        ioc_order("toy", "BTC-USD", Side.BUY, Decimal(1), Decimal(1), client_order_id="x" * 37)
    with pytest.raises(InvalidOrder, match="deadline_ms"):
        ioc_order("toy", "BTC-USD", Side.BUY, Decimal(1), Decimal(1), client_order_id="a", deadline_ms=-1)
