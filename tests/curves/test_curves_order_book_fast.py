"""The order-book fast path builds the very curve the validating constructor builds, or raises its error.

- ``from_sorted_levels``, ``sorted_levels_builder`` and ``with_levels`` give bit-identical knots, slopes,
  costs, marginals, proxes and demands to ``OrderBookCurve(...)`` on valid books (fees, usage, boxes, zero
  sizes, sizes lost to rounding, one-sided and empty books);
- on every invalid input the constructor refuses, the fast path raises the same ``CurveInputError``;
- the running-sum ladder equals the per-step walk it replaced (kept here as the reference), on any steps;
- the cost table is built on the first ``cost`` call only.
"""

from __future__ import annotations

import math
import re
import struct
from collections.abc import Sequence
from decimal import Decimal
from itertools import pairwise
from typing import Any

import pytest
from curve_strategies import boxes, ladders, log_uniform
from hypothesis import given, settings
from hypothesis import strategies as st

from sdk.curves.base import CurveInputError
from sdk.curves.order_book import OrderBookCurve
from sdk.curves.piecewise import PiecewiseLinearCurve, ladder_knots

Level = tuple[float, float]
BIDS = [(99.0, 1.0), (98.0, 2.0), (97.0, 4.0)]
ASKS = [(101.0, 1.0), (102.0, 2.0), (103.0, 4.0)]


def bits(values: Sequence[float]) -> list[bytes]:
    """Exact float identity (tells -0.0 from 0.0, unlike ==)."""
    return [struct.pack("<d", v) for v in values]


def reference_ladder_knots(
    buy: Sequence[tuple[float, float]],
    sell: Sequence[tuple[float, float]],
    *,
    max_buy: float = math.inf,
    max_sell: float = math.inf,
) -> tuple[list[float], list[float]]:
    """The per-step walk ``ladder_knots`` used before the running-sum version (verbatim semantics)."""
    up: list[float] = [0.0]
    up_slopes: list[float] = []
    for price, qty in buy:
        if up[-1] >= max_buy:
            break
        nxt = min(up[-1] + qty, max_buy)
        if nxt > up[-1]:
            up.append(nxt)
            up_slopes.append(price)
    down: list[float] = [0.0]
    down_slopes: list[float] = []
    for price, qty in sell:
        if -down[-1] >= max_sell:
            break
        nxt = max(down[-1] - qty, -max_sell)
        if nxt < down[-1]:
            down.append(nxt)
            down_slopes.append(price)
    return down[:0:-1] + up, down_slopes[::-1] + up_slopes


def probes(curve: PiecewiseLinearCurve) -> list[float]:
    """Every knot, every segment midpoint, both ends and a point outside each end."""
    t = curve.knots
    mids = [0.5 * (a + b) for a, b in pairwise(t)]
    span = max(t[-1] - t[0], 1.0)
    return [*t, *mids, t[0] - span, t[-1] + span]


def assert_same_curve(fast: OrderBookCurve, ref: OrderBookCurve) -> None:
    assert type(fast) is type(ref)
    assert bits(fast.knots) == bits(ref.knots)
    assert bits(fast.slopes) == bits(ref.slopes)
    assert fast.zero_index == ref.zero_index
    assert (fast.bids, fast.asks) == (ref.bids, ref.asks)
    assert (fast.fee, fast.book_usage, fast.lot_size, fast.min_notional) == (
        ref.fee,
        ref.book_usage,
        ref.lot_size,
        ref.min_notional,
    )
    assert fast.mid == ref.mid
    for x in probes(ref):
        assert bits([fast.cost(x)]) == bits([ref.cost(x)])
        if ref.lower <= x <= ref.upper:
            assert bits(fast.marginal(x)) == bits(ref.marginal(x))
    slopes = ref.slopes
    prices = [*slopes, *(0.5 * (a + b) for a, b in pairwise(slopes)), -1.0, 1e300]
    for price in prices:
        assert bits(fast.demand(price)) == bits(ref.demand(price))
    scale = max(abs(s) for s in slopes) if slopes else 1.0
    width = max(ref.upper - ref.lower, 1e-9)
    for rho in (scale / width * 1e-3, scale / width, scale / width * 1e3):
        for v in (*probes(ref), *(s / rho for s in slopes)):
            assert bits([fast.prox(v, rho)]) == bits([ref.prox(v, rho)])


@st.composite
def books(
    draw: st.DrawFn,
) -> tuple[list[Level], list[Level], dict[str, Any]]:
    """Valid books with parameters: ``ladders`` (zero sizes included) plus sizes lost to rounding."""
    mid = draw(log_uniform(1e-3, 1e5))
    bids, asks = draw(ladders(mid))
    if draw(st.booleans()) and (bids or asks):  # a level that cannot move the running depth
        side = bids if bids else asks
        i = draw(st.integers(0, len(side) - 1))
        price, size = side[i]
        side[i] = (price, max(size, 1.0) * draw(st.sampled_from([1e-17, 1e-30, 5e-324])))
    depth = sum(q for _, q in bids + asks) + 1.0
    max_buy, max_sell = draw(st.one_of(st.just((None, None)), boxes(depth / 4)))
    params: dict[str, Any] = {
        "taker_fee_bps": draw(st.sampled_from([0.0, 1.0, 10.0, 50.0, 9999.0])),
        "book_usage": draw(st.sampled_from([0.05, 0.3, 1.0])),
        "lot_size": draw(st.sampled_from([0.0, 0.01])),
        "min_notional": draw(st.sampled_from([0.0, 10.0])),
        "max_buy": max_buy,
        "max_sell": max_sell,
    }
    return bids, asks, params


@settings(max_examples=300, deadline=None)
@given(book=books())
def test_from_sorted_levels_is_the_validated_curve_bit_for_bit(
    book: tuple[list[Level], list[Level], dict[str, Any]],
) -> None:
    bids, asks, params = book
    ref = OrderBookCurve(bids, asks, **params)
    assert_same_curve(OrderBookCurve.from_sorted_levels(bids, asks, **params), ref)
    assert_same_curve(OrderBookCurve.sorted_levels_builder(**params)(bids, asks), ref)
    assert_same_curve(OrderBookCurve.from_sorted_levels(tuple(bids), tuple(asks), **params), ref)


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_with_levels_reuses_a_side_and_equals_a_fresh_build(data: st.DataObject) -> None:
    bids, asks, params = data.draw(books())
    mid = data.draw(log_uniform(1e-3, 1e5))
    new_bids, new_asks = data.draw(ladders(mid))
    base = OrderBookCurve.sorted_levels_builder(**params)(bids, asks)
    for b, a in ((new_bids, None), (None, new_asks), (new_bids, new_asks), (None, None)):
        want_bids = bids if b is None else b
        want_asks = asks if a is None else a
        try:
            ref = OrderBookCurve(want_bids, want_asks, **params)
        except CurveInputError as exc:  # the new side may cross the kept one
            with pytest.raises(CurveInputError, match=re.escape(str(exc))):
                base.with_levels(b, a)
            continue
        assert_same_curve(base.with_levels(b, a), ref)
    # the constructor's curves can be updated too
    assert_same_curve(
        OrderBookCurve(bids, asks, **params).with_levels(bids=bids),
        OrderBookCurve(bids, asks, **params),
    )


def test_with_levels_keeps_the_other_side_as_is() -> None:
    base = OrderBookCurve.from_sorted_levels(BIDS, ASKS, taker_fee_bps=10.0, book_usage=1.0)
    moved = base.with_levels(asks=[(101.5, 3.0)])
    assert moved.bids is base.bids
    assert moved.knots == (-7.0, -3.0, -1.0, 0.0, 3.0)
    assert moved.slopes == (97.0 * 0.999, 98.0 * 0.999, 99.0 * 0.999, 101.5 * 1.001)
    assert base.knots == (-7.0, -3.0, -1.0, 0.0, 1.0, 3.0, 7.0)  # the base curve is untouched
    with pytest.raises(CurveInputError, match="crossed or locked"):
        base.with_levels(asks=[(99.0, 1.0)])


BAD_BOOKS = [
    ([(101.0, 1.0)], [(100.0, 1.0)], {}, "crossed"),
    ([(100.0, 1.0)], [(100.0, 1.0)], {}, "crossed or locked"),
    ([(99.0, -1.0)], ASKS, {}, "bids[0] size"),
    ([(99.0, 1.0), (98.0, -1.0)], ASKS, {}, "bids[1] size"),
    (BIDS, [(101.0, 1.0), (102.0, math.nan)], {}, "asks[1] size"),
    (BIDS, [(101.0, 1.0), (102.0, math.inf)], {}, "asks[1] size"),
    ([(math.nan, 1.0)], ASKS, {}, "bids[0] price"),
    ([(99.0, 1.0), (math.nan, 1.0)], ASKS, {}, "bids[1] price"),
    (BIDS, [(math.inf, 1.0)], {}, "asks[0] price"),
    (BIDS, [(101.0, 1.0), (math.inf, 1.0)], {}, "asks[1] price"),
    (BIDS, [(101.0, math.nan)], {}, "asks[0] size"),
    ([(0.0, 1.0)], ASKS, {}, "bids[0] price"),
    ([(99.0, 1.0), (-1.0, 1.0)], ASKS, {}, "bids[1] price"),
    ([(98.0, 1.0), (99.0, 1.0)], ASKS, {}, "bids prices must be strictly descending"),
    (BIDS, [(102.0, 1.0), (101.0, 1.0)], {}, "asks prices must be strictly ascending"),
    (BIDS, [(102.0, 1.0), (102.0, 1.0)], {}, "asks prices must be strictly ascending"),
    (BIDS, [(101.0, 1.0, 3.0)], {}, "asks[0] must be a (price, size) pair"),
    (BIDS, [(101.0,)], {}, "asks[0] must be a (price, size) pair"),
    (BIDS, [(1e308, 1.0), (1.79e308, 1.0)], {"taker_fee_bps": 50.0}, "slopes[4] must be finite"),
    (BIDS, [(101.0, 1e308), (102.0, 1e308)], {"book_usage": 1.0}, "knots[5] must be finite"),
    (BIDS, ASKS, {"taker_fee_bps": -1.0}, "taker_fee_bps"),
    (BIDS, ASKS, {"taker_fee_bps": 10_000.0}, "taker_fee_bps"),
    (BIDS, ASKS, {"book_usage": 0.0}, "book_usage"),
    (BIDS, ASKS, {"book_usage": 1.5}, "book_usage"),
    (BIDS, ASKS, {"max_buy": -1.0}, "max_buy"),
    (BIDS, ASKS, {"max_sell": math.nan}, "max_sell"),
    (BIDS, ASKS, {"lot_size": -0.1}, "lot_size"),
    ([(99.0, -1.0)], ASKS, {"lot_size": -0.1}, "bids[0] size"),  # levels are checked before parameters
]


@pytest.mark.parametrize(("bids", "asks", "kwargs", "field"), BAD_BOOKS)
def test_bad_books_raise_the_constructors_error(
    bids: list[tuple[float, ...]], asks: list[tuple[float, ...]], kwargs: dict[str, float], field: str
) -> None:
    with pytest.raises(CurveInputError) as want:
        OrderBookCurve(bids, asks, **kwargs)
    assert field in str(want.value)
    message = re.escape(str(want.value))
    with pytest.raises(CurveInputError, match=message):
        OrderBookCurve.from_sorted_levels(bids, asks, **kwargs)  # type: ignore[arg-type]
    if not kwargs:
        with pytest.raises(CurveInputError, match=message):
            OrderBookCurve.from_sorted_levels(BIDS, ASKS).with_levels(bids, asks)  # type: ignore[arg-type]


def test_a_builder_refuses_bad_parameters_up_front() -> None:
    with pytest.raises(CurveInputError, match="book_usage must be in"):
        OrderBookCurve.sorted_levels_builder(book_usage=2.0)
    with pytest.raises(CurveInputError, match="max_sell must be finite"):
        OrderBookCurve.sorted_levels_builder(max_sell=math.inf)


def test_other_number_types_take_the_constructor_path_or_agree_with_it() -> None:
    dec_bids = [(Decimal("99.5"), Decimal("1.25"))]
    dec_asks = [(Decimal("100.5"), Decimal("2"))]
    ref = OrderBookCurve(dec_bids, dec_asks, taker_fee_bps=5.0)  # type: ignore[arg-type]
    assert_same_curve(
        OrderBookCurve.from_sorted_levels(dec_bids, dec_asks, taker_fee_bps=5.0),  # type: ignore[arg-type]
        ref,
    )
    ints = OrderBookCurve.from_sorted_levels([(99, 1)], [(101, 2)], book_usage=1.0)
    assert bits(ints.knots) == bits(OrderBookCurve([(99, 1)], [(101, 2)], book_usage=1.0).knots)
    gen = OrderBookCurve.from_sorted_levels(iter(BIDS), iter(ASKS))  # type: ignore[arg-type]
    assert_same_curve(gen, OrderBookCurve(BIDS, ASKS))


steps_floats = st.one_of(
    st.just(0.0),
    st.floats(-1.0, 1.0),
    log_uniform(1e-30, 1e30),
    st.sampled_from([5e-324, 1e-17, 1.1102230246251565e-16, 2.220446049250313e-16, math.nan, math.inf]),
)


@settings(max_examples=500, deadline=None)
@given(
    buy=st.lists(st.tuples(log_uniform(1e-3, 1e5), steps_floats), max_size=12),
    sell=st.lists(st.tuples(log_uniform(1e-3, 1e5), steps_floats), max_size=12),
    max_buy=st.one_of(st.just(math.inf), st.just(0.0), st.floats(-1.0, 10.0), st.just(math.nan)),
    max_sell=st.one_of(st.just(math.inf), st.just(0.0), st.floats(-1.0, 10.0), st.just(math.nan)),
)
def test_running_sum_ladder_equals_the_per_step_walk(
    buy: list[tuple[float, float]],
    sell: list[tuple[float, float]],
    max_buy: float,
    max_sell: float,
) -> None:
    got = ladder_knots(buy, sell, max_buy=max_buy, max_sell=max_sell)
    want = reference_ladder_knots(buy, sell, max_buy=max_buy, max_sell=max_sell)
    assert bits(got[0]) == bits(want[0]) and bits(got[1]) == bits(want[1])


@settings(max_examples=200, deadline=None)
@given(
    big=log_uniform(1e-10, 1e10),
    ratios=st.lists(st.floats(2.0**-56, 2.0**-50), min_size=1, max_size=30),
)
def test_sizes_near_half_an_ulp_of_the_depth_are_kept_or_skipped_exactly_as_walked(
    big: float, ratios: list[float]
) -> None:
    buy = [(1.0 + i, big if i == 0 else big * r) for i, r in enumerate([1.0, *ratios])]
    got = ladder_knots(buy, buy)
    want = reference_ladder_knots(buy, buy)
    assert bits(got[0]) == bits(want[0]) and bits(got[1]) == bits(want[1])
    assert all(a < b for a, b in pairwise(got[0]))


def test_the_cost_table_is_built_on_the_first_cost_call_only() -> None:
    curve = OrderBookCurve.from_sorted_levels(BIDS, ASKS, book_usage=1.0)
    curve.prox(100.0, 1.0)
    curve.marginal(0.5)
    curve.demand(101.0)
    assert curve._f is None
    assert curve.cost(2.0) == 101.0 + 102.0
    table = curve._f
    assert table is not None and curve.cost(-1.0) == -99.0 and curve._f is table
    assert PiecewiseLinearCurve([-1.0, 0.0, 2.0], [1.0, 3.0]).cost(-1.0) == -1.0


@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_clean_books_never_fall_back_to_the_constructor(data: st.DataObject) -> None:
    bids, asks = data.draw(ladders(data.draw(log_uniform(1e-3, 1e5))))
    bids = [(p, q) for p, q in bids if q > 0.0]
    asks = [(p, q) for p, q in asks if q > 0.0]
    fee = data.draw(st.sampled_from([0.0, 10.0]))
    ref = OrderBookCurve(bids, asks, taker_fee_bps=fee)
    build = OrderBookCurve.sorted_levels_builder(taker_fee_bps=fee)
    original = OrderBookCurve.__init__

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the fast path fell back to the constructor")

    OrderBookCurve.__init__ = refuse  # type: ignore[method-assign]
    try:
        fast = build(bids, asks)
        half = fast.with_levels(bids=bids[1:])
    finally:
        OrderBookCurve.__init__ = original  # type: ignore[method-assign]
    assert_same_curve(fast, ref)
    assert_same_curve(half, OrderBookCurve(bids[1:], asks, taker_fee_bps=fee))
