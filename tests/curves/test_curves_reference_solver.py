"""Centralised reference solver: the three methods agree, the duality certificate holds, books merge."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sdk.curves.base import CostCurve, CurveInputError
from sdk.curves.cpmm import ConstantProductCurve
from sdk.curves.order_book import OrderBookCurve
from sdk.reference_solver import ReferenceSolution, centralised_optimum, demand_interval, lagrangian_term
from sdk.scenarios import generate_scenario


class MarginalOnly:
    """A third-party curve with only the base contract (no ``demand``): the solver bisects its marginal."""

    def __init__(self, inner: CostCurve) -> None:
        self._inner = inner

    @property
    def lower(self) -> float:
        return self._inner.lower

    @property
    def upper(self) -> float:
        return self._inner.upper

    def cost(self, x: float) -> float:
        return self._inner.cost(x)

    def marginal(self, x: float) -> tuple[float, float]:
        return self._inner.marginal(x)

    def prox(self, v: float, rho: float) -> float:
        return self._inner.prox(v, rho)


def assert_certified(sol: ReferenceSolution, rel: float) -> None:
    scale = sum(abs(x) * sol.price[a] for trades in sol.x.values() for a, x in trades.items()) + 1.0
    assert sol.gap >= -1e-12 * scale
    assert sol.gap <= rel * scale
    assert sol.dual_bound == pytest.approx(sol.profit + sol.gap)
    for asset, residual in sol.imbalance.items():
        size = sum(abs(t[asset]) for t in sol.x.values() if asset in t) + 1e-300
        assert abs(residual) <= 1e-12 * size


def test_two_books_cross_like_a_hand_merge() -> None:
    cheap = OrderBookCurve([(99.0, 5.0)], [(100.0, 1.0), (100.5, 2.0)], book_usage=1.0)
    rich = OrderBookCurve([(101.0, 2.0), (100.2, 5.0)], [(102.0, 5.0)], book_usage=1.0)
    venues = {"cheap": {"X": cheap}, "rich": {"X": rich}}
    for method in ("dual", "merge", "cvxpy"):
        sol = centralised_optimum(venues, method=method)
        # buy 1 @100 sell @101, buy 1 @100.5 sell @101: profit 1 + 0.5; then 100.5 vs 100.2 does not cross
        assert sol.profit == pytest.approx(1.5, rel=1e-7)
        assert sol.x["cheap"]["X"] == pytest.approx(2.0, rel=1e-7)
        assert sol.x["rich"]["X"] == pytest.approx(-2.0, rel=1e-7)
        assert 100.5 - 1e-6 <= sol.price["X"] <= 101.0 + 1e-6
        assert_certified(sol, 1e-7)


def test_no_arbitrage_means_zero_trade_and_zero_profit() -> None:
    a = OrderBookCurve([(99.0, 5.0)], [(101.0, 5.0)])
    b = ConstantProductCurve(100.0, 10_000.0)
    sol = centralised_optimum({"a": {"X": a}, "b": {"X": b}})
    assert sol.profit == pytest.approx(0.0, abs=1e-9)
    assert all(abs(t["X"]) < 1e-9 for t in sol.x.values())
    assert_certified(sol, 1e-12)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(2, 30))
def test_dual_equals_exact_book_merge(seed: int, n: int) -> None:
    venues = generate_scenario(n, seed, kinds=("order_book", "perp")).curves()
    dual = centralised_optimum(venues, method="dual")
    merge = centralised_optimum(venues, method="merge")
    assert dual.profit == pytest.approx(merge.profit, rel=1e-9, abs=1e-9)
    assert_certified(dual, 1e-12)
    assert_certified(merge, 1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_dual_agrees_with_cvxpy_on_mixed_venues(seed: int) -> None:
    venues = generate_scenario(12, seed, kinds=("order_book", "cpmm", "clmm", "perp", "prediction")).curves()
    dual = centralised_optimum(venues, method="dual")
    cvx = centralised_optimum(venues, method="cvxpy")
    assert dual.profit >= cvx.profit - 1e-9 * abs(cvx.profit)  # the exact method is never worse
    assert cvx.profit == pytest.approx(dual.profit, rel=1e-6)
    assert_certified(dual, 1e-12)
    assert_certified(cvx, 1e-6)
    for asset in (
        "BTC",
        "ETH",
        "SOL",
    ):  # pools make these prices unique (book-only outcomes have price ranges)
        assert cvx.price[asset] == pytest.approx(dual.price[asset], rel=1e-6)


def test_curves_without_demand_use_the_generic_bisection() -> None:
    scenario = generate_scenario(8, 5)
    venues = scenario.curves()
    wrapped = {v: {a: MarginalOnly(c) for a, c in cs.items()} for v, cs in venues.items()}
    fast = centralised_optimum(venues)
    slow = centralised_optimum(wrapped)
    assert slow.profit == pytest.approx(fast.profit, rel=1e-9)
    assert slow.gap <= 1e-6 * fast.profit
    curve = venues["cpmm-0001"]["ETH"]
    price = fast.price["ETH"]
    assert demand_interval(MarginalOnly(curve), price)[0] == pytest.approx(
        demand_interval(curve, price)[0], abs=1e-9
    )


def test_lagrangian_term_is_a_lower_bound_even_off_the_optimum() -> None:
    curve = ConstantProductCurve(100.0, 10_000.0)
    price = 105.0
    best = lagrangian_term(curve, price)
    grid = [curve.lower + k * (curve.upper - curve.lower) / 1000 for k in range(1001)]
    assert best <= min(curve.cost(x) - price * x for x in grid) + 1e-9
    for x in (-50.0, 0.0, 10.0):  # a poor candidate still yields a valid (weaker) bound
        assert lagrangian_term(curve, price, x) <= best + 1e-9


def test_thousand_venues_solve_with_a_tight_certificate() -> None:
    sol = centralised_optimum(generate_scenario(1000, 7).curves())
    assert sol.profit > 0.0
    assert_certified(sol, 1e-12)


def test_bad_input_is_refused() -> None:
    with pytest.raises(CurveInputError, match="method"):
        centralised_optimum({}, method="simplex")  # type: ignore[arg-type]
    with pytest.raises(CurveInputError, match=r"venues\['v'\]\['X'\] must be a CostCurve"):
        centralised_optimum({"v": {"X": "book"}})  # type: ignore[dict-item]
    with pytest.raises(CurveInputError, match="merge"):
        centralised_optimum({"v": {"X": ConstantProductCurve(1.0, 1.0)}}, method="merge")


def test_empty_and_single_venue_markets() -> None:
    assert centralised_optimum({}).profit == 0.0
    lone = centralised_optimum({"v": {"X": ConstantProductCurve(100.0, 10_000.0)}})
    assert lone.x["v"]["X"] == pytest.approx(0.0, abs=1e-12)
    assert math.isfinite(lone.price["X"])
