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


PROBES = 3
"""Probe prices per asset and round (price-space): with the round's price, four points of net demand."""
SLOPE_STEP = 1e-3
"""Relative half-width of the central difference behind an agent's reported demand slope (10 bps)."""


@dataclass(frozen=True)
class Extras:
    """The absolute (this round only) part of a round's summed contributions.

    Each block counts the agents that filled it, so the coordinator uses a block only when every member
    whose vector is in the sum filled it (an agent that cannot, e.g. a private release that must not
    reveal more than its answer, leaves it empty and the block is ignored)."""

    rounded_count: float
    rounded: FloatArray
    """Sum of the agents' answers rounded toward zero onto their lot grids (the rounding phase's sum)."""
    rounded_cost: float
    probe_count: float
    probe: FloatArray
    """Summed net demand at the round's probe prices, ``(PROBES, n)`` (price-space; zeros if none)."""
    slope: FloatArray
    """Summed price-scaled slope of net demand at the round's prices, ``dE / d ln p`` (units)."""


@dataclass(frozen=True)
class Layout:
    """Positions inside a contribution vector for ``n`` assets.

    ``[dx(n), dx_sq(n), d_cost, d_gap]`` are deltas against the coordinator's running totals (stale reuse);
    after them come absolute entries of this round only: ``[rounded_count, rounded(n), rounded_cost,
    probe_count, probe(PROBES x n), slope(n)]`` (``Extras``). The rounding phase sends ``[rounded(n),
    cost]`` at the front and zeros elsewhere.
    """

    n_assets: int

    @property
    def running_size(self) -> int:
        return 2 * self.n_assets + 2

    @property
    def size(self) -> int:
        return (PROBES + 4) * self.n_assets + 5

    @property
    def running(self) -> slice:
        """Entries accumulated into running totals (x, cost, gap)."""
        return slice(0, self.running_size)

    def pack(
        self,
        dx: FloatArray,
        dx_sq: FloatArray,
        d_cost: float,
        d_gap: float,
        *,
        rounded: tuple[FloatArray, float] | None = None,
        probe: tuple[FloatArray, FloatArray] | None = None,
    ) -> FloatArray:
        """``rounded``: (rounded plan, its cost); ``probe``: (demand at the probe prices ``(PROBES, n)``,
        scaled slope)."""
        out = np.zeros(self.size, dtype=np.float64)
        n = self.n_assets
        out[:n] = dx
        out[n : 2 * n] = np.minimum(dx_sq, DIAGNOSTIC_CLAMP)
        out[2 * n] = d_cost
        out[2 * n + 1] = d_gap
        base = self.running_size
        if rounded is not None:
            out[base] = 1.0
            out[base + 1 : base + 1 + n] = rounded[0]
            out[base + 1 + n] = rounded[1]
        base += n + 2
        if probe is not None:
            out[base] = 1.0
            out[base + 1 : base + 1 + PROBES * n] = np.asarray(probe[0]).reshape(PROBES * n)
            slope = np.clip(probe[1], -DIAGNOSTIC_CLAMP, DIAGNOSTIC_CLAMP)
            out[base + 1 + PROBES * n : base + 1 + (PROBES + 1) * n] = slope
        return out

    def with_rounded(self, vector: FloatArray, rounded: FloatArray, cost: float) -> FloatArray:
        """``vector`` with its rounded-plan block filled (a copy)."""
        if vector.shape != (self.size,) or rounded.shape != (self.n_assets,):
            raise ValueError(f"with_rounded: expected {self.size} and {self.n_assets} values")
        out = vector.copy()
        base = self.running_size
        out[base] = 1.0
        out[base + 1 : base + 1 + self.n_assets] = rounded
        out[base + 1 + self.n_assets] = cost
        return out

    def unpack(self, vector: FloatArray) -> tuple[FloatArray, FloatArray, float, float]:
        n = self.n_assets
        if vector.shape != (self.size,):
            raise ValueError(f"contribution has shape {vector.shape}, expected ({self.size},)")
        return vector[:n], vector[n : 2 * n], float(vector[2 * n]), float(vector[2 * n + 1])

    def extras(self, vector: FloatArray) -> Extras:
        n = self.n_assets
        if vector.shape != (self.size,):
            raise ValueError(f"contribution has shape {vector.shape}, expected ({self.size},)")
        base = self.running_size
        probe = base + n + 2
        return Extras(
            rounded_count=float(vector[base]),
            rounded=vector[base + 1 : base + 1 + n].copy(),
            rounded_cost=float(vector[base + 1 + n]),
            probe_count=float(vector[probe]),
            probe=vector[probe + 1 : probe + 1 + PROBES * n].reshape(PROBES, n).copy(),
            slope=vector[probe + 1 + PROBES * n : probe + 1 + (PROBES + 1) * n].copy(),
        )
