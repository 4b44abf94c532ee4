"""The vector each agent adds to the (securely aggregated) sum of a round, and its layout.

Agents send *deltas* of their running values (plan ``x``, cost ``f(x)``, duality-gap term) plus this
round's squared step ``dx**2`` per asset. The coordinator keeps running totals, so an agent that misses a
round is counted at its last accepted values (stale reuse) without the coordinator ever seeing them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from energibridge.secagg.fixedpoint import FixedPointCodec

FloatArray = NDArray[np.float64]

CODEC = FixedPointCodec(frac_bits=32)
"""Fixed point of the secure sums: resolution 2.3e-10, range +-2.1e9 / N. The rounding phase recovers exact
lot-grid sums while ``N * 2**-33`` stays below half the finest lot quantum (N < 43 for 1e-8 lots)."""

DIAGNOSTIC_CLAMP = 1e6
"""Bound on each agent's squared step and duality-gap term (absolute values, clamped before deltas are
taken, so running totals stay exact). They only feed residuals and the stopping rule: a clamped value
still says "far from converged" without overflowing the ring."""


@dataclass(frozen=True)
class Layout:
    """Positions inside a contribution vector for ``n`` assets: [dx(n), dx_sq(n), d_cost, d_gap]."""

    n_assets: int

    @property
    def size(self) -> int:
        return 2 * self.n_assets + 2

    @property
    def running(self) -> slice:
        """Entries accumulated into running totals (x, cost, gap)."""
        return slice(0, self.size)

    def pack(self, dx: FloatArray, dx_sq: FloatArray, d_cost: float, d_gap: float) -> FloatArray:
        out = np.empty(self.size, dtype=np.float64)
        n = self.n_assets
        out[:n] = dx
        out[n : 2 * n] = np.minimum(dx_sq, DIAGNOSTIC_CLAMP)
        out[2 * n] = d_cost
        out[2 * n + 1] = d_gap
        return out

    def unpack(self, vector: FloatArray) -> tuple[FloatArray, FloatArray, float, float]:
        n = self.n_assets
        if vector.shape != (self.size,):
            raise ValueError(f"contribution has shape {vector.shape}, expected ({self.size},)")
        return vector[:n], vector[n : 2 * n], float(vector[2 * n]), float(vector[2 * n + 1])
