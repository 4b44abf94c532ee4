"""Constant-product curve: cost from the invariant, no-trade band, closed-form arbitrage vs Uniswap v2."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from curve_strategies import cpmms, log_uniform
from hypothesis import given, settings
from hypothesis import strategies as st

from sdk.curves.base import CostCurve, CurveInputError
from sdk.curves.cpmm import ConstantProductCurve


@settings(max_examples=200, deadline=None)
@given(
    x_res=log_uniform(1e-3, 1e7),
    price=log_uniform(1e-3, 1e5),
    fee=st.sampled_from([0.0, 0.003, 0.01]),
    frac=st.floats(0.0, 1.0),
)
def test_cost_keeps_the_invariant(x_res: float, price: float, fee: float, frac: float) -> None:
    """Quote in (after fee) and base out keep ``(X - out)(Y + gamma * in) = X Y``, and vice versa."""
    y_res = x_res * price
    pool = ConstantProductCurve(x_res, y_res, fee=fee)
    gamma = 1.0 - fee
    buy = frac * pool.upper
    paid = pool.cost(buy)
    assert (x_res - buy) * (y_res + gamma * paid) == pytest.approx(x_res * y_res, rel=1e-12)
    sell = frac * -pool.lower
    proceeds = -pool.cost(-sell)
    assert (x_res + gamma * sell) * (y_res - proceeds) == pytest.approx(x_res * y_res, rel=1e-12)


def test_no_trade_band_and_marginals() -> None:
    pool = ConstantProductCurve(100.0, 10_000.0, fee=0.003)
    g = 0.997
    assert isinstance(pool, CostCurve)
    assert pool.marginal(0.0) == pytest.approx((g * 100.0, 100.0 / g))
    for v in (99.8, 100.0, 100.2):  # rho = 1: the band is rho * v in [gamma P, P / gamma]
        assert pool.prox(v, 1.0) == 0.0
    assert pool.prox(101.0, 1.0) > 0.0
    assert pool.prox(99.0, 1.0) < 0.0
    x = 2.0
    assert pool.marginal(x)[0] == pytest.approx(100.0 * 10_000.0 / (g * (100.0 - x) ** 2))
    assert pool.marginal(-x)[0] == pytest.approx(g * 100.0 * 10_000.0 / (100.0 + g * x) ** 2)


def test_default_box_limits_the_price_move_to_100x() -> None:
    pool = ConstantProductCurve(100.0, 10_000.0, fee=0.0)
    assert pool.upper == pytest.approx(90.0)
    assert pool.lower == pytest.approx(-900.0)
    assert pool.marginal(pool.upper)[0] == pytest.approx(100.0 * 100.0)
    assert pool.marginal(pool.lower)[1] == pytest.approx(100.0 / 100.0)


@settings(max_examples=300, deadline=None)
@given(pool=cpmms(), factor=log_uniform(0.2, 5.0))
def test_arbitrage_to_price_maximises_value_at_target(pool: ConstantProductCurve, factor: float) -> None:
    target = pool.price * factor
    trade = pool.arbitrage_to_price(target)
    if trade.x == 0.0:
        assert pool.gamma * pool.price <= target <= pool.price / pool.gamma
        return
    # the marginal after the trade is the target, fees included
    big = ConstantProductCurve(
        pool.reserve_base,
        pool.reserve_quote,
        fee=pool.fee,
        max_buy=0.9999 * pool.reserve_base,
        max_sell=1e6 * pool.reserve_base,
    )
    assert big.marginal(trade.x)[0] == pytest.approx(target, rel=1e-9)
    assert trade.profit_at_target >= 0.0
    for nudge in (0.999, 1.001):
        other = trade.x * nudge
        assert target * other - big.cost(other) <= trade.profit_at_target * (1 + 1e-12) + 1e-12 * abs(
            trade.cost
        )
    lo, hi = pool.demand(target)
    # Near the no-trade band x = X (1 - sqrt(p0/p)) is ill-conditioned: rounding the target moves x by about
    # eps * X whatever the box, so the absolute tolerance scales with the reserve, not with the (possibly
    # tiny) box (seen: factor 1 - 1.4e-11, two exact-to-rounding formulas 1.1e-16 apart, box 7e-9).
    assert (
        lo
        == hi
        == pytest.approx(
            min(max(trade.x, pool.lower), pool.upper),
            rel=1e-9,
            abs=1e-12 * max(pool.upper, pool.reserve_base),
        )
    )


def _v2_vectors(shared_data: Path) -> dict[str, object]:
    path = shared_data / "amm" / "uniswap_v2" / "uniswap_v2_vectors.json"
    data: dict[str, object] = json.loads(path.read_text())
    return data


@pytest.mark.shared
def test_arbitrage_matches_uniswap_v2_swap_to_price(shared_data: Path) -> None:
    """``computeProfitMaximizingTrade`` (integers, sqrt-floored) agrees with the real-number closed form."""
    section = _v2_vectors(shared_data)["swap_to_price_profit_maximizing_trade"]
    assert isinstance(section, dict)
    r0, r1 = int(section["reserve0"]), int(section["reserve1"])
    pool = ConstantProductCurve(float(r0), float(r1), fee=0.003)
    for case in section["cases"]:
        target = int(case["truePriceToken1"]) / int(case["truePriceToken0"])  # token1 per token0
        trade = pool.arbitrage_to_price(target)
        if case["tokenIn"] == "token0":  # selling base into the pool
            assert -trade.x == pytest.approx(int(case["amountIn"]), rel=1e-9)
            assert -trade.cost == pytest.approx(int(case["amountOut"]), rel=1e-9)
        else:  # buying base with quote
            assert trade.cost == pytest.approx(int(case["amountIn"]), rel=1e-9)
            assert trade.x == pytest.approx(int(case["amountOut"]), rel=1e-9)


@pytest.mark.shared
def test_arbitrage_matches_uniswap_v2_reserves_after_arbitrage(shared_data: Path) -> None:
    section = _v2_vectors(shared_data)["reserves_after_arbitrage"]
    assert isinstance(section, dict)
    r0, r1 = int(section["reserve0"]), int(section["reserve1"])
    pool = ConstantProductCurve(float(r0), float(r1), fee=0.003)
    checked = 0
    for case in section["cases"]:
        try:
            a, b = int(case["truePriceTokenA"]), int(case["truePriceTokenB"])
        except ValueError:  # the MaxUint256 case is about integer overflow, not economics
            continue
        trade = pool.arbitrage_to_price(b / a)
        after_a = r0 - trade.x  # base out (buy) or gross base in (sell); v2 keeps the fee in the pool
        after_b = r1 + trade.cost  # gross quote in (buy) or quote out (sell, cost < 0)
        assert after_a == pytest.approx(int(case["reserveA"]), rel=1e-9)
        assert after_b == pytest.approx(int(case["reserveB"]), rel=1e-9)
        checked += 1
    assert checked == 6


@pytest.mark.parametrize(
    ("args", "kwargs", "field"),
    [
        ((0.0, 100.0), {}, "reserve_base"),
        ((100.0, 0.0), {}, "reserve_quote"),
        ((-1.0, 100.0), {}, "reserve_base"),
        ((math.nan, 100.0), {}, "reserve_base"),
        ((100.0, math.inf), {}, "reserve_quote"),
        ((100.0, 100.0), {"fee": 1.0}, "fee"),
        ((100.0, 100.0), {"fee": -0.1}, "fee"),
        ((100.0, 100.0), {"max_buy": 100.0}, "max_buy"),
        ((100.0, 100.0), {"max_sell": -1.0}, "max_sell"),
    ],
)
def test_bad_pools_are_refused(args: tuple[float, float], kwargs: dict[str, float], field: str) -> None:
    with pytest.raises(CurveInputError, match=field):
        ConstantProductCurve(*args, **kwargs)


def test_bad_target_price_is_refused() -> None:
    pool = ConstantProductCurve(100.0, 10_000.0)
    for bad in (0.0, -1.0, math.nan):
        with pytest.raises(CurveInputError, match="target_price"):
            pool.arbitrage_to_price(bad)


def test_zero_box_pool_never_trades() -> None:
    pool = ConstantProductCurve(100.0, 10_000.0, max_buy=0.0, max_sell=0.0)
    assert (pool.lower, pool.upper) == (0.0, 0.0)
    assert pool.prox(1e9, 1.0) == 0.0
    assert pool.demand(1e9) == (0.0, 0.0)
