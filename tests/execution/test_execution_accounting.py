"""Capital conservation and PnL = sum of fills minus fees, over random fill sequences."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from agents.execution.accounting import Portfolio, Position, apply_fill
from sdk.adapters.execution import FillEvent, Liquidity, Side

D = Decimal

prices = st.decimals(min_value=D("0.01"), max_value=D("100000"), places=2)
sizes = st.decimals(min_value=D("0.001"), max_value=D("1000"), places=3)
fee_bps = st.integers(min_value=0, max_value=100)
venues = st.sampled_from(["a", "b", "c"])
assets = st.sampled_from(["SOL", "BTC"])
fill_specs = st.lists(
    st.tuples(venues, assets, st.sampled_from(list(Side)), prices, sizes, fee_bps), max_size=40
)


def make_fill(
    n: int, venue: str, asset: str, side: Side, price: Decimal, size: Decimal, bps: int
) -> FillEvent:
    return FillEvent(
        fill_id=f"f{n}",
        client_order_id=f"o{n}",
        plan_id=f"p{n % 3}",
        venue=venue,
        instrument=f"{asset}-USD",
        asset=asset,
        side=side,
        price=price,
        size=size,
        fee=price * size * bps / D(10_000),
        liquidity=Liquidity.TAKER,
        ts_ms=n,
    )


@settings(max_examples=200, deadline=None)
@given(fill_specs)
def test_capital_conservation(specs: list[tuple[str, str, Side, Decimal, Decimal, int]]) -> None:
    portfolio = Portfolio.starting_with({"a": D(1000), "b": D(2000), "c": D(0)})
    for n, spec in enumerate(specs):
        portfolio.apply(make_fill(n, *spec))
        assert portfolio.conservation_gap() == 0
    for venue in ("a", "b", "c"):
        start = portfolio.starting_cash.get(venue, D(0))
        assert portfolio.cash.get(venue, D(0)) + portfolio.cost_of(venue) == start + portfolio.realised.get(
            venue, D(0)
        )


@settings(max_examples=200, deadline=None)
@given(fill_specs)
def test_pnl_is_fills_minus_fees_once_flat(specs: list[tuple[str, str, Side, Decimal, Decimal, int]]) -> None:
    portfolio = Portfolio.starting_with({})
    all_fills = [make_fill(n, *spec) for n, spec in enumerate(specs)]
    # Close every position at the end so realised PnL is everything.
    closing: list[FillEvent] = []
    net: dict[tuple[str, str], Decimal] = {}
    for f in all_fills:
        net[(f.venue, f.asset)] = net.get((f.venue, f.asset), D(0)) + f.signed_size
    for n, ((venue, asset), qty) in enumerate(sorted(net.items())):
        if qty != 0:
            side = Side.SELL if qty > 0 else Side.BUY
            closing.append(make_fill(10_000 + n, venue, asset, side, D("77.77"), abs(qty), 5))
    for f in [*all_fills, *closing]:
        portfolio.apply(f)
    assert all(p.quantity == 0 and p.cost == 0 for p in portfolio.positions.values())
    proceeds = sum((-f.side.sign * f.price * f.size for f in [*all_fills, *closing]), D(0))
    fees = sum((f.fee for f in [*all_fills, *closing]), D(0))
    assert portfolio.total_realised == proceeds - fees
    assert sum(portfolio.plan_cash_flow.values(), D(0)) == proceeds - fees


def test_partial_close_and_flip() -> None:
    pos = Position()
    assert apply_fill(pos, D(3), D(10), D("0.1")) == D("-0.1")
    assert apply_fill(pos, D(-1), D(13), D(0)) == D(3)  # sold 1 bought at 10 for 13
    assert (pos.quantity, pos.cost) == (D(2), D(20))
    assert apply_fill(pos, D(-5), D(8), D(0)) == D(-4)  # close 2 at a 2 loss each, then short 3
    assert (pos.quantity, pos.cost) == (D(-3), D(-24))
    assert apply_fill(pos, D(3), D(6), D(0)) == D(6)  # buy back the short 2 below
    assert (pos.quantity, pos.cost) == (D(0), D(0))
