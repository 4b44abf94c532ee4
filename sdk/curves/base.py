"""The contract every venue cost curve fulfils.

A venue's private cost ``f(x)`` is the quote cash it pays to move ``x`` units of one asset (``x > 0`` buys,
``x < 0`` sells), fees and slippage included, and ``+inf`` outside ``[lower, upper]``. Every curve is convex,
so the ADMM local step ``prox_{f/rho}(v) = argmin_x f(x) + rho/2 (x - v)^2`` has a unique answer.
"""

from __future__ import annotations

import math
from typing import Protocol, runtime_checkable


class CurveInputError(ValueError):
    """Invalid market state handed to a cost curve (crossed book, NaN price, zero reserves, ...)."""


@runtime_checkable
class CostCurve(Protocol):
    """Convex cost of trading one asset on one venue, in quote units."""

    @property
    def lower(self) -> float:
        """Most negative feasible trade (largest sell), ``<= 0``."""
        ...

    @property
    def upper(self) -> float:
        """Largest feasible buy, ``>= 0``."""
        ...

    def cost(self, x: float) -> float:
        """Quote cash paid for net trade ``x``; ``math.inf`` outside ``[lower, upper]``."""
        ...

    def marginal(self, x: float) -> tuple[float, float]:
        """Sub-differential ``[left, right]`` of ``cost`` at ``x`` (equal where smooth)."""
        ...

    def prox(self, v: float, rho: float) -> float:
        """``argmin_x cost(x) + rho/2 (x - v)^2`` over ``[lower, upper]``; ``rho > 0``."""
        ...


def settled_cost(curve: CostCurve, x: float) -> float:
    """What the venue will actually charge for ``x``: the curve's ``exact_cost`` where it has one (a
    prediction market's per-order fee rounding, which the convex ``cost`` relaxes), else ``cost``. Plans
    are priced with this, so a trade the relaxation likes but the exact fees turn into a loss is never
    committed."""
    exact = getattr(curve, "exact_cost", None)
    return float(exact(x)) if callable(exact) else curve.cost(x)


def require_finite(name: str, value: float, *, positive: bool = False, non_negative: bool = False) -> float:
    """Reject NaN/inf (and optionally non-positive or negative) inputs with a message naming the field."""
    if not math.isfinite(value):
        raise CurveInputError(f"{name} must be finite, got {value!r}")
    if positive and value <= 0:
        raise CurveInputError(f"{name} must be > 0, got {value!r}")
    if non_negative and value < 0:
        raise CurveInputError(f"{name} must be >= 0, got {value!r}")
    return value
