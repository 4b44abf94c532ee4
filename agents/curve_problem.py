"""A venue's separable local problem: one convex cost curve per asset it trades.

Assets the venue does not trade are pinned at zero. The prox is per asset with its own rho, so the
coordinator can scale each asset (SOL at 150 USD and BTC at 90,000 USD need different rho).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence

import numpy as np

from energibridge.protocol.contribution import FloatArray
from sdk.curves.base import CostCurve
from sdk.reference_solver import demand_interval, lagrangian_term


class CurveProblem:
    """``f(x) = sum_a f_a(x_a)`` over the session's assets."""

    def __init__(
        self,
        assets: Sequence[str],
        curves: Mapping[str, CostCurve],
        *,
        min_edge_bps: float = 0.0,
        exempt: Collection[str] = (),
    ) -> None:
        unknown = sorted(set(curves) - set(assets))
        if unknown:
            raise ValueError(
                f"curves for assets {unknown} that are not in the session's assets {list(assets)}"
            )
        if not (math.isfinite(min_edge_bps) and min_edge_bps >= 0):
            raise ValueError(f"min_edge_bps: expected a finite value >= 0, got {min_edge_bps!r}")
        self.assets = tuple(assets)
        self._slots = [(i, curves[a]) for i, a in enumerate(self.assets) if a in curves]
        # The venue's target mispricing (LocalArbProblem.min_edge_bps): an asset whose consensus price is
        # within that many bps of the venue's own mid is not traded. Its declared problem is the curve
        # plus that edge per unit, for which no trade is optimal inside the band, so its dual term there
        # is the cost of no trade and the certified gap stays exact. Fixed points (``exempt``) are kept.
        self._edge: dict[int, tuple[float, float]] = {}
        if min_edge_bps > 0:
            for i, curve in self._slots:
                mid = _mid(curve)
                if self.assets[i] not in exempt and mid is not None:
                    band = min_edge_bps * 1e-4 * mid
                    self._edge[i] = (mid - band, mid + band)

    @property
    def traded(self) -> tuple[str, ...]:
        return tuple(self.assets[i] for i, _ in self._slots)

    def curve(self, asset: str) -> CostCurve:
        for i, curve in self._slots:
            if self.assets[i] == asset:
                return curve
        raise KeyError(f"venue does not trade {asset!r}")

    def prox(self, v: FloatArray, rho: FloatArray) -> FloatArray:
        out = np.zeros(len(self.assets))
        for i, curve in self._slots:
            out[i] = curve.prox(float(v[i]), float(rho[i]))
        return out

    def cost(self, x: FloatArray) -> float:
        total = 0.0
        for i, curve in self._slots:
            total += curve.cost(float(x[i]))
        for i in set(range(len(self.assets))) - {i for i, _ in self._slots}:
            if x[i] != 0.0:
                return float("inf")
        return total

    def demand(self, prices: FloatArray) -> FloatArray:
        """Best response ``argmin_x f(x) - p.x``: the midpoint of each asset's demand interval."""
        out = np.zeros(len(self.assets))
        for i, curve in self._slots:
            if self._declines(i, float(prices[i])):
                continue
            lo, hi = demand_interval(curve, float(prices[i]))
            out[i] = 0.5 * (lo + hi)
        return out

    def declines(self, asset: str, price: float) -> bool:
        """The venue's target mispricing rules out trading ``asset`` at ``price``."""
        for i, _ in self._slots:
            if self.assets[i] == asset:
                return self._declines(i, price)
        return False

    def _declines(self, i: int, price: float) -> bool:
        band = self._edge.get(i)
        return band is not None and band[0] < price < band[1]

    def dual_value(self, prices: FloatArray, x: FloatArray) -> float:
        """A certified lower bound on ``min_y f(y) - p.y``: the tighter of the bounds at the candidate ``x``
        and at the curve's own best response (both are valid lower bounds, so their maximum is too)."""
        total = 0.0
        for i, curve in self._slots:
            if self._declines(i, float(prices[i])):
                total += curve.cost(0.0)  # no trade is optimal for the declared problem in its band
                continue
            total += max(
                lagrangian_term(curve, float(prices[i]), float(x[i])),
                lagrangian_term(curve, float(prices[i])),
            )
        return total

    def bounds(self, asset: str) -> tuple[float, float]:
        curve = self.curve(asset)
        return curve.lower, curve.upper


def _mid(curve: CostCurve) -> float | None:
    """The venue's own price at no trade: the middle of its marginal prices at 0 (None if unpriced)."""
    left, right = curve.marginal(0.0)
    for price in (0.5 * (left + right), left, right):
        if math.isfinite(price) and price > 0:
            return price
    return None
