"""Everything that touches OpenDP: the Gaussian mechanism, its zCDP cost, and zCDP -> (epsilon, delta).

* Noise: ``opendp.measurements.make_gaussian`` on ``vector_domain(atom_domain(float, nan=False), size=n)``
  with ``l2_distance(float)``, output measure zCDP. OpenDP samples exactly (a discrete Gaussian on the
  grid 2^k, CKS20) from its own CSPRNG, never from numpy. We fix k = -60: OpenDP then needs the vector
  length (its privacy map charges the rounding to the grid, ~2^-60 * sqrt(n), against the sensitivity),
  and sampling is about 4x faster than at the default (finest) grid. Values far below 2^-60 in magnitude
  are not meaningful signals here.
* Cost: the measurement's own privacy map at the caller's L2 sensitivity. We pick the smallest scale
  (``sensitivity / sqrt(2 rho)``, nudged up by ulps) whose map is <= the requested rho.
* Composition: zCDP composes by addition; OpenDP's compositors fold the costs left to right, rounding
  every inexact float addition up. ``add_rho`` reproduces that fold exactly (tests compare bit for bit
  with ``make_composition`` and ``make_adaptive_composition``).
* Conversion: ``epsilon_for_rho`` hands the rho to OpenDP as the single query budget of a
  ``make_adaptive_composition`` (whose map is then exactly that rho), and asks
  ``make_zCDP_to_approxDP`` for the epsilon at ``delta``. That is OpenDP's own conversion (the
  Canonne-Kamath-Steinke 2020 bound), without any user-defined measurement.
"""

from __future__ import annotations

import importlib.metadata
import math
from fractions import Fraction
from functools import cache, lru_cache
from typing import Any

import opendp.prelude as dp

from agents.privacy.errors import InvalidRelease

MAX_SCALE_NUDGES = 64


@cache
def _enable() -> None:
    """``contrib`` gates OpenDP's vetted-but-not-yet-fully-reviewed components, Gaussian included."""
    dp.enable_features("contrib")


@cache
def opendp_version() -> str:
    """Installed OpenDP version (recorded with every spend: the privacy maps are OpenDP's)."""
    try:
        return importlib.metadata.version("opendp")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


GRID_K = -60


def vector_space(dimension: int | None = None) -> tuple[Any, Any]:
    """OpenDP input space: float vectors (of ``dimension`` if given) under the L2 distance."""
    _enable()
    atom = dp.atom_domain(T=float, nan=False)
    domain = dp.vector_domain(atom) if dimension is None else dp.vector_domain(atom, size=dimension)
    return domain, dp.l2_distance(T=float)


def gaussian_measurement(scale: float, dimension: int) -> Any:
    """OpenDP's Gaussian mechanism on float vectors of ``dimension`` under L2, zCDP output measure."""
    return dp.m.make_gaussian(*vector_space(dimension), scale=scale, k=GRID_K)


@lru_cache(maxsize=512)
def calibrate_gaussian(sensitivity: float, rho: float, dimension: int) -> tuple[Any, float, float]:
    """(measurement, scale, charged rho): the least-noise OpenDP Gaussian whose cost is <= ``rho``.

    Cached: an agent releases the same kind of signal every round, so calibration is paid once.
    """
    scale = sensitivity / math.sqrt(2.0 * rho)
    for _ in range(MAX_SCALE_NUDGES):
        meas = gaussian_measurement(scale, dimension)
        cost = float(meas.map(sensitivity))
        if cost <= rho:
            return meas, scale, cost
        # The grid rounding term can exceed one ulp: grow geometrically after the first nudges.
        scale = (
            math.nextafter(scale, math.inf) if cost <= rho * (1 + 1e-15) else scale * math.sqrt(cost / rho)
        )
    raise InvalidRelease(
        f"rho_cost: could not calibrate a Gaussian for sensitivity {sensitivity!r} within rho {rho!r}"
    )


def add_rho(total: float, cost: float) -> float:
    """``total + cost`` rounded toward +inf, as OpenDP's compositors add privacy losses."""
    exact = Fraction(total) + Fraction(cost)
    nearest = total + cost
    if Fraction(nearest) < exact:
        nearest = math.nextafter(nearest, math.inf)
    return nearest


def compose_rho(costs: list[float]) -> float:
    """Left fold of ``add_rho`` from 0: the total OpenDP reports for these costs composed."""
    total = 0.0
    for cost in costs:
        total = add_rho(total, cost)
    return total


@lru_cache(maxsize=1024)
def epsilon_for_rho(rho: float, delta: float) -> float:
    """OpenDP's epsilon such that ``rho``-zCDP implies (epsilon, ``delta``)-DP (a few ms: cached)."""
    if rho == 0.0:
        return 0.0
    space = vector_space()
    holder = dp.c.make_adaptive_composition(*space, dp.zero_concentrated_divergence(), d_in=1.0, d_mids=[rho])
    converted: Any = dp.c.make_zCDP_to_approxDP(holder)
    profile = converted.map(1.0)
    return float(profile.epsilon(delta))
