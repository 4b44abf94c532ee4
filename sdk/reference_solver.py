"""The centralised, full-information optimum of the exchange problem: the physical limit for federated plans.

    minimise  sum_i f_i(x_i)   subject to   sum_i x_i = 0      (per asset; costs are separable per asset)

Three solvers, one answer, one certificate:

- ``"dual"`` (default): for each asset, bisection on the clearing price ``p``. Every venue's best response
  ``argmin_x f_i(x) - p x`` is closed form for our curves (``demand``), total demand is monotone in ``p``, and
  at the clearing price the venues' responses are interpolated to sum to zero. Exact to rounding, any mix of
  curves, 1000 venues in well under a second.
- ``"cvxpy"``: one convex program over all venues (forms from :mod:`sdk.curves.cvx`), solved by Clarabel; the
  prices are the duals of the balance constraints. Independent check, slower.
- ``"merge"``: books only (piecewise-linear curves, perpetuals): sort every venue's buy segments up and sell
  segments down and cross them, like merging order books.

Certificate: Lagrangian duality. For any price ``p``, ``d(p) = sum_i min_x (f_i(x) - p x)`` is a lower bound
on the minimum cost, so ``-d(p)`` bounds the profit from above. ``min_x f_i(x) - p x`` is evaluated from the
curve's own ``cost`` and ``marginal`` at a candidate ``x``, minus ``dist(p, df_i(x)) * (distance to the far
end of the box)``, which makes it a valid lower bound even when the candidate is not exactly optimal. ``gap =
dual_bound - profit``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sdk.curves.base import CostCurve, CurveInputError
from sdk.curves.perp import PerpetualCurve
from sdk.curves.piecewise import PiecewiseLinearCurve

Venues = Mapping[str, Mapping[str, CostCurve]]
Method = Literal["dual", "cvxpy", "merge"]
_BISECTION_STEPS = 200
_GENERIC_DEMAND_STEPS = 200


@dataclass(frozen=True, slots=True)
class ReferenceSolution:
    """Centralised optimum: trades per venue and asset, clearing prices, profit and its certified bound.

    ``profit = -sum f_i(x_i)`` at the returned (balanced) trades; ``dual_bound >= optimal profit`` by weak
    duality; ``gap = dual_bound - profit`` (non-negative up to rounding) certifies how far ``profit`` can be
    from optimal. ``imbalance[a] = sum_i x_ia`` after rebalancing (zero up to rounding).
    """

    x: dict[str, dict[str, float]]
    price: dict[str, float]
    profit: float
    dual_bound: float
    gap: float
    profit_by_asset: dict[str, float]
    imbalance: dict[str, float]
    method: str


def demand_interval(curve: CostCurve, price: float) -> tuple[float, float]:
    """``argmin_x cost(x) - price * x`` as an interval: the curve's own ``demand`` when it has one, else a
    bisection on its sub-gradient (for third-party curves that only fulfil the base contract)."""
    demand = getattr(curve, "demand", None)
    if callable(demand):
        lo, hi = demand(price)
        return (float(lo), float(hi))
    return _generic_demand(curve, price)


def _generic_demand(curve: CostCurve, price: float) -> tuple[float, float]:
    lo, hi = curve.lower, curve.upper
    if lo == hi:
        return (lo, hi)
    a, b = lo, hi  # first x whose right marginal reaches price
    for _ in range(_GENERIC_DEMAND_STEPS):
        mid = 0.5 * (a + b)
        if mid <= a or mid >= b:
            break
        if curve.marginal(mid)[1] >= price:
            b = mid
        else:
            a = mid
    x_lo = lo if curve.marginal(lo)[1] >= price else b
    a, b = lo, hi  # last x whose left marginal stays at or below price
    for _ in range(_GENERIC_DEMAND_STEPS):
        mid = 0.5 * (a + b)
        if mid <= a or mid >= b:
            break
        if curve.marginal(mid)[0] <= price:
            a = mid
        else:
            b = mid
    x_hi = hi if curve.marginal(hi)[0] <= price else a
    # bisection creeps toward a kink at 0 through ever smaller floats without landing on it: snap to 0
    return (
        _snap_to_zero(curve, price, x_lo),
        max(_snap_to_zero(curve, price, x_hi), _snap_to_zero(curve, price, x_lo)),
    )


def _snap_to_zero(curve: CostCurve, price: float, x: float) -> float:
    if abs(x) < 1e-12 * (curve.upper - curve.lower):
        left, right = curve.marginal(0.0)
        if left <= price <= right:
            return 0.0
    return x


def lagrangian_term(curve: CostCurve, price: float, x: float | None = None) -> float:
    """A certified lower bound on ``min_y cost(y) - price * y``, evaluated at the candidate ``x`` (by default
    the curve's own best response to ``price``).

    Convexity gives ``f(y) >= f(x) + g (y - x)`` for ``g`` in ``df(x)``; with the ``g`` nearest ``price`` the
    bound loses at most ``dist(price, df(x)) * max(x - lower, upper - x)``, which is 0 when ``x`` is a true
    minimiser.
    """
    if x is None:
        x = demand_interval(curve, price)[0]
    left, right = curve.marginal(x)
    miss = max(left - price, price - right, 0.0)
    slack = miss * max(x - curve.lower, curve.upper - x) if miss > 0.0 else 0.0
    return curve.cost(x) - price * x - slack


def centralised_optimum(venues: Venues, *, method: Method = "dual") -> ReferenceSolution:
    """Full-information optimum of ``min sum_i f_i(x_i) s.t. sum_i x_i = 0`` for every asset any venue trades.

    ``venues[venue_id][asset]`` is that venue's curve for the asset; a venue lacking an asset does not trade
    it.
    """
    if method not in ("dual", "cvxpy", "merge"):
        raise CurveInputError(f"method must be 'dual', 'cvxpy' or 'merge', got {method!r}")
    by_asset = _by_asset(venues)
    if method == "cvxpy":
        solved = _solve_cvxpy(by_asset)
    else:
        solve = _solve_asset_dual if method == "dual" else _solve_asset_merge
        solved = {asset: solve(curves) for asset, curves in by_asset.items()}
    return _certify(venues, by_asset, solved, method)


def _by_asset(venues: Venues) -> dict[str, dict[str, CostCurve]]:
    by_asset: dict[str, dict[str, CostCurve]] = {}
    for venue, curves in venues.items():
        for asset, curve in curves.items():
            if not isinstance(curve, CostCurve):
                raise CurveInputError(
                    f"venues[{venue!r}][{asset!r}] must be a CostCurve, got {type(curve).__name__}"
                )
            by_asset.setdefault(asset, {})[venue] = curve
    return by_asset


AssetAnswer = tuple[dict[str, float], float]  # (x per venue, price)


def _certify(
    venues: Venues,
    by_asset: Mapping[str, Mapping[str, CostCurve]],
    solved: Mapping[str, AssetAnswer],
    method: str,
) -> ReferenceSolution:
    x: dict[str, dict[str, float]] = {v: {} for v in venues}
    price: dict[str, float] = {}
    profit_by_asset: dict[str, float] = {}
    imbalance: dict[str, float] = {}
    profit_total: list[float] = []
    dual_total: list[float] = []
    for asset, curves in by_asset.items():
        trades, p = solved[asset]
        trades = _rebalance(trades, curves)
        primal = math.fsum(curves[v].cost(trades[v]) for v in curves)
        dual_terms = [lagrangian_term(curves[v], p) for v in curves]
        dual = math.fsum(dual_terms)
        for v, t in trades.items():
            x[v][asset] = t
        price[asset] = p
        profit_by_asset[asset] = -primal
        imbalance[asset] = math.fsum(trades.values())
        profit_total.append(-primal)
        dual_total.append(-dual)
    profit = math.fsum(profit_total)
    bound = math.fsum(dual_total)
    return ReferenceSolution(x, price, profit, bound, bound - profit, profit_by_asset, imbalance, method)


def _rebalance(trades: Mapping[str, float], curves: Mapping[str, CostCurve]) -> dict[str, float]:
    """Clip to the boxes, then spread any residual over the venues with room so the trades sum to zero."""
    out = {v: min(max(trades[v], curves[v].lower), curves[v].upper) for v in curves}
    for _ in range(3):
        residual = math.fsum(out.values())
        if residual == 0.0:
            break
        room = {
            v: (out[v] - curves[v].lower) if residual > 0.0 else (curves[v].upper - out[v]) for v in curves
        }
        total = math.fsum(room.values())
        if total <= 0.0:
            break
        share = min(1.0, abs(residual) / total)
        sign = -1.0 if residual > 0.0 else 1.0
        for v in curves:
            out[v] = min(max(out[v] + sign * share * room[v], curves[v].lower), curves[v].upper)
    return out


def _solve_asset_dual(curves: Mapping[str, CostCurve]) -> AssetAnswer:
    names = list(curves)
    demands = [_demand_function(curves[v]) for v in names]

    def total(p: float) -> tuple[float, float, list[tuple[float, float]]]:
        intervals = [d(p) for d in demands]
        return math.fsum(i[0] for i in intervals), math.fsum(i[1] for i in intervals), intervals

    lows: list[float] = []
    highs: list[float] = []
    for v in names:
        c = curves[v]
        if c.lower < c.upper:
            lows.append(c.marginal(c.lower)[1])
            highs.append(c.marginal(c.upper)[0])
    finite_lows = [m for m in lows if math.isfinite(m)]
    finite_highs = [m for m in highs if math.isfinite(m)]
    if not finite_lows and not finite_highs:
        return dict.fromkeys(names, 0.0), 0.0
    p_lo = min(finite_lows + finite_highs)
    p_hi = max(finite_lows + finite_highs)
    d_lo, d_hi, at_lo = total(p_lo)
    if d_hi >= 0.0:
        return _interpolate(names, at_lo, at_lo, d_lo, d_hi), p_lo
    e_lo, e_hi, at_hi = total(p_hi)
    if e_lo <= 0.0:
        return _interpolate(names, at_hi, at_hi, e_lo, e_hi), p_hi
    for _ in range(_BISECTION_STEPS):  # invariant: demand < 0 at p_lo, > 0 at p_hi
        mid = 0.5 * (p_lo + p_hi)
        if not p_lo < mid < p_hi:
            break
        m_lo, m_hi, at_mid = total(mid)
        if m_lo > 0.0:
            p_hi, at_hi, e_lo = mid, at_mid, m_lo
        elif m_hi < 0.0:
            p_lo, at_lo, d_hi = mid, at_mid, m_hi
        else:
            return _interpolate(names, at_mid, at_mid, m_lo, m_hi), mid
    below = [i[0] for i in at_lo]
    above = [i[1] for i in at_hi]
    a, b = math.fsum(below), math.fsum(above)
    theta = -a / (b - a)
    trades = {v: lo + theta * (hi - lo) for v, lo, hi in zip(names, below, above, strict=True)}
    dual_lo = math.fsum(lagrangian_term(curves[v], p_lo) for v in names)
    dual_hi = math.fsum(lagrangian_term(curves[v], p_hi) for v in names)
    return trades, (p_lo if dual_lo >= dual_hi else p_hi)


def _demand_function(curve: CostCurve) -> Callable[[float], tuple[float, float]]:
    own = getattr(curve, "demand", None)
    if callable(own):
        return own  # type: ignore[no-any-return]

    def generic(price: float) -> tuple[float, float]:
        return _generic_demand(curve, price)

    return generic


def _interpolate(
    names: Sequence[str],
    lows: Sequence[tuple[float, float]],
    highs: Sequence[tuple[float, float]],
    total_lo: float,
    total_hi: float,
) -> dict[str, float]:
    """Pick ``x_i`` in each venue's optimal interval so that they sum to zero (``total_lo <= 0 <=
    total_hi``)."""
    theta = 0.0 if total_hi == total_lo else -total_lo / (total_hi - total_lo)
    return {v: lo[0] + theta * (hi[1] - lo[0]) for v, lo, hi in zip(names, lows, highs, strict=True)}


def as_piecewise(curve: CostCurve) -> PiecewiseLinearCurve:
    """A book-like curve as a :class:`PiecewiseLinearCurve` (perpetuals: slopes plus carry, margin box)."""
    if isinstance(curve, PiecewiseLinearCurve):
        return curve
    if isinstance(curve, PerpetualCurve):
        return curve.as_piecewise()
    raise CurveInputError(f"method 'merge' needs order-book-like curves, got {type(curve).__name__}")


def _solve_asset_merge(curves: Mapping[str, CostCurve]) -> AssetAnswer:
    buys: list[tuple[float, int, float]] = []  # (unit cost, venue index, quantity), cheapest first
    sells: list[tuple[float, int, float]] = []  # (unit proceeds, venue index, quantity), best first
    names = list(curves)
    for j, v in enumerate(names):
        pw = as_piecewise(curves[v])
        t, s, z = pw.knots, pw.slopes, pw.zero_index
        buys += [(s[k], j, t[k + 1] - t[k]) for k in range(z, len(s))]
        sells += [(s[k], j, t[k + 1] - t[k]) for k in range(z - 1, -1, -1)]
    buys.sort(key=lambda b: (b[0], b[1]))
    sells.sort(key=lambda s: (-s[0], s[1]))
    x = [0.0] * len(names)
    i = k = 0
    left_b = buys[0][2] if buys else 0.0
    left_s = sells[0][2] if sells else 0.0
    last_buy = last_sell = math.nan
    while i < len(buys) and k < len(sells) and sells[k][0] > buys[i][0]:
        q = min(left_b, left_s)
        x[buys[i][1]] += q
        x[sells[k][1]] -= q
        last_buy, last_sell = buys[i][0], sells[k][0]
        left_b -= q
        left_s -= q
        if left_b <= 0.0:
            i += 1
            left_b = buys[i][2] if i < len(buys) else 0.0
        if left_s <= 0.0:
            k += 1
            left_s = sells[k][2] if k < len(sells) else 0.0
    # A clearing price: at least every matched buy's and unmatched sell's slope, at most the others'.
    floor = [p for p in (last_buy, sells[k][0] if k < len(sells) else math.nan) if not math.isnan(p)]
    ceiling = [p for p in (last_sell, buys[i][0] if i < len(buys) else math.nan) if not math.isnan(p)]
    lo = max(floor) if floor else None
    hi = min(ceiling) if ceiling else None
    if lo is not None and hi is not None:
        price = 0.5 * (lo + hi)
    else:
        price = lo if lo is not None else (hi if hi is not None else 0.0)
    return dict(zip(names, x, strict=True)), price


def _solve_cvxpy(by_asset: Mapping[str, Mapping[str, CostCurve]]) -> dict[str, AssetAnswer]:
    import cvxpy

    from sdk.curves.cvx import cvxpy_costs, solve_with_clarabel

    cp: Any = cvxpy
    terms: list[Any] = []
    constraints: list[Any] = []
    balance: dict[str, Any] = {}
    variables: dict[str, Any] = {}
    for asset, curves in by_asset.items():
        xa = cp.Variable(len(curves))
        variables[asset] = xa
        cost, cons = cvxpy_costs(list(curves.values()), xa)
        terms.append(cost)
        constraints += cons
        balance[asset] = cp.sum(xa) == 0
        constraints.append(balance[asset])
    problem = cp.Problem(cp.Minimize(cp.sum(cp.hstack(terms))), constraints)
    solve_with_clarabel(problem)
    out: dict[str, AssetAnswer] = {}
    for asset, curves in by_asset.items():
        values = [float(t) for t in variables[asset].value]
        price = -float(balance[asset].dual_value)
        out[asset] = (dict(zip(curves, values, strict=True)), price)
    return out
