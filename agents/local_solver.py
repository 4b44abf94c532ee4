"""A venue's ADMM local step over its vector of assets: ``argmin_x sum_a f_a(x_a) + rho_a/2 (x_a - v_a)^2``.

``rho`` is one penalty for all assets or one per asset (assets priced 150 and 90,000 want different scales).

Two solvers with one API (``assets``, ``lower``, ``upper``, ``cost``, ``prox``):

- :class:`SeparableLocalProblem`: the closed-form per-asset proxes of the curves. Per-asset inventory limits
  are boxes (in one dimension the boxed prox is the clipped prox). One notional budget ``sum_a |x_a| *
  ref_price_a <= B`` couples the assets; its Lagrangian splits again into per-asset proxes of ``f_a + lam *
  ref_price_a * |x_a|``, each two closed-form proxes, and the multiplier ``lam`` is found by a bracketed root
  search on the (continuous, non-increasing) budget use. Microseconds per asset.
- :class:`CvxpyLocalProblem`: the same problem (and anything else cvxpy can express) as one parametrised model
  built once, strictly DPP (``rho`` and ``rho * v`` are Parameters), solved by Clarabel. The general fallback;
  about three orders of magnitude slower.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from sdk.curves.base import CostCurve, CurveInputError, require_finite

FloatArray = NDArray[np.float64]
_EPS = 2.220446049250313e-16
_MULTIPLIER_ITERATIONS = 200


class LocalProblem(Protocol):
    """What the ADMM agent needs from its local problem."""

    @property
    def assets(self) -> tuple[str, ...]: ...

    def cost(self, x: FloatArray) -> float: ...

    def prox(self, v: FloatArray, rho: float | FloatArray) -> FloatArray: ...


class _LocalProblemBase:
    """Validated curves, boxes and budget shared by both solvers."""

    def __init__(
        self,
        curves: Mapping[str, CostCurve],
        *,
        budget: float | None = None,
        ref_prices: Mapping[str, float] | None = None,
        inventory: Mapping[str, tuple[float, float]] | None = None,
    ) -> None:
        if not curves:
            raise CurveInputError("curves must name at least one asset, got none")
        for asset, curve in curves.items():
            if not isinstance(curve, CostCurve):
                raise CurveInputError(f"curves[{asset!r}] must be a CostCurve, got {type(curve).__name__}")
        self._assets = tuple(curves)
        self._curves = tuple(curves.values())
        lower = np.array([c.lower for c in self._curves], dtype=np.float64)
        upper = np.array([c.upper for c in self._curves], dtype=np.float64)
        for asset, bounds in (inventory or {}).items():
            if asset not in curves:
                raise CurveInputError(f"inventory[{asset!r}] names an asset without a curve")
            lo, hi = (float(b) for b in bounds)
            if math.isnan(lo) or math.isnan(hi) or not lo <= 0.0 <= hi:
                raise CurveInputError(f"inventory[{asset!r}] must be (lo <= 0 <= hi), got {bounds!r}")
            i = self._assets.index(asset)
            lower[i] = max(lower[i], lo)
            upper[i] = min(upper[i], hi)
        self._lower = lower
        self._upper = upper
        self._budget: float | None = None
        self._weights = np.zeros(len(self._assets))
        if budget is not None:
            self._budget = require_finite("budget", float(budget), non_negative=True)
            if ref_prices is None:
                raise CurveInputError(
                    "ref_prices must be given with a budget (quote value of one unit per asset)"
                )
            missing = [a for a in self._assets if a not in ref_prices]
            if missing:
                raise CurveInputError(f"ref_prices must price every asset, missing {missing}")
            self._weights = np.array(
                [
                    require_finite(f"ref_prices[{a!r}]", float(ref_prices[a]), positive=True)
                    for a in self._assets
                ]
            )

    @property
    def assets(self) -> tuple[str, ...]:
        return self._assets

    @property
    def lower(self) -> FloatArray:
        return self._lower.copy()

    @property
    def upper(self) -> FloatArray:
        return self._upper.copy()

    @property
    def budget(self) -> float | None:
        return self._budget

    def cost(self, x: FloatArray) -> float:
        """``sum_a f_a(x_a)``; ``inf`` outside the boxes or over the budget."""
        x = self._vector("x", x)
        if np.any(x < self._lower) or np.any(x > self._upper):
            return math.inf
        if self._budget is not None and self.budget_used(x) > self._budget * (1.0 + 1e-12):
            return math.inf
        return math.fsum(c.cost(float(xi)) for c, xi in zip(self._curves, x, strict=True))

    def budget_used(self, x: FloatArray) -> float:
        """``sum_a |x_a| * ref_price_a`` (0 without a budget)."""
        return float(self._weights @ np.abs(self._vector("x", x)))

    def _vector(self, name: str, v: Any) -> FloatArray:
        arr = np.asarray(v, dtype=np.float64)
        if arr.shape != (len(self._assets),):
            raise CurveInputError(f"{name} must have shape ({len(self._assets)},), got {arr.shape}")
        if not np.all(np.isfinite(arr)):
            raise CurveInputError(f"{name} must be finite, got {arr.tolist()}")
        return arr

    def _rho(self, rho: float | FloatArray) -> FloatArray:
        """``rho`` as one positive finite penalty per asset (a scalar is broadcast)."""
        arr = np.asarray(rho, dtype=np.float64)
        if arr.ndim == 0:
            arr = np.full(len(self._assets), float(arr))
        if arr.shape != (len(self._assets),):
            raise CurveInputError(
                f"rho must be a scalar or have shape ({len(self._assets)},), got {arr.shape}"
            )
        if not np.all((arr > 0.0) & np.isfinite(arr)):
            raise CurveInputError(f"rho must be finite and > 0, got {arr.tolist()}")
        return arr


class SeparableLocalProblem(_LocalProblemBase):
    """Closed-form local step: per-asset proxes, boxes by clipping, the budget by its multiplier.

    Parameters
    ----------
    curves:
        One cost curve per asset; the order of the mapping is the order of the vectors.
    budget:
        Optional notional budget ``B >= 0`` in quote: ``sum_a |x_a| * ref_prices[a] <= B``.
    ref_prices:
        Quote value of one unit of each asset (required with ``budget``).
    inventory:
        Optional per-asset ``(lo, hi)`` limits on the trade (``lo <= 0 <= hi``).
    """

    def __init__(
        self,
        curves: Mapping[str, CostCurve],
        *,
        budget: float | None = None,
        ref_prices: Mapping[str, float] | None = None,
        inventory: Mapping[str, tuple[float, float]] | None = None,
    ) -> None:
        super().__init__(curves, budget=budget, ref_prices=ref_prices, inventory=inventory)
        self._proxes = tuple(c.prox for c in self._curves)
        self._marginals_at_zero = tuple(c.marginal(0.0) for c in self._curves)
        self.multiplier = 0.0
        """Budget multiplier ``lam`` of the last :meth:`prox` (quote per unit of budget; 0 when slack)."""

    def prox(self, v: FloatArray, rho: float | FloatArray) -> FloatArray:
        v = self._vector("v", v)
        rhos = self._rho(rho)
        x = self._solve(v, rhos, 0.0)
        self.multiplier = 0.0
        if self._budget is None or self.budget_used(x) <= self._budget:
            return x
        if self._budget == 0.0:  # any multiplier that zeroes every asset certifies x = 0
            self.multiplier = self._multiplier_zeroing_all(v, rhos)
            return np.zeros_like(x)
        lam, x = self._budget_multiplier(v, rhos, self._budget)
        used = self.budget_used(x)
        if used > self._budget:  # rounding: step inside (0 is in every box)
            x *= self._budget / used
        self.multiplier = lam
        return x

    def _budget_multiplier(self, v: FloatArray, rhos: FloatArray, budget: float) -> tuple[float, FloatArray]:
        """Illinois (bracketing secant) search for ``lam`` with ``budget_used(x(lam)) = budget``.

        With a small ``rho`` the budget use is very steep in ``lam`` (slope ``~ ref_price^2 / rho``), so
        ``lam`` alone cannot pin ``x`` to the last digit. The search keeps the ``x`` at both ends of its final
        bracket and interpolates between them: inside a tiny bracket every asset stays on one piece of its
        curve, where ``x(lam)`` is affine (books) or smooth (pools), so the interpolation is exact or
        second-order accurate.
        """
        a, b = 0.0, self._multiplier_zeroing_all(v, rhos)
        xa, xb = self._solve(v, rhos, a), self._solve(v, rhos, b)
        ga, gb = self.budget_used(xa) - budget, self.budget_used(xb) - budget  # ga > 0 >= gb
        side = 0
        for _ in range(_MULTIPLIER_ITERATIONS):
            if b - a <= 4.0 * _EPS * b or min(ga, -gb) <= _EPS * budget:
                break
            c = (a * gb - b * ga) / (gb - ga)
            if not a < c < b:
                c = 0.5 * (a + b)
            xc = self._solve(v, rhos, c)
            gc = self.budget_used(xc) - budget
            if gc > 0.0:
                a, xa, ga = c, xc, gc
                if side == 1:
                    gb *= 0.5
                side = 1
            else:
                b, xb, gb = c, xc, gc
                if side == -1:
                    ga *= 0.5
                side = -1
        ua, ub = self.budget_used(xa), self.budget_used(xb)
        theta = 1.0 if ua == ub else min(max((ua - budget) / (ua - ub), 0.0), 1.0)
        return a + theta * (b - a), xa + theta * (xb - xa)

    def _solve(self, v: FloatArray, rhos: FloatArray, lam: float) -> FloatArray:
        out = np.empty_like(v)
        lower, upper = self._lower, self._upper
        for i, prox in enumerate(self._proxes):
            vi = float(v[i])
            rho = float(rhos[i])
            c = lam * float(self._weights[i])
            if (
                c > 0.0
            ):  # prox of f + c|x|: the prox of f + c x if that buys, of f - c x if that sells, else 0
                xi = prox(vi - c / rho, rho)
                if xi <= 0.0:
                    xi = min(prox(vi + c / rho, rho), 0.0)
            else:
                xi = prox(vi, rho)
            out[i] = min(max(xi, lower[i]), upper[i])
        return out

    def _multiplier_zeroing_all(self, v: FloatArray, rhos: FloatArray) -> float:
        """A multiplier large enough that every asset's penalised prox is 0 (so the budget is unused)."""
        lam = 0.0
        for i, (left, right) in enumerate(self._marginals_at_zero):
            rv = float(rhos[i]) * float(v[i])
            need = max(rv - right if right < math.inf else 0.0, left - rv if left > -math.inf else 0.0, 0.0)
            lam = max(lam, need / float(self._weights[i]))
        return lam * (1.0 + 1e-12) + 1e-300


class CvxpyLocalProblem(_LocalProblemBase):
    """The local step as a parametrised cvxpy model, built once and solved by Clarabel on every call.

    Same parameters as :class:`SeparableLocalProblem`. The objective is written
    ``sum_a f_a(x_a) + sum_a rho_a/2 x_a^2 - (rho v)^T x`` (the prox objective up to a constant) so that
    ``rho`` and ``rho v`` enter as Parameters without products of parameters: the model is DPP, cvxpy
    canonicalises it once, and each call only refills the parameters.
    """

    def __init__(
        self,
        curves: Mapping[str, CostCurve],
        *,
        budget: float | None = None,
        ref_prices: Mapping[str, float] | None = None,
        inventory: Mapping[str, tuple[float, float]] | None = None,
        solver_options: Mapping[str, Any] | None = None,
    ) -> None:
        import cvxpy

        cp: Any = cvxpy

        from sdk.curves.cvx import cvxpy_cost

        super().__init__(curves, budget=budget, ref_prices=ref_prices, inventory=inventory)
        n = len(self._assets)
        self._x = cp.Variable(n)
        self._rho_param = cp.Parameter(n, nonneg=True, value=np.ones(n))
        self._rho_v = cp.Parameter(n, value=np.zeros(n))
        terms: list[Any] = []
        constraints: list[Any] = [self._x >= self._lower, self._x <= self._upper]
        for i, curve in enumerate(self._curves):
            expr, cons = cvxpy_cost(curve, self._x[i])
            terms.append(expr)
            constraints.extend(cons)
        if self._budget is not None:
            constraints.append(self._weights @ cp.abs(self._x) <= self._budget)
        objective = (
            cp.sum(cp.hstack(terms)) + 0.5 * (self._rho_param @ cp.square(self._x)) - self._rho_v @ self._x
        )
        self._problem = cp.Problem(cp.Minimize(objective), constraints)
        if not self._problem.is_dpp():
            raise RuntimeError("local cvxpy model is not DPP: it would be re-canonicalised on every solve")
        self._solver_options = dict(solver_options or {})
        self._cp = cp

    @property
    def problem(self) -> Any:
        """The underlying ``cvxpy.Problem`` (for inspection)."""
        return self._problem

    def prox(self, v: FloatArray, rho: float | FloatArray) -> FloatArray:
        v = self._vector("v", v)
        rhos = self._rho(rho)
        self._rho_param.value = rhos
        self._rho_v.value = rhos * v
        self._problem.solve(solver=self._cp.CLARABEL, **self._solver_options)
        if (
            self._problem.status not in (self._cp.OPTIMAL, self._cp.OPTIMAL_INACCURATE)
            or self._x.value is None
        ):
            raise RuntimeError(f"Clarabel failed on the local step: status {self._problem.status}")
        x = np.clip(np.asarray(self._x.value, dtype=np.float64), self._lower, self._upper)
        if self._budget is not None:
            used = self.budget_used(x)
            if used > self._budget:
                x *= self._budget / used
        return x
