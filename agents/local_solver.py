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
_WARM_WIDENINGS = 4
_STOP = 1e-13  # relative budget residual at which the multiplier search stops


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
        self._weight_list: list[float] = self._weights.tolist()
        self._lower_list: list[float] = self._lower.tolist()
        self._upper_list: list[float] = self._upper.tolist()
        self._marginals_at_zero = tuple(c.marginal(0.0) for c in self._curves)
        self.multiplier = 0.0
        """Budget multiplier ``lam`` of the last :meth:`prox` (quote per unit of budget; 0 when slack)."""
        self._hint = 0.0  # last binding multiplier: the next search starts around it

    def prox(self, v: FloatArray, rho: float | FloatArray) -> FloatArray:
        vs = self._vector("v", v).tolist()
        rhos = self._rho(rho).tolist()
        x, used = self._solve(vs, rhos, 0.0)
        self.multiplier = 0.0
        budget = self._budget
        if budget is None or used <= budget:
            return np.array(x)
        if budget == 0.0:  # any multiplier that zeroes every asset certifies x = 0
            self.multiplier = self._multiplier_zeroing_all(vs, rhos)
            return np.zeros(len(x))
        lam, x = self._budget_multiplier(vs, rhos, budget, (x, used))
        used = math.fsum(w * abs(xi) for w, xi in zip(self._weight_list, x, strict=True))
        if used > budget:  # rounding: step inside (0 is in every box)
            x = [xi * (budget / used) for xi in x]
        self.multiplier = lam
        return np.array(x)

    def _budget_multiplier(
        self, v: list[float], rhos: list[float], budget: float, at_zero: tuple[list[float], float]
    ) -> tuple[float, list[float]]:
        """Bracketed search for ``lam`` with ``budget_used(x(lam)) = budget``: secant steps, with a bisection
        whenever a step fails to halve the bracket (budget use is a staircase in ``lam`` for books, so plain
        regula falsi stalls). The bracket starts around the previous binding multiplier when there is one
        (consecutive ADMM steps move it little), else at ``[0, multiplier that zeroes every asset]``.

        With a small ``rho`` the budget use is very steep in ``lam`` (slope ``~ ref_price^2 / rho``), so
        ``lam`` alone cannot pin ``x`` to the last digit. The search keeps the ``x`` at both ends of its final
        bracket and interpolates between them: inside a tiny bracket every asset stays on one piece of its
        curve, where ``x(lam)`` is affine (books) or smooth (pools), so the interpolation is exact or
        second-order accurate.
        """
        a, b = 0.0, self._multiplier_zeroing_all(v, rhos)
        (xa, ua), (xb, ub) = at_zero, ([0.0] * len(v), 0.0)  # at b every penalised prox is 0
        hint, width = self._hint, self._hint * 1e-3
        for _ in range(_WARM_WIDENINGS if 0.0 < hint < b else 0):  # ADMM re-solves: lam barely moves
            for c in (max(hint - width, a), min(hint + width, b)):
                if a < c < b:
                    xc, uc = self._solve(v, rhos, c)
                    if uc > budget:
                        a, xa, ua = c, xc, uc
                    else:
                        b, xb, ub = c, xc, uc
            if b - a <= 2.0 * width * (1.0 + 1e-9):
                break
            width *= 32.0
        ga, gb = ua - budget, ub - budget  # ga > 0 >= gb
        tol = _STOP * budget
        bisect_next = False
        for _ in range(_MULTIPLIER_ITERATIONS):
            width = b - a
            # residual that rounding lam alone produces: no point in refining below it
            floor = max(tol, (ga - gb) / width * 4.0 * _EPS * b)
            if width <= 4.0 * _EPS * b or ga <= floor or -gb <= floor:
                break
            c = 0.5 * (a + b) if bisect_next else (a * gb - b * ga) / (gb - ga)
            if not a < c < b:
                c = 0.5 * (a + b)
            xc, uc = self._solve(v, rhos, c)
            gc = uc - budget
            if gc > 0.0:
                a, xa, ga = c, xc, gc
            else:
                b, xb, gb = c, xc, gc
            bisect_next = b - a > 0.5 * width
        theta = 1.0 if ga == gb else min(max(ga / (ga - gb), 0.0), 1.0)
        lam = a + theta * (b - a)
        self._hint = lam
        return lam, [p + theta * (q - p) for p, q in zip(xa, xb, strict=True)]

    def _solve(self, v: list[float], rhos: list[float], lam: float) -> tuple[list[float], float]:
        """Per-asset prox of ``f_a + lam w_a |x|`` clipped to the box, and the budget it uses."""
        out: list[float] = []
        used = 0.0
        for prox, vi, rho, w, lo, hi in zip(
            self._proxes, v, rhos, self._weight_list, self._lower_list, self._upper_list, strict=True
        ):
            c = lam * w
            if c > 0.0:  # the prox of f + c x if that buys, of f - c x if that sells, else 0
                xi = prox(vi - c / rho, rho)
                if xi <= 0.0:
                    xi = min(prox(vi + c / rho, rho), 0.0)
            else:
                xi = prox(vi, rho)
            xi = min(max(xi, lo), hi)
            out.append(xi)
            used += w * abs(xi)
        return out, used

    def _multiplier_zeroing_all(self, v: list[float], rhos: list[float]) -> float:
        """A multiplier large enough that every asset's penalised prox is 0 (so the budget is unused)."""
        lam = 0.0
        for (left, right), vi, rho, w in zip(
            self._marginals_at_zero, v, rhos, self._weight_list, strict=True
        ):
            rv = rho * vi
            need = max(rv - right if right < math.inf else 0.0, left - rv if left > -math.inf else 0.0, 0.0)
            lam = max(lam, need / w)
        return lam * (1.0 + 1e-12) + 1e-300


class CvxpyLocalProblem(_LocalProblemBase):
    """The local step as a parametrised cvxpy model, built once and solved by Clarabel on every call.

    Same parameters as :class:`SeparableLocalProblem`, plus ``solver_options`` for Clarabel (default: gap and
    feasibility tolerances 1e-10, falling back to Clarabel's defaults if that fails). The objective is written
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

        from sdk.curves.cvx import cvxpy_costs, solve_with_clarabel

        super().__init__(curves, budget=budget, ref_prices=ref_prices, inventory=inventory)
        n = len(self._assets)
        self._x = cp.Variable(n)
        self._rho_param = cp.Parameter(n, nonneg=True, value=np.ones(n))
        self._rho_v = cp.Parameter(n, value=np.zeros(n))
        cost, constraints = cvxpy_costs(self._curves, self._x)
        constraints += [self._x >= self._lower, self._x <= self._upper]
        if self._budget is not None:
            constraints.append(self._weights @ cp.abs(self._x) <= self._budget)
        objective = cost + 0.5 * (self._rho_param @ cp.square(self._x)) - self._rho_v @ self._x
        self._problem = cp.Problem(cp.Minimize(objective), constraints)
        if not self._problem.is_dpp():
            raise RuntimeError("local cvxpy model is not DPP: it would be re-canonicalised on every solve")
        self._solver_options = None if solver_options is None else dict(solver_options)
        self._solve = solve_with_clarabel

    @property
    def problem(self) -> Any:
        """The underlying ``cvxpy.Problem`` (for inspection)."""
        return self._problem

    def prox(self, v: FloatArray, rho: float | FloatArray) -> FloatArray:
        v = self._vector("v", v)
        rhos = self._rho(rho)
        self._rho_param.value = rhos
        self._rho_v.value = rhos * v
        self._solve(self._problem, self._solver_options)
        if self._x.value is None:
            raise RuntimeError(f"Clarabel returned no local step: status {self._problem.status}")
        x = np.clip(np.asarray(self._x.value, dtype=np.float64), self._lower, self._upper)
        if self._budget is not None:
            used = self.budget_used(x)
            if used > self._budget:
                x *= self._budget / used
        return x
