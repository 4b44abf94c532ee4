"""The Whirlpool cost curve against the exact program math: convex, and its cost equals the exact swap
amounts up to the integer rounding of each step."""

from __future__ import annotations

import math

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from sdk.amm.whirlpool import (
    TICK_ARRAY_SIZE,
    Tick,
    TickArray,
    WhirlpoolState,
    sqrt_price_from_tick_index,
    start_tick_index_for,
)
from sdk.curves.base import CostCurve, CurveInputError
from sdk.curves.whirlpool import WhirlpoolCurve

SPACING = 64
SPAN = TICK_ARRAY_SIZE * SPACING


def build(
    tick: int, positions: list[tuple[int, int, int]], fee: int = 3000, *, decimals: tuple[int, int] = (0, 0)
) -> WhirlpoolCurve:
    """A pool at ``tick`` holding ``positions`` (lower, upper, liquidity) with arrays 3 each side."""
    nets: dict[int, int] = {}
    for lower, upper, liq in positions:
        nets[lower] = nets.get(lower, 0) + liq
        nets[upper] = nets.get(upper, 0) - liq
    active = sum(liq for lower, upper, liq in positions if lower <= tick < upper)
    pool = WhirlpoolState(sqrt_price_from_tick_index(tick), tick, active, SPACING, fee, 300)
    centre = start_tick_index_for(tick, SPACING)
    arrays = []
    for k in range(-3, 4):
        start = centre + k * SPAN
        ticks = {
            (t - start) // SPACING: Tick(net, abs(net))
            for t, net in nets.items()
            if start <= t < start + SPAN
        }
        arrays.append(TickArray(start, ticks))
    return WhirlpoolCurve(pool, arrays, decimals_a=decimals[0], decimals_b=decimals[1])


def test_is_a_cost_curve_with_the_no_trade_band() -> None:
    curve = build(0, [(-SPAN, SPAN, 10**15)])
    assert isinstance(curve, CostCurve)
    assert curve.cost(0.0) == 0.0
    left, right = curve.marginal(0.0)
    assert left == pytest.approx(curve.price * (1 - 0.003), rel=1e-12)
    assert right == pytest.approx(curve.price / (1 - 0.003), rel=1e-12)
    assert curve.prox(curve.price, 1.0) == 0.0  # inside the fee band: no trade
    assert curve.lower < 0.0 < curve.upper


def test_ends_at_the_tick_arrays_a_swap_can_use() -> None:
    curve = build(0, [(-100 * SPAN, 100 * SPAN, 10**15)])
    top = sqrt_price_from_tick_index(3 * SPAN - 1) / 2**64  # b-to-a from tick 0: arrays 0, 1, 2
    assert curve.upper == pytest.approx(10**15 * (1 - 1 / top), rel=1e-9)
    assert math.isinf(curve.exact_cost(curve.upper * 1.01))


def test_decimals_scale_price_and_amounts() -> None:
    raw = build(0, [(-SPAN, SPAN, 10**15)])
    scaled = build(0, [(-SPAN, SPAN, 10**15)], decimals=(9, 6))
    assert scaled.price == pytest.approx(raw.price * 1e3, rel=1e-12)
    assert scaled.exact_cost(1.0) == pytest.approx(raw.exact_cost(1e9) * 1e-6, rel=1e-12)


def test_rejects_bad_decimals() -> None:
    with pytest.raises(CurveInputError, match="decimals_a"):
        build(0, [(-SPAN, SPAN, 10**15)], decimals=(-1, 0))


positions_st = st.lists(
    st.tuples(st.integers(-40, 39), st.integers(1, 40), st.integers(10**9, 10**16)), min_size=1, max_size=5
)


@settings(max_examples=150, deadline=None)
@given(
    tick=st.integers(-2000, 2000),
    raw_positions=positions_st,
    fee=st.integers(0, 30_000),
    fraction=st.floats(-0.999, 0.999),
)
def test_cost_matches_exact_swap_amounts_within_rounding(
    tick: int, raw_positions: list[tuple[int, int, int]], fee: int, fraction: float
) -> None:
    positions = [(lo * 128, (lo + w) * 128, liq) for lo, w, liq in raw_positions]
    curve = build(tick, positions, fee)
    x = fraction * (curve.upper if fraction > 0 else -curve.lower)
    assume(abs(x) >= 1.0)
    exact = curve.exact_cost(x)
    assume(math.isfinite(exact))  # the last raw unit of a range may not fill
    # what the float curve charges for the trade the program actually made (x rounded to a raw unit)
    approx = curve.cost(float(round(x)))
    steps = len(curve.segments) + 2
    tolerance = 2.0 * steps + 1e-9 * abs(approx)
    assert abs(exact - approx) <= tolerance
    if x > 0:
        assert exact >= approx - steps  # the pool rounds against the trader


@given(
    tick=st.integers(-2000, 2000),
    raw_positions=positions_st,
    v=st.floats(-1e13, 1e13),
    rho=st.floats(1e-6, 10),
)
def test_prox_is_optimal_on_the_exact_backed_curve(
    tick: int, raw_positions: list[tuple[int, int, int]], v: float, rho: float
) -> None:
    positions = [(lo * 128, (lo + w) * 128, liq) for lo, w, liq in raw_positions]
    curve = build(tick, positions)
    x = curve.prox(v, rho)
    assert curve.lower <= x <= curve.upper

    def objective(z: float) -> float:
        return curve.cost(z) + rho / 2 * (z - v) ** 2

    best = objective(x)
    for z in (x * (1 + 1e-6) + 1e-6, x * (1 - 1e-6) - 1e-6):
        if curve.lower <= z <= curve.upper:
            assert best <= objective(z) + 1e-9 * max(1.0, abs(best))
