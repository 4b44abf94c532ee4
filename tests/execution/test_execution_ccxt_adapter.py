"""The SDK's execution conformance kit, run against the live venue (``CcxtVenue``) and the fake Binance."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest

from agents.execution.clock import SystemClock
from agents.execution.live import CcxtVenue, LiveInstrument, make_exchange
from agents.execution.outbox import Outbox
from sdk.adapters.conformance import ExecutionConformance, OrderLog, ioc_order
from sdk.adapters.events import Side
from sdk.adapters.execution import (
    AdapterError,
    FillEvent,
    InsufficientFunds,
    InvalidOrder,
    OrderEvent,
    OrderRequest,
    OrderStatus,
)
from sdk.adapters.interfaces import ExecutionAdapter, ExecutionListener
from tests.execution.fake_binance import API_KEY, SECRET, FakeBinance

D = Decimal


class TestCcxtVenueConformance(ExecutionConformance):
    @pytest.fixture(autouse=True)
    def _venue(self) -> Iterator[None]:
        with FakeBinance() as fake:
            fake.add_symbol("SOLUSDT", "SOL", "USDT", [("99.5", "50")], [("100.1", "50")])
            fake.state.max_order_notional = D(10_000)
            self.fake = fake
            yield

    def make_execution(self, listener: ExecutionListener) -> ExecutionAdapter:
        exchange = make_exchange("binance", base_url=self.fake.url, api_key=API_KEY, secret=SECRET)
        return CcxtVenue(
            "binance",
            exchange,
            outbox=Outbox.sqlite(),
            clock=SystemClock(),
            listener=listener,
            instruments={"SOL-USDT": LiveInstrument("SOL/USDT", "SOL", D("0.001"), D("0.01"))},
        )

    def marketable_order(self, client_order_id: str) -> OrderRequest:
        return ioc_order(
            "binance", "SOL-USDT", Side.BUY, D("1.5"), D("100.2"), client_order_id=client_order_id
        )

    def unmarketable_order(self, client_order_id: str) -> OrderRequest:
        return ioc_order("binance", "SOL-USDT", Side.BUY, D(1), D(90), client_order_id=client_order_id)

    def error_cases(self) -> list[tuple[OrderRequest, type[AdapterError]]]:
        return [
            (
                ioc_order("binance", "XRP-USDT", Side.BUY, D(1), D(1), client_order_id="unknown-symbol"),
                InvalidOrder,
            ),
            (
                ioc_order("binance", "SOL-USDT", Side.BUY, D(200), D("100.2"), client_order_id="too-big"),
                InsufficientFunds,
            ),
        ]

    def test_fills_and_balances(self) -> None:
        log = OrderLog()
        adapter = self.make_execution(log)
        adapter.submit(self.marketable_order("fills-1"))
        final = [e for e in log.events if isinstance(e, OrderEvent)][-1]
        assert (final.status, final.filled) == (OrderStatus.FILLED, D("1.5"))
        assert [e.client_order_id for e in log.events if isinstance(e, FillEvent)] == ["fills-1"]
        assert adapter.balances()["USDT"].free == D(100_000)
        assert self.fake.client_order_ids() == ["fills-1"]
