"""Perpetual: funding carry is a linear term (longs pay when the rate is positive), margin is a box."""

from __future__ import annotations

import math

import pytest
from curve_strategies import perps, prox_inputs
from hypothesis import given, settings
from hypothesis import strategies as st

from sdk.curves.base import CurveInputError
from sdk.curves.order_book import OrderBookCurve
from sdk.curves.perp import PerpetualCurve

BOOK = OrderBookCurve([(99.0, 10.0), (98.0, 10.0)], [(101.0, 10.0), (102.0, 10.0)], book_usage=1.0)


def test_funding_carry_is_linear_and_longs_pay_positive_rates() -> None:
    perp = PerpetualCurve(BOOK, mark_price=100.0, funding_rate_per_hour=1e-4, horizon_hours=8.0)
    carry = 1e-4 * 8.0 * 100.0
    assert perp.carry == pytest.approx(carry)
    assert perp.cost(2.0) == pytest.approx(BOOK.cost(2.0) + 2.0 * carry)
    assert perp.cost(-2.0) == pytest.approx(BOOK.cost(-2.0) - 2.0 * carry)  # shorts receive
    assert perp.marginal(0.0) == pytest.approx((99.0 + carry, 101.0 + carry))
    negative = PerpetualCurve(BOOK, mark_price=100.0, funding_rate_per_hour=-1e-4, horizon_hours=8.0)
    assert negative.cost(1.0) < BOOK.cost(1.0)


def test_margin_limits_the_position_and_allows_only_reduction_beyond_it() -> None:
    perp = PerpetualCurve(BOOK, mark_price=100.0, margin=100.0, max_leverage=5.0)  # |pos| * 100 <= 500
    assert (perp.lower, perp.upper) == (-5.0, 5.0)
    long = PerpetualCurve(BOOK, mark_price=100.0, margin=100.0, max_leverage=5.0, position=3.0)
    assert (long.lower, long.upper) == (-8.0, 2.0)
    over = PerpetualCurve(BOOK, mark_price=100.0, margin=100.0, max_leverage=5.0, position=7.0)
    assert over.upper == 0.0 and over.lower == -12.0
    assert over.marginal(0.0)[1] == math.inf
    assert math.isinf(perp.cost(5.5))
    assert perp.prox(1e9, 1.0) == 5.0


@settings(max_examples=300, deadline=None)
@given(perp=perps(), data=st.data())
def test_prox_is_the_book_prox_at_a_shifted_point_clipped(perp: PerpetualCurve, data: st.DataObject) -> None:
    v, rho = data.draw(prox_inputs(perp))
    want = min(max(perp.book.prox(v - perp.carry / rho, rho), perp.lower), perp.upper)
    assert perp.prox(v, rho) == want
    lo, hi = perp.demand(perp.book.marginal(0.0)[1] + perp.carry if perp.book.upper > 0 else 1.0)
    assert perp.lower <= lo <= hi <= perp.upper


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"mark_price": 0.0}, "mark_price"),
        ({"mark_price": math.nan}, "mark_price"),
        ({"mark_price": 100.0, "funding_rate_per_hour": math.inf}, "funding_rate_per_hour"),
        ({"mark_price": 100.0, "horizon_hours": -1.0}, "horizon_hours"),
        ({"mark_price": 100.0, "margin": -1.0}, "margin"),
        ({"mark_price": 100.0, "margin": math.nan}, "margin"),
        ({"mark_price": 100.0, "max_leverage": 0.0}, "max_leverage"),
        ({"mark_price": 100.0, "position": math.nan}, "position"),
    ],
)
def test_bad_perps_are_refused(kwargs: dict[str, float], field: str) -> None:
    with pytest.raises(CurveInputError, match=field):
        PerpetualCurve(BOOK, **kwargs)


def test_book_must_be_an_order_book() -> None:
    with pytest.raises(CurveInputError, match="book must be an OrderBookCurve"):
        PerpetualCurve("not a book", mark_price=1.0)  # type: ignore[arg-type]
    perp = PerpetualCurve(BOOK, mark_price=100.0)
    with pytest.raises(CurveInputError, match="rho"):
        perp.prox(1.0, 0.0)
