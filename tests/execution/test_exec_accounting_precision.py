"""Cash is booked at the same precision as positions (conservation holds exactly off any price grid)."""

from __future__ import annotations

from decimal import Decimal

from agents.execution.accounting import Portfolio
from sdk.adapters.execution import FillEvent, Liquidity, Side


def _fill(fill_id: str, side: Side) -> FillEvent:
    return FillEvent(
        venue="v",
        plan_id="p",
        client_order_id="c",
        instrument="X-USD",
        asset="X",
        quote="USD",
        side=side,
        price=Decimal("17612.36759319687447761"),
        size=Decimal("1.571197764309871497"),
        fee=Decimal("0.518227913935318852"),
        liquidity=Liquidity.TAKER,
        ts_ms=1,
        fill_id=fill_id,
    )


def test_cash_and_positions_conserve_with_seventeen_digit_prices() -> None:
    """At Decimal's default 28 digits this pair of fills left a 1e-23 conservation gap."""
    portfolio = Portfolio.starting_with({"v": Decimal(1000)})
    portfolio.apply(_fill("f1", Side.SELL))
    portfolio.apply(_fill("f2", Side.SELL))
    assert portfolio.conservation_gap() == 0
