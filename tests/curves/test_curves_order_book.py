"""Order-book curve: cost equals walking the book by hand; boxes, fees, usage cap; bad books refused."""

from __future__ import annotations

import math
import re

import pytest
from curve_strategies import ladders, log_uniform
from hypothesis import given, settings
from hypothesis import strategies as st

from sdk.curves.base import CostCurve, CurveInputError
from sdk.curves.order_book import OrderBookCurve, round_toward_zero
from sdk.curves.piecewise import PiecewiseLinearCurve

BIDS = [(99.0, 1.0), (98.0, 2.0), (97.0, 4.0)]
ASKS = [(101.0, 1.0), (102.0, 2.0), (103.0, 4.0)]


def walk(levels: list[tuple[float, float]], qty: float, unit: float) -> float:
    """Cash for ``qty`` units walked level by level at ``price * unit``; ``inf`` when the ladder runs out."""
    cash = 0.0
    total = sum(size for _, size in levels)
    for price, size in levels:
        take = min(size, qty)
        cash += take * price * unit
        qty -= take
        if qty <= 0.0:
            return cash
    return math.inf if qty > 1e-12 * total else cash  # leftover beyond rounding: the ladder ran out


def test_is_a_cost_curve_with_the_documented_shape() -> None:
    book = OrderBookCurve(BIDS, ASKS, taker_fee_bps=10.0, book_usage=1.0)
    assert isinstance(book, CostCurve)
    assert (book.lower, book.upper) == (-7.0, 7.0)
    assert book.cost(0.0) == 0.0
    assert book.cost(2.0) == pytest.approx(101.0 * 1.001 + 102.0 * 1.001)
    assert book.cost(-2.0) == pytest.approx(-(99.0 * 0.999 + 98.0 * 0.999))
    assert book.marginal(0.0) == pytest.approx((99.0 * 0.999, 101.0 * 1.001))
    assert book.marginal(1.0) == pytest.approx((101.0 * 1.001, 102.0 * 1.001))
    assert book.marginal(0.5) == pytest.approx((101.0 * 1.001,) * 2)
    assert book.mid == 100.0
    assert math.isinf(book.cost(7.5))


def test_book_usage_caps_every_level() -> None:
    book = OrderBookCurve(BIDS, ASKS)  # default 30% of displayed depth
    assert book.upper == pytest.approx(0.3 * 7.0)
    assert book.lower == pytest.approx(-0.3 * 7.0)
    assert book.knots[book.zero_index + 1] == pytest.approx(0.3)


@settings(max_examples=200, deadline=None)
@given(
    mid=log_uniform(1e-2, 1e5),
    data=st.data(),
    fee=st.sampled_from([0.0, 2.5, 10.0]),
    usage=st.sampled_from([0.3, 1.0]),
)
def test_cost_equals_walking_the_levels(mid: float, data: st.DataObject, fee: float, usage: float) -> None:
    bids, asks = data.draw(ladders(mid))
    book = OrderBookCurve(bids, asks, taker_fee_bps=fee, book_usage=usage)
    capped_asks = [(p, q * usage) for p, q in asks]
    capped_bids = [(p, q * usage) for p, q in bids]
    for frac in data.draw(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=5)):
        buy, sell = frac * book.upper, frac * -book.lower
        want_buy = walk(capped_asks, buy, 1 + fee / 1e4)
        want_sell = -walk(capped_bids, sell, 1 - fee / 1e4)
        assert book.cost(buy) == pytest.approx(want_buy, rel=1e-12, abs=1e-300)
        assert book.cost(-sell) == pytest.approx(want_sell, rel=1e-12, abs=1e-300)


def test_box_bounds_from_a_liquidity_budget() -> None:
    book = OrderBookCurve(BIDS, ASKS, book_usage=1.0, max_buy=2.5, max_sell=0.5)
    assert (book.lower, book.upper) == (-0.5, 2.5)
    assert book.prox(1e9, 1.0) == 2.5
    assert book.prox(-1e9, 1.0) == -0.5
    assert math.isinf(book.cost(2.6))
    assert book.marginal(2.5) == (102.0, math.inf)
    assert book.marginal(-0.5) == (-math.inf, 99.0)


def test_empty_and_one_sided_books_are_valid() -> None:
    empty = OrderBookCurve([], [])
    assert (empty.lower, empty.upper) == (0.0, 0.0)
    assert empty.prox(123.0, 1.0) == 0.0
    assert empty.marginal(0.0) == (-math.inf, math.inf)
    assert empty.demand(5.0) == (0.0, 0.0)
    asks_only = OrderBookCurve([], ASKS, book_usage=1.0)
    assert asks_only.lower == 0.0 and asks_only.upper == 7.0
    assert asks_only.prox(-1e6, 1.0) == 0.0
    assert asks_only.marginal(0.0) == (-math.inf, 101.0)
    bids_only = OrderBookCurve(BIDS, [], book_usage=1.0)
    assert bids_only.upper == 0.0 and bids_only.lower == -7.0
    assert bids_only.mid is None


def test_zero_size_levels_are_skipped() -> None:
    book = OrderBookCurve([(99.0, 0.0), (98.0, 1.0)], [(101.0, 0.0), (102.0, 1.0)], book_usage=1.0)
    assert book.slopes == (98.0, 102.0)
    assert book.marginal(0.0) == (98.0, 102.0)


def test_prox_closed_form_on_a_hand_example() -> None:
    book = OrderBookCurve(BIDS, ASKS, book_usage=1.0)
    # rho = 1: x + df(x) = v. In the first ask segment x = v - 101 for v in (101, 102).
    assert book.prox(101.5, 1.0) == pytest.approx(0.5)
    # between 102 and 103 the first knot x = 1 holds (h-interval [1 + 101, 1 + 102])
    assert book.prox(102.7, 1.0) == 1.0
    # inside the no-trade band [99, 101]
    assert book.prox(100.0, 1.0) == 0.0
    assert book.prox(98.5, 1.0) == pytest.approx(-0.5)


def test_demand_is_the_segment_at_a_level_price() -> None:
    book = OrderBookCurve(BIDS, ASKS, book_usage=1.0)
    assert book.demand(102.0) == (1.0, 3.0)
    assert book.demand(101.5) == (1.0, 1.0)
    assert book.demand(100.0) == (0.0, 0.0)
    assert book.demand(1e9) == (7.0, 7.0)
    assert book.demand(-1.0) == (-7.0, -7.0)


def test_lot_rounding_truncates_toward_zero() -> None:
    book = OrderBookCurve(BIDS, ASKS, lot_size=0.01, min_notional=10.0)
    assert book.round_to_lot(0.12345) == pytest.approx(0.12)
    assert book.round_to_lot(-0.12345) == pytest.approx(-0.12)
    assert round_toward_zero(0.3, 0.1) == pytest.approx(0.3)  # float noise does not drop a whole lot
    assert round_toward_zero(1.2345, 0.0) == 1.2345
    assert book.min_notional == 10.0


@pytest.mark.parametrize(
    ("bids", "asks", "kwargs", "field"),
    [
        ([(101.0, 1.0)], [(100.0, 1.0)], {}, "crossed"),
        ([(100.0, 1.0)], [(100.0, 1.0)], {}, "crossed or locked"),
        ([(99.0, -1.0)], ASKS, {}, "bids[0] size"),
        ([(math.nan, 1.0)], ASKS, {}, "bids[0] price"),
        (BIDS, [(math.inf, 1.0)], {}, "asks[0] price"),
        (BIDS, [(101.0, math.nan)], {}, "asks[0] size"),
        ([(0.0, 1.0)], ASKS, {}, "bids[0] price"),
        ([(98.0, 1.0), (99.0, 1.0)], ASKS, {}, "bids prices must be strictly descending"),
        (BIDS, [(102.0, 1.0), (101.0, 1.0)], {}, "asks prices must be strictly ascending"),
        (BIDS, [(102.0, 1.0), (102.0, 1.0)], {}, "asks prices must be strictly ascending"),
        (BIDS, [(101.0, 1.0, 3.0)], {}, "asks[0] must be a (price, size) pair"),
        (BIDS, ASKS, {"taker_fee_bps": -1.0}, "taker_fee_bps"),
        (BIDS, ASKS, {"taker_fee_bps": 10_000.0}, "taker_fee_bps"),
        (BIDS, ASKS, {"book_usage": 0.0}, "book_usage"),
        (BIDS, ASKS, {"book_usage": 1.5}, "book_usage"),
        (BIDS, ASKS, {"max_buy": -1.0}, "max_buy"),
        (BIDS, ASKS, {"max_sell": math.nan}, "max_sell"),
        (BIDS, ASKS, {"lot_size": -0.1}, "lot_size"),
    ],
)
def test_bad_books_are_refused_naming_the_field(
    bids: list[tuple[float, ...]], asks: list[tuple[float, ...]], kwargs: dict[str, float], field: str
) -> None:
    with pytest.raises(CurveInputError, match=re.escape(field)):
        OrderBookCurve(bids, asks, **kwargs)


def test_bad_calls_are_refused() -> None:
    book = OrderBookCurve(BIDS, ASKS)
    for rho in (0.0, -1.0, math.nan, math.inf):
        with pytest.raises(CurveInputError, match="rho"):
            book.prox(1.0, rho)
    with pytest.raises(CurveInputError, match="v must be finite"):
        book.prox(math.nan, 1.0)
    with pytest.raises(CurveInputError, match="x must be a number"):
        book.cost(math.nan)
    with pytest.raises(CurveInputError, match="x must be in"):
        book.marginal(100.0)
    with pytest.raises(CurveInputError, match="price"):
        book.demand(math.nan)


@pytest.mark.parametrize(
    ("knots", "slopes", "field"),
    [
        ([0.0, 1.0], [], "slopes must have"),
        ([0.0, 1.0, 1.0], [1.0, 2.0], "knots must increase"),
        ([-1.0, 0.0, 1.0], [2.0, 1.0], "slopes must not decrease"),
        ([1.0, 2.0], [1.0], "knots must include 0"),
        ([0.0, math.inf], [1.0], "knots"),
        ([], [], "knots must contain"),
    ],
)
def test_piecewise_refuses_non_convex_or_malformed(
    knots: list[float], slopes: list[float], field: str
) -> None:
    with pytest.raises(CurveInputError, match=field):
        PiecewiseLinearCurve(knots, slopes)
