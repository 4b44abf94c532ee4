"""cvxpy forms of the cost curves, for the general local solver and the centralised reference solver.

Every form is DCP with constant data only, so a model that adds ``Parameter``s elsewhere stays DPP:

- piecewise-linear (order books, prediction markets): ``max_k (a_k + s_k x)`` over the segments' affine
  pieces;
- constant-product segments (CPMM, CLMM): one fill variable per segment, cheapest segments used first by
  optimality; a buy of ``u`` on reserves ``(X, Y)`` costs ``m0 (u + quad_over_lin(u, X - u))`` with
  ``m0 = Y / (gamma X)`` (that is ``Y u / (gamma (X - u))`` written so that the linear part is exact and only
  the slippage goes through the cone), a sell of ``w`` costs ``-m0' w + (Y / X) quad_over_lin(gamma w, X +
  gamma w)``;
- perpetuals: the book's form plus the linear carry, inside the margin box.

cvxpy is imported here only, so importing the curves stays cheap.
"""

from __future__ import annotations

from typing import Any

import cvxpy
import numpy as np

from sdk.curves.base import CostCurve
from sdk.curves.constant_product import ConstantProductSegments
from sdk.curves.perp import PerpetualCurve
from sdk.curves.piecewise import PiecewiseLinearCurve

Constraints = list[Any]
cp: Any = cvxpy  # cvxpy ships partial annotations; treat the modelling API as dynamic


def cvxpy_cost(curve: CostCurve, x: Any) -> tuple[Any, Constraints]:
    """``(cost expression, constraints)`` of ``curve`` at the scalar cvxpy expression ``x``, box included."""
    if isinstance(curve, PiecewiseLinearCurve):
        return _piecewise(curve, x)
    if isinstance(curve, ConstantProductSegments):
        return _constant_product(curve, x)
    if isinstance(curve, PerpetualCurve):
        expr, cons = _piecewise(curve.book, x)
        return expr + curve.carry * x, [*cons, x >= curve.lower, x <= curve.upper]
    raise TypeError(f"no cvxpy form for curve type {type(curve).__name__}; add one in sdk.curves.cvx")


def _piecewise(curve: PiecewiseLinearCurve, x: Any) -> tuple[Any, Constraints]:
    knots = np.asarray(curve.knots)
    slopes = np.asarray(curve.slopes)
    if slopes.size == 0:
        return cp.Constant(0.0), [x == 0.0]
    values = np.array([curve.cost(float(t)) for t in knots[:-1]])
    intercepts = values - slopes * knots[:-1]
    return cp.max(intercepts + slopes * x), [x >= curve.lower, x <= curve.upper]


def _constant_product(curve: ConstantProductSegments, x: Any) -> tuple[Any, Constraints]:
    segs = curve.segments
    if not segs:
        return cp.Constant(0.0), [x == 0.0]
    g = curve.gamma
    fills = cp.Variable(len(segs), nonneg=True)
    caps = np.array([s.end - s.start for s in segs])
    signs = np.array([1.0 if s.buy else -1.0 for s in segs])
    terms = []
    for k, s in enumerate(segs):
        u = fills[k]
        if s.buy:
            m0 = s.yv / (g * s.xv)
            terms.append(m0 * (u + cp.quad_over_lin(u, s.xv - u)))
        else:
            m0 = g * s.yv / s.xv
            terms.append(-m0 * u + (s.yv / s.xv) * cp.quad_over_lin(g * u, s.xv + g * u))
    return cp.sum(cp.hstack(terms)), [fills <= caps, x == signs @ fills]
