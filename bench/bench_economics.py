"""Venue economics: local-step latency per venue kind, closed form vs cvxpy DPP model, centralised optimum.

- prox latency (one ``curve.prox(v, rho)`` call, microseconds, median and p99) for a 50-level order book, a
  CPMM, a CLMM with 20 positions, a perpetual on a 50-level book and a 40-level prediction market; inputs
  cover the no-trade band, partial fills and both boxes;
- the same problems through :class:`agents.local_solver.CvxpyLocalProblem` (built once, DPP, Clarabel) on the
  same inputs: median latency of each, ratio in one run, and the worst objective gap (closed form minus cvxpy,
  negative means the closed form is better); plus a three-asset venue with a binding notional budget, on
  independent inputs (cold) and on slowly drifting ones (warm, as consecutive ADMM rounds);
- the centralised optimum (``sdk.reference_solver``) for N = 10, 100, 1000 mixed venues: the exact price
  bisection ("dual") against the Clarabel convex program ("cvxpy") as the baseline, with profit and certified
  duality gap; and the exact book merge for N = 1000 books.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable

import numpy as np

from agents.local_solver import CvxpyLocalProblem, SeparableLocalProblem
from bench.common import percentile, print_table, write_results
from sdk.curves.base import CostCurve
from sdk.curves.clmm import ConcentratedLiquidityCurve
from sdk.curves.cpmm import ConstantProductCurve
from sdk.curves.order_book import OrderBookCurve
from sdk.curves.perp import PerpetualCurve
from sdk.curves.prediction import PredictionMarketCurve
from sdk.reference_solver import centralised_optimum
from sdk.scenarios import generate_scenario

PROX_CALLS = 20_000
CVXPY_CALLS = 150
CENTRAL_SIZES = (10, 100, 1000)
CVXPY_CENTRAL_MAX = 1000


def _book(rng: np.random.Generator, mid: float, levels: int = 50) -> OrderBookCurve:
    steps = np.cumsum(rng.uniform(0.5, 2.0, levels)) / 1e4
    asks = [(mid * (1 + s), float(q)) for s, q in zip(steps, rng.lognormal(0, 0.5, levels), strict=True)]
    bids = [(mid * (1 - s), float(q)) for s, q in zip(steps, rng.lognormal(0, 0.5, levels), strict=True)]
    return OrderBookCurve(bids, asks, taker_fee_bps=5.0)


def _clmm(rng: np.random.Generator, mid: float, positions: int = 20) -> ConcentratedLiquidityCurve:
    current = math.log(mid) / math.log(1.0001)
    nets: dict[int, float] = {}
    active = 0.0
    for _ in range(positions):
        lo = (int(current) // 10 - int(rng.integers(1, 300))) * 10
        hi = (int(current) // 10 + int(rng.integers(1, 300))) * 10
        liq = float(rng.lognormal(math.log(1e4), 0.5))
        nets[lo] = nets.get(lo, 0.0) + liq
        nets[hi] = nets.get(hi, 0.0) - liq
        active += liq
    return ConcentratedLiquidityCurve(
        math.sqrt(mid), active, sorted(nets.items()), fee=0.003, tick_spacing=10
    )


def _prediction(rng: np.random.Generator) -> PredictionMarketCurve:
    bids = [((45 - k) / 100, float(q)) for k, q in enumerate(rng.lognormal(6, 0.5, 40))]
    asks = [((47 + k) / 100, float(q)) for k, q in enumerate(rng.lognormal(6, 0.5, 40))]
    return PredictionMarketCurve(bids, asks)


def _venue_kinds() -> dict[str, tuple[CostCurve, float]]:
    """Representative curve of every kind and its mid price."""
    rng = np.random.default_rng(2024)
    mid = 150.0
    return {
        "order_book_50": (_book(rng, mid), mid),
        "cpmm": (ConstantProductCurve(10_000.0, 10_000.0 * mid, fee=0.003), mid),
        "clmm_20pos": (_clmm(rng, mid), mid),
        "perp_50": (
            PerpetualCurve(
                _book(rng, mid), mark_price=mid, funding_rate_per_hour=1e-5, margin=1e5, max_leverage=5.0
            ),
            mid,
        ),
        "prediction_40": (_prediction(rng), 0.46),
    }


def _inputs(curve: CostCurve, mid: float, n: int, seed: int) -> list[tuple[float, float]]:
    """``(v, rho)`` pairs around the curve's scale: no-trade band, partial fills and both boxes."""
    rng = np.random.default_rng(seed)
    size = max(curve.upper - curve.lower, 1e-9)
    rhos = mid / size * 10 ** rng.uniform(-2, 2, n)
    vs = mid / rhos * rng.uniform(0.98, 1.02, n) + rng.uniform(-0.6, 0.6, n) * size
    return list(zip(vs.tolist(), rhos.tolist(), strict=True))


def _time_calls(call: Callable[[float, float], object], inputs: list[tuple[float, float]]) -> list[float]:
    samples = []
    clock = time.perf_counter_ns
    for v, rho in inputs:
        started = clock()
        call(v, rho)
        samples.append((clock() - started) / 1e3)
    return samples


def _one_asset(model: CvxpyLocalProblem) -> Callable[[float, float], object]:
    return lambda v, rho: model.prox(np.array([v]), rho)


def _prox_section(metrics: dict[str, object]) -> None:
    rows = []
    for name, (curve, mid) in _venue_kinds().items():
        inputs = _inputs(curve, mid, PROX_CALLS, seed=1)
        _time_calls(curve.prox, inputs[:1000])  # warm up
        closed = _time_calls(curve.prox, inputs)
        model = CvxpyLocalProblem({"A": curve})
        sample = inputs[:CVXPY_CALLS]
        cvx = _time_calls(_one_asset(model), sample)
        worst = 0.0
        for v, rho in sample:
            x_c, x_m = curve.prox(v, rho), float(model.prox(np.array([v]), rho)[0])
            obj_c = curve.cost(x_c) + 0.5 * rho * (x_c - v) ** 2
            obj_m = curve.cost(x_m) + 0.5 * rho * (x_m - v) ** 2
            scale = abs(obj_c) + abs(x_c) * mid + 1.0
            worst = max(worst, (obj_c - obj_m) / scale)
        p50, p99 = percentile(closed, 50), percentile(closed, 99)
        c50 = percentile(cvx, 50)
        metrics[f"prox_{name}_p50_us"] = p50
        metrics[f"prox_{name}_p99_us"] = p99
        metrics[f"cvxpy_{name}_p50_us"] = c50
        metrics[f"cvxpy_over_closed_{name}_ratio"] = c50 / p50
        metrics[f"closed_minus_cvxpy_{name}_worst_rel_objective"] = worst
        rows.append((name, p50, p99, c50, f"{c50 / p50:.0f}x", f"{worst:.1e}"))
    print_table(
        "Local step per venue kind (one asset): closed-form prox vs cvxpy DPP model (Clarabel), microseconds",
        ("kind", "prox p50", "prox p99", "cvxpy p50", "ratio", "worst rel obj (closed - cvxpy)"),
        rows,
    )


def _budget_sequences(prices: np.ndarray, rho: np.ndarray) -> dict[str, list[np.ndarray]]:
    """Prox inputs ``v = p / rho``: independent price draws (cold) and a slow drift (as ADMM re-solves)."""
    rng = np.random.default_rng(7)
    cold = [prices * (1 + rng.normal(0, 0.003, len(prices))) / rho for _ in range(CVXPY_CALLS)]
    drift, p = [], prices.copy()
    for _ in range(CVXPY_CALLS):
        p = p * (1 + rng.normal(0, 1e-5, len(prices)))
        drift.append(p / rho)
    return {"cold": cold, "warm": drift}


def _budget_section(metrics: dict[str, object]) -> None:
    """One venue, three assets, a notional budget that binds: multiplier search vs the cvxpy model."""
    scenario = generate_scenario(4, 3)
    curves = dict(scenario.venues["order_book-0000"].curves)
    prices = {a: scenario.mids[a] for a in curves}
    weights = np.array([prices[a] for a in curves])
    rho = np.array([prices[a] * 1e-3 / (c.upper - c.lower) for a, c in curves.items()])  # 10 bps per box
    free = SeparableLocalProblem(curves)
    rows = []
    for name, v_list in _budget_sequences(weights, rho).items():
        budget = 0.3 * float(np.median([weights @ np.abs(free.prox(v, rho)) for v in v_list]))
        closed = SeparableLocalProblem(curves, budget=budget, ref_prices=prices)
        model = CvxpyLocalProblem(curves, budget=budget, ref_prices=prices)
        t_closed, t_cvx, worst, binding = [], [], 0.0, 0
        for v in v_list:
            started = time.perf_counter_ns()
            x_c = closed.prox(v, rho)
            t_closed.append((time.perf_counter_ns() - started) / 1e3)
            binding += closed.multiplier > 0.0
            started = time.perf_counter_ns()
            x_m = model.prox(v, rho)
            t_cvx.append((time.perf_counter_ns() - started) / 1e3)
            obj_c = closed.cost(x_c) + 0.5 * float(np.sum(rho * (x_c - v) ** 2))
            obj_m = closed.cost(x_m) + 0.5 * float(np.sum(rho * (x_m - v) ** 2))
            worst = max(worst, (obj_c - obj_m) / (float(weights @ np.abs(x_c)) + 1.0))
        c50, c99, m50 = percentile(t_closed, 50), percentile(t_closed, 99), percentile(t_cvx, 50)
        metrics[f"budget3_{name}_closed_p50_us"] = c50
        metrics[f"budget3_{name}_closed_p99_us"] = c99
        metrics[f"budget3_{name}_cvxpy_p50_us"] = m50
        metrics[f"budget3_{name}_cvxpy_over_closed_ratio"] = m50 / c50
        metrics[f"budget3_{name}_binding_fraction"] = binding / len(v_list)
        metrics[f"budget3_{name}_closed_minus_cvxpy_worst_rel_objective"] = worst
        rows.append((name, c50, c99, m50, f"{m50 / c50:.0f}x", f"{binding}/{len(v_list)}", f"{worst:.1e}"))
    print_table(
        "Three assets, one binding notional budget: multiplier search vs cvxpy, microseconds",
        ("inputs", "closed p50", "closed p99", "cvxpy p50", "ratio", "binding", "worst rel obj"),
        rows,
    )


def _central_section(metrics: dict[str, object]) -> None:
    rows = []
    for n in CENTRAL_SIZES:
        venues = generate_scenario(n, 1).curves()
        repeats = 3 if n <= 100 else 1
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            dual = centralised_optimum(venues, method="dual")
            times.append(time.perf_counter() - started)
        t_dual = min(times)
        t_cvx = cvx_profit = cvx_gap = math.nan
        if n <= CVXPY_CENTRAL_MAX:
            started = time.perf_counter()
            cvx = centralised_optimum(venues, method="cvxpy")
            t_cvx = time.perf_counter() - started
            cvx_profit, cvx_gap = cvx.profit, cvx.gap
            metrics[f"central_cvxpy_n{n}_s"] = t_cvx
            metrics[f"central_cvxpy_n{n}_gap_usd"] = cvx_gap
        metrics[f"central_dual_n{n}_s"] = t_dual
        metrics[f"central_n{n}_profit_usd"] = dual.profit
        metrics[f"central_dual_n{n}_gap_usd"] = dual.gap
        rows.append((n, t_dual, t_cvx, f"{t_cvx / t_dual:.0f}x", dual.profit, dual.gap, cvx_profit, cvx_gap))
    books = generate_scenario(1000, 1, kinds=("order_book", "perp")).curves()
    started = time.perf_counter()
    merged = centralised_optimum(books, method="merge")
    t_merge = time.perf_counter() - started
    started = time.perf_counter()
    dual_books = centralised_optimum(books, method="dual")
    t_dual_books = time.perf_counter() - started
    metrics["central_merge_books_n1000_s"] = t_merge
    metrics["central_dual_books_n1000_s"] = t_dual_books
    metrics["central_books_n1000_profit_rel_diff"] = abs(merged.profit - dual_books.profit) / merged.profit
    print_table(
        "Centralised optimum, mixed venues (book/CPMM/CLMM/perp, 3 assets): price bisection vs Clarabel, s",
        ("N venues", "dual s", "cvxpy s", "ratio", "profit USD", "dual gap USD", "cvxpy profit", "cvxpy gap"),
        rows,
    )
    print_table(
        "Books only (1000 venues): exact merge vs price bisection",
        ("N venues", "merge s", "dual s", "profit USD", "rel diff"),
        [
            (
                1000,
                t_merge,
                t_dual_books,
                merged.profit,
                f"{metrics['central_books_n1000_profit_rel_diff']:.1e}",
            )
        ],
    )


def main() -> dict[str, object]:
    metrics: dict[str, object] = {}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Solution may be inaccurate")
        _prox_section(metrics)
        print()
        _budget_section(metrics)
        print()
        _central_section(metrics)
    write_results("economics", metrics)
    return metrics


if __name__ == "__main__":
    main()
