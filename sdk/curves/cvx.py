"""cvxpy forms of the cost curves, vectorised, for the general local solver and the centralised reference.

``cvxpy_costs(curves, x)`` returns the total cost of ``curves[i]`` at ``x[i]`` and the constraints that go
with it. Every form is DCP with constant data only, so a model that adds ``Parameter``s elsewhere stays DPP,
and every family is one vectorised block however many curves it holds (a thousand venues compile in
seconds):

- piecewise-linear (order books, prediction markets, perpetuals as book + carry): an epigraph variable per
  curve above every affine piece, ``t_i >= a_k + s_k x_i`` (a sparse selection matrix maps pieces to curves);
- constant-product segments (CPMM, CLMM): one fill variable per segment, cheapest segments used first by
  optimality. A buy of ``u`` on virtual reserves ``(X, Y)`` costs ``Y u / (gamma (X - u))``, written
  ``m0 (u + u^2 / (X - u))`` with ``m0 = Y / (gamma X)``; a sell of ``w`` costs
  ``-gamma P w + P (gamma w)^2 / (X + gamma w)`` with ``P = Y / X``. The linear part is exact and only the
  slippage goes through a (rotated second-order) cone, in fill fractions so that its entries are of order 1.

cvxpy is imported here only, so importing the curves stays cheap.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cvxpy
import numpy as np
from scipy import sparse

from sdk.curves.base import CostCurve
from sdk.curves.constant_product import ConstantProductSegments
from sdk.curves.perp import PerpetualCurve
from sdk.curves.piecewise import PiecewiseLinearCurve

Constraints = list[Any]
cp: Any = cvxpy  # cvxpy ships partial annotations; treat the modelling API as dynamic


def cvxpy_costs(curves: Sequence[CostCurve], x: Any) -> tuple[Any, Constraints]:
    """``(sum_i cost_i(x[i]), constraints)`` for a cvxpy vector expression ``x`` of ``len(curves)``, boxes
    included. Raises ``TypeError`` for a curve type without a cvxpy form."""
    n = len(curves)
    lower = np.array([c.lower for c in curves], dtype=np.float64)
    upper = np.array([c.upper for c in curves], dtype=np.float64)
    constraints: Constraints = [x >= lower, x <= upper]
    piecewise: list[tuple[int, PiecewiseLinearCurve]] = []
    pools: list[tuple[int, ConstantProductSegments]] = []
    for i, curve in enumerate(curves):
        if isinstance(curve, PerpetualCurve):
            piecewise.append((i, curve.as_piecewise()))
        elif isinstance(curve, PiecewiseLinearCurve):
            piecewise.append((i, curve))
        elif isinstance(curve, ConstantProductSegments):
            pools.append((i, curve))
        else:
            raise TypeError(f"no cvxpy form for curve type {type(curve).__name__}; add one in sdk.curves.cvx")
    terms: list[Any] = []
    if piecewise:
        terms.append(_piecewise_block(piecewise, x, n, constraints))
    if pools:
        terms.append(_pool_block(pools, x, n, constraints))
    total = cp.sum(cp.hstack(terms)) if terms else cp.Constant(0.0)
    return total, constraints


def _selection(rows: Sequence[int], cols: Sequence[int], shape: tuple[int, int]) -> sparse.csr_matrix:
    return sparse.csr_matrix((np.ones(len(rows)), (np.asarray(rows), np.asarray(cols))), shape=shape)


def _piecewise_block(
    items: Sequence[tuple[int, PiecewiseLinearCurve]], x: Any, n: int, constraints: Constraints
) -> Any:
    owners: list[int] = []
    intercepts: list[float] = []
    slopes: list[float] = []
    which: list[int] = []  # epigraph slot of each piece
    slots: list[int] = []  # curve index of each epigraph slot
    for i, curve in items:
        if not curve.slopes:
            continue  # lower = upper = 0: the box already pins x
        slot = len(slots)
        slots.append(i)
        t = curve.knots
        for k, s in enumerate(curve.slopes):
            owners.append(i)
            which.append(slot)
            slopes.append(s)
            intercepts.append(curve.cost(t[k]) - s * t[k])
    if not slots:
        return cp.Constant(0.0)
    epigraph = cp.Variable(len(slots))
    pieces = len(owners)
    pick_x = _selection(range(pieces), owners, (pieces, n))
    pick_t = _selection(range(pieces), which, (pieces, len(slots)))
    constraints.append(pick_t @ epigraph >= np.array(intercepts) + cp.multiply(np.array(slopes), pick_x @ x))
    return cp.sum(epigraph)


def _pool_block(
    items: Sequence[tuple[int, ConstantProductSegments]], x: Any, n: int, constraints: Constraints
) -> Any:
    """Every pool segment as a fill fraction ``z`` in ``[0, 1]`` of its capacity ``c``: the slippage cone is
    ``z^2 <= q (1 + beta z)`` with ``beta = -c / X`` (buy) or ``gamma c / X`` (sell), all entries of order 1
    whatever the reserves (unscaled cones with reserves of 1e7 next to fills of 1e-2 stall the solver)."""
    owners: list[int] = []
    net_coef: list[float] = []  # base units per unit of fill fraction (signed)
    beta: list[float] = []
    linear: list[float] = []
    quad: list[float] = []
    for i, curve in items:
        g = curve.gamma
        for s in curve.segments:
            cap = s.end - s.start
            ratio = cap / s.xv
            owners.append(i)
            if s.buy:  # cost = m0 (u + u^2 / (X - u)), u = cap z
                m0 = s.yv / (g * s.xv)
                net_coef.append(cap)
                beta.append(-ratio)
                linear.append(m0 * cap)
                quad.append(m0 * cap * ratio)
            else:  # cost = -gamma P w + P (gamma w)^2 / (X + gamma w), w = cap z, P = Y / X
                price = s.yv / s.xv
                net_coef.append(-cap)
                beta.append(g * ratio)
                linear.append(-g * price * cap)
                quad.append(price * g * g * cap * ratio)
    idle = sorted({i for i, _ in items} - set(owners))
    if idle:  # pools without segments cannot trade
        constraints.append(_selection(range(len(idle)), idle, (len(idle), n)) @ x == 0.0)
    if not owners:
        return cp.Constant(0.0)
    k = len(owners)
    fills = cp.Variable(k, nonneg=True)
    slip = cp.Variable(k, nonneg=True)
    traded = sorted(set(owners))
    row_of = {i: r for r, i in enumerate(traded)}
    net = sparse.csr_matrix(
        (np.array(net_coef), ([row_of[i] for i in owners], range(k))), shape=(len(traded), k)
    )
    constraints.append(fills <= 1.0)
    constraints.append(_selection(range(len(traded)), traded, (len(traded), n)) @ x == net @ fills)
    room = 1.0 + cp.multiply(np.array(beta), fills)
    constraints.append(cp.SOC(slip + room, cp.vstack([2.0 * fills, slip - room]), axis=0))
    return np.array(linear) @ fills + np.array(quad) @ slip


#: Clarabel's defaults stop at 1e-8 relative gap: on arbitrage problems the profit is a tiny fraction of the
#: notional, so that leaves visible error in the profit. Tighter first, defaults as the fallback.
TIGHT_CLARABEL: dict[str, float] = {"tol_gap_abs": 1e-10, "tol_gap_rel": 1e-10, "tol_feas": 1e-10}
#: Clarabel's own defaults, spelled out: cvxpy reuses a cached solver whose settings persist between solves.
DEFAULT_CLARABEL: dict[str, float] = {"tol_gap_abs": 1e-8, "tol_gap_rel": 1e-8, "tol_feas": 1e-8}


def solve_with_clarabel(problem: Any, options: dict[str, Any] | None = None) -> str:
    """Solve ``problem`` with Clarabel at ``options`` (default :data:`TIGHT_CLARABEL`); if that fails or ends
    inaccurate, retry at Clarabel's own defaults. Returns the final status; raises ``RuntimeError`` when no
    usable solution was found."""
    attempts = [dict(TIGHT_CLARABEL if options is None else options), dict(DEFAULT_CLARABEL)]
    status = "not solved"
    for attempt in attempts:
        try:
            problem.solve(solver=cp.CLARABEL, **attempt)
        except cp.error.SolverError:
            continue
        status = str(problem.status)
        if status == cp.OPTIMAL:
            return status
    if status == cp.OPTIMAL_INACCURATE:
        return status
    raise RuntimeError(f"Clarabel found no usable solution (last status {status!r})")
