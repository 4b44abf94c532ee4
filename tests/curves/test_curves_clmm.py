"""Concentrated liquidity: cost equals an independent tick walk; CPMM as a special case; gaps; bad pools."""

from __future__ import annotations

import math

import pytest
from curve_strategies import clmms
from hypothesis import given, settings
from hypothesis import strategies as st

from sdk.curves.base import CostCurve, CurveInputError
from sdk.curves.clmm import MAX_TICK, MIN_TICK, ConcentratedLiquidityCurve, tick_to_sqrt_price
from sdk.curves.cpmm import ConstantProductCurve


def walk_cost(pool: ConcentratedLiquidityCurve, x: float) -> float:
    """Quote paid (x > 0) or received (x < 0, negative) by stepping through the ticks with sqrt prices."""
    g = 1.0 - pool.fee
    s, liq = pool.sqrt_price, pool.liquidity
    if x >= 0.0:
        bounds = [(tick_to_sqrt_price(t), n) for t, n in pool.ticks if tick_to_sqrt_price(t) > s]
        bounds.append((tick_to_sqrt_price(MAX_TICK), 0.0))
        left, quote = x, 0.0
        for b, net in bounds:
            if left <= 0.0:
                break
            if liq > 0.0:
                room = liq * (1.0 / s - 1.0 / b)
                if left <= room:  # s_new = 1 / (1/s - left/L); s_new - s written without cancellation
                    return quote + liq * (s * s * left / (liq - s * left)) / g
                quote += liq * (b - s) / g
                left -= room
            s, liq = b, max(liq + net, 0.0)
        return quote
    bounds = [(tick_to_sqrt_price(t), n) for t, n in reversed(pool.ticks) if tick_to_sqrt_price(t) <= s]
    bounds.append((tick_to_sqrt_price(MIN_TICK), 0.0))
    left, quote = -x * g, 0.0  # base reaching the curve after the fee
    for b, net in bounds:
        if left <= 0.0:
            break
        if liq > 0.0 and b < s:
            room = liq * (1.0 / b - 1.0 / s)
            if left <= room:  # s_new = 1 / (1/s + left/L)
                return quote - liq * (s * s * left / (liq + s * left))
            quote -= liq * (s - b)
            left -= room
        s, liq = b, max(liq - net, 0.0)
    return quote


@settings(max_examples=300, deadline=None)
@given(pool=clmms(), fracs=st.lists(st.floats(0.0, 1.0), min_size=1, max_size=4))
def test_cost_equals_an_independent_tick_walk(pool: ConcentratedLiquidityCurve, fracs: list[float]) -> None:
    for f in fracs:
        for x in (f * pool.upper, f * pool.lower):
            want = walk_cost(pool, x)
            assert pool.cost(x) == pytest.approx(want, rel=1e-9, abs=1e-12 * (abs(want) + 1e-300))


def test_single_wide_position_is_a_cpmm_on_virtual_reserves() -> None:
    s0 = math.sqrt(2000.0)
    liq = 1e6
    pool = ConcentratedLiquidityCurve(
        s0, liq, [(-600_000, liq), (600_000, -liq)], fee=0.003, max_buy=10.0, max_sell=10.0
    )
    cpmm = ConstantProductCurve(liq / s0, liq * s0, fee=0.003, max_buy=10.0, max_sell=10.0)
    assert isinstance(pool, CostCurve)
    for x in (-10.0, -1.0, -1e-6, 0.0, 1e-6, 3.0, 10.0):
        assert pool.cost(x) == pytest.approx(cpmm.cost(x), rel=1e-12)
    for x in (-9.0, -1.0, -1e-6, 0.0, 1e-6, 3.0, 9.0):
        assert pool.marginal(x) == pytest.approx(cpmm.marginal(x), rel=1e-12)
    for v, rho in ((0.05, 1e4), (-0.2, 1e4), (1.0, 1e-3), (-3.0, 10.0)):
        assert pool.prox(v, rho) == pytest.approx(cpmm.prox(v, rho), rel=1e-9, abs=1e-12)
    assert pool.price == pytest.approx(2000.0)


def test_a_liquidity_gap_is_a_kink() -> None:
    """Two positions with an empty range between them: the marginal price jumps across the gap."""
    s0 = tick_to_sqrt_price(5)
    liq = 1000.0
    pool = ConcentratedLiquidityCurve(s0, liq, [(0, liq), (10, -liq), (20, liq), (30, -liq)], fee=0.0)
    first = liq * (1.0 / s0 - 1.0 / tick_to_sqrt_price(10))
    left, right = pool.marginal(first)
    assert left == pytest.approx(tick_to_sqrt_price(10) ** 2)
    assert right == pytest.approx(tick_to_sqrt_price(20) ** 2)
    assert pool.upper == pytest.approx(
        first + liq * (1.0 / tick_to_sqrt_price(20) - 1.0 / tick_to_sqrt_price(30))
    )
    # a v whose h-value falls in the jump lands exactly on the joint
    rho = 1.0
    v = first + 0.5 * (left + right) / rho
    assert pool.prox(v, rho) == first


def test_price_on_a_tick_counts_that_tick_as_crossed() -> None:
    s0 = tick_to_sqrt_price(100)
    pool = ConcentratedLiquidityCurve(s0, 500.0, [(100, 500.0), (200, -500.0)], fee=0.0)
    assert pool.lower == 0.0  # nothing below the current tick
    assert pool.upper > 0.0


def test_empty_pool_never_trades() -> None:
    pool = ConcentratedLiquidityCurve(1.0, 0.0, [])
    assert (pool.lower, pool.upper) == (0.0, 0.0)
    assert pool.prox(5.0, 1.0) == 0.0
    assert pool.cost(0.0) == 0.0


@pytest.mark.parametrize(
    ("args", "kwargs", "field"),
    [
        ((1.0, 1.0, [(MAX_TICK + 1, 1.0)]), {}, "ticks[0] tick must be in"),
        ((1.0, 1.0, [(MIN_TICK - 1, 1.0)]), {}, "ticks[0] tick must be in"),
        ((1.0, 1.0, [(10, 1.0), (5, -1.0)]), {}, "strictly ascending"),
        ((1.0, 1.0, [(10.5, 1.0)]), {}, "ticks[0] tick must be an int"),
        ((1.0, 1.0, [(10, math.nan)]), {}, "liquidity_net"),
        ((1.0, 1.0, [(10, -5.0)]), {}, "liquidity becomes negative"),
        ((1.0, 1.0, [(15, 1.0)]), {"tick_spacing": 10}, "multiple of tick_spacing"),
        ((1.0, 1.0, []), {"tick_spacing": 0}, "tick_spacing"),
        ((0.0, 1.0, []), {}, "sqrt_price"),
        ((1e30, 1.0, []), {}, "sqrt_price must be within the tick range"),
        ((1.0, -1.0, []), {}, "liquidity"),
        ((1.0, 1.0, []), {"fee": 1.0}, "fee"),
        ((1.0, 1.0, [(1, 2, 3)]), {}, "ticks[0] must be a (tick, liquidity_net) pair"),
    ],
)
def test_bad_pools_are_refused(args: tuple[object, ...], kwargs: dict[str, object], field: str) -> None:
    import re

    with pytest.raises(CurveInputError, match=re.escape(field)):
        ConcentratedLiquidityCurve(*args, **kwargs)  # type: ignore[arg-type]
