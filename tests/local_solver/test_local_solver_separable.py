"""Closed-form local step: per-asset proxes, inventory boxes, the budget multiplier certified by duality."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from local_solver_helpers import SCENARIO, kinks, local_inputs, minimise_1d, ref_prices, venue_curves

from agents.local_solver import SeparableLocalProblem
from sdk.curves.base import CostCurve, CurveInputError
from sdk.curves.cpmm import ConstantProductCurve
from sdk.curves.order_book import OrderBookCurve


def objective(problem: SeparableLocalProblem, x: np.ndarray, v: np.ndarray, rho: np.ndarray) -> float:
    return problem.cost(x) + 0.5 * float(np.sum(rho * (x - v) ** 2))


def dual_bound(
    curves: dict[str, CostCurve],
    bounds: tuple[np.ndarray, np.ndarray],
    weights: np.ndarray,
    budget: float,
    lam: float,
    v: np.ndarray,
    rho: np.ndarray,
) -> float:
    """``sum_a min_x [f_a + lam w_a |x| + rho_a/2 (x - v_a)^2] - lam B``: a lower bound for any lam >= 0."""
    total = -lam * budget
    for i, curve in enumerate(curves.values()):
        total += minimise_1d(
            penalised(curve, float(lam * weights[i]), float(rho[i]), float(v[i])),
            float(bounds[0][i]),
            float(bounds[1][i]),
            kinks(curve),
        )
    return total


def penalised(curve: CostCurve, c: float, rho: float, v: float) -> Callable[[float], float]:
    return lambda x: curve.cost(x) + c * abs(x) + 0.5 * rho * (x - v) ** 2


@settings(max_examples=60, deadline=None)
@given(venue=st.integers(0, 9), data=st.data())
def test_without_budget_it_is_the_per_asset_prox(venue: int, data: st.DataObject) -> None:
    curves = venue_curves(venue)
    problem = SeparableLocalProblem(curves)
    v, rho = data.draw(local_inputs(curves))
    x = problem.prox(v, rho)
    want = [c.prox(float(vi), float(ri)) for c, vi, ri in zip(curves.values(), v, rho, strict=True)]
    assert x.tolist() == want
    assert problem.multiplier == 0.0


@settings(max_examples=120, deadline=None)
@given(venue=st.integers(0, 9), share=st.floats(0.0, 1.2), data=st.data())
def test_budget_solution_is_feasible_and_certified_optimal(
    venue: int, share: float, data: st.DataObject
) -> None:
    curves = venue_curves(venue)
    prices = ref_prices(curves)
    weights = np.array([prices[a] for a in curves])
    free = SeparableLocalProblem(curves)
    v, rho = data.draw(local_inputs(curves))
    unconstrained = free.prox(v, rho)
    budget = share * float(weights @ np.abs(unconstrained))  # share < 1 makes the budget bind
    problem = SeparableLocalProblem(curves, budget=budget, ref_prices=prices)
    x = problem.prox(v, rho)
    assert problem.budget_used(x) <= budget * (1 + 1e-12) + 1e-300
    assert np.all(x >= problem.lower) and np.all(x <= problem.upper)
    primal = objective(problem, x, v, rho)
    lower = dual_bound(curves, (problem.lower, problem.upper), weights, budget, problem.multiplier, v, rho)
    scale = float(np.sum(np.abs(x) * weights)) + abs(primal) + 1e-300
    assert lower <= primal + 1e-9 * scale  # weak duality (sanity of the certificate)
    assert primal - lower <= 1e-9 * scale, (primal, lower, problem.multiplier)
    if share < 0.999:
        assert problem.multiplier > 0.0 or budget == 0.0


def test_inventory_limits_clip_each_asset() -> None:
    book = OrderBookCurve([(99.0, 10.0)], [(101.0, 10.0)], book_usage=1.0)
    pool = ConstantProductCurve(100.0, 10_000.0)
    problem = SeparableLocalProblem({"X": book, "Y": pool}, inventory={"X": (-1.0, 2.0), "Y": (0.0, 0.0)})
    assert problem.lower.tolist() == [-1.0, 0.0] and problem.upper.tolist() == [2.0, 0.0]
    x = problem.prox(np.array([1e6, 1e6]), 1.0)
    assert x.tolist() == [2.0, 0.0]
    x = problem.prox(np.array([-1e6, -1e6]), np.array([1.0, 2.0]))
    assert x.tolist() == [-1.0, 0.0]


def test_zero_budget_means_no_trade() -> None:
    curves = venue_curves(0)
    problem = SeparableLocalProblem(curves, budget=0.0, ref_prices=ref_prices(curves))
    x = problem.prox(np.full(len(curves), 1e9), 1e-6)
    assert np.all(x == 0.0)


def test_per_asset_rho_matches_scalar_rho_when_equal() -> None:
    curves = venue_curves(1)
    problem = SeparableLocalProblem(curves, budget=1e5, ref_prices=ref_prices(curves))
    v = np.array([SCENARIO.mids[a] * 1.01 / 1e-2 for a in curves])
    assert problem.prox(v, 1e-2).tolist() == problem.prox(v, np.full(len(curves), 1e-2)).tolist()


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"budget": -1.0, "ref_prices": {"X": 1.0}}, "budget"),
        ({"budget": math.nan, "ref_prices": {"X": 1.0}}, "budget"),
        ({"budget": 10.0}, "ref_prices must be given"),
        ({"budget": 10.0, "ref_prices": {}}, "missing"),
        ({"budget": 10.0, "ref_prices": {"X": 0.0}}, "ref_prices['X']"),
        ({"inventory": {"X": (1.0, 2.0)}}, "inventory['X']"),
        ({"inventory": {"Z": (-1.0, 1.0)}}, "inventory['Z']"),
    ],
)
def test_bad_problems_are_refused(kwargs: dict[str, object], field: str) -> None:
    import re

    book = OrderBookCurve([(99.0, 1.0)], [(101.0, 1.0)])
    with pytest.raises(CurveInputError, match=re.escape(field)):
        SeparableLocalProblem({"X": book}, **kwargs)  # type: ignore[arg-type]


def test_bad_calls_are_refused() -> None:
    book = OrderBookCurve([(99.0, 1.0)], [(101.0, 1.0)])
    problem = SeparableLocalProblem({"X": book, "Y": book})
    with pytest.raises(CurveInputError, match="v must have shape"):
        problem.prox(np.zeros(3), 1.0)
    with pytest.raises(CurveInputError, match="v must be finite"):
        problem.prox(np.array([math.nan, 0.0]), 1.0)
    with pytest.raises(CurveInputError, match="rho must be finite and > 0"):
        problem.prox(np.zeros(2), np.array([1.0, 0.0]))
    with pytest.raises(CurveInputError, match="rho must be a scalar"):
        problem.prox(np.zeros(2), np.ones(3))
    with pytest.raises(CurveInputError, match="curves must name"):
        SeparableLocalProblem({})
    with pytest.raises(CurveInputError, match="must be a CostCurve"):
        SeparableLocalProblem({"X": 3.0})  # type: ignore[dict-item]
    assert math.isinf(problem.cost(np.array([5.0, 0.0])))


def test_warm_started_multiplier_search_gives_the_cold_answer() -> None:
    """Consecutive calls start the multiplier search around the last one; answers must not depend on it."""
    curves = venue_curves(0)
    prices = ref_prices(curves)
    weights = np.array([prices[a] for a in curves])
    rho = np.array([prices[a] * 1e-3 / (c.upper - c.lower) for a, c in curves.items()])
    rng = np.random.default_rng(3)
    mids = weights.copy()
    budget = 0.3 * float(weights @ np.abs(SeparableLocalProblem(curves).prox(mids / rho, rho)))
    warm = SeparableLocalProblem(curves, budget=budget, ref_prices=prices)
    for step in range(40):
        mids = mids * (1 + rng.normal(0, 1e-4 if step % 10 else 1e-2, len(mids)))
        v = mids / rho
        cold = SeparableLocalProblem(curves, budget=budget, ref_prices=prices)
        x_warm, x_cold = warm.prox(v, rho), cold.prox(v, rho)
        o_warm, o_cold = objective(warm, x_warm, v, rho), objective(cold, x_cold, v, rho)
        assert abs(o_warm - o_cold) <= 1e-9 * (float(weights @ np.abs(x_cold)) + abs(o_cold))
        assert warm.budget_used(x_warm) <= budget * (1 + 1e-12)
