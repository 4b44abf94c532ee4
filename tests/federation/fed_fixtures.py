"""Small analytic venues for engine tests: quadratic costs with known centralised optimum."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class QuadraticCurve:
    """``f(x) = p0*x + x^2/(2k)`` on ``[lower, upper]``: quotes ``p0``, depth ``k`` per unit of price."""

    p0: float
    k: float
    lower: float = -math.inf
    upper: float = math.inf

    def cost(self, x: float) -> float:
        if x < self.lower - 1e-12 or x > self.upper + 1e-12:
            return math.inf
        return self.p0 * x + x * x / (2 * self.k)

    def marginal(self, x: float) -> tuple[float, float]:
        m = self.p0 + x / self.k
        return m, m

    def prox(self, v: float, rho: float) -> float:
        x = (rho * v - self.p0) / (1.0 / self.k + rho)
        return min(max(x, self.lower), self.upper)


def centralised(curves: list[QuadraticCurve]) -> tuple[float, list[float]]:
    """Unconstrained clearing price and allocation (bounds assumed slack)."""
    price = sum(c.k * c.p0 for c in curves) / sum(c.k for c in curves)
    return price, [c.k * (price - c.p0) for c in curves]
