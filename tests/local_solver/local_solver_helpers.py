"""Local-solver test helpers: problems drawn from a scenario and an independent 1-D minimiser."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from hypothesis import strategies as st

from sdk.curves.base import CostCurve
from sdk.scenarios import Scenario, generate_scenario

SCENARIO: Scenario = generate_scenario(10, 17, kinds=("order_book", "cpmm", "clmm", "perp", "prediction"))


def venue_curves(index: int) -> dict[str, CostCurve]:
    venue = list(SCENARIO.venues.values())[index % len(SCENARIO.venues)]
    return dict(venue.curves)


def ref_prices(curves: dict[str, CostCurve]) -> dict[str, float]:
    return {a: SCENARIO.mids[a] for a in curves}


@st.composite
def local_inputs(draw: st.DrawFn, curves: dict[str, CostCurve]) -> tuple[np.ndarray, np.ndarray]:
    """``(v, rho)``: ``rho_a`` over six decades around ``price / size``, ``v_a`` around ``price / rho``."""
    vs, rhos = [], []
    for asset, curve in curves.items():
        price = SCENARIO.mids[asset]
        size = max(curve.upper - curve.lower, 1e-9)
        rho = price / size * math.exp(draw(st.floats(math.log(1e-3), math.log(1e3))))
        vs.append(price / rho * draw(st.floats(0.97, 1.03)) + draw(st.floats(-1.0, 1.0)) * size)
        rhos.append(rho)
    return np.array(vs), np.array(rhos)


def minimise_1d(h: Callable[[float], float], lo: float, hi: float, kinks: list[float]) -> float:
    """Minimum value of a convex ``h`` on ``[lo, hi]``: grid plus known kinks, then golden section."""
    if lo == hi:
        return h(lo)
    grid = sorted(
        {lo, hi, *[k for k in kinks if lo <= k <= hi], *[lo + (hi - lo) * i / 300 for i in range(301)]}
    )
    values = [h(x) for x in grid]
    i = min(range(len(grid)), key=values.__getitem__)
    # two neighbours a side: near-duplicate grid points (a kink next to a grid point) tie within rounding
    a, b = grid[max(i - 2, 0)], grid[min(i + 2, len(grid) - 1)]
    best = values[i]
    r = (math.sqrt(5.0) - 1.0) / 2.0
    c, d = b - r * (b - a), a + r * (b - a)
    fc, fd = h(c), h(d)
    for _ in range(200):
        if fc <= fd:
            b, d, fd = d, c, fc
            c = b - r * (b - a)
            fc = h(c)
        else:
            a, c, fc = c, d, fd
            d = a + r * (b - a)
            fd = h(d)
        if b - a <= 1e-15 * max(abs(a), abs(b), 1e-300):
            break
    return min(best, fc, fd, h(a), h(b))


def kinks(curve: CostCurve) -> list[float]:
    knots = getattr(curve, "knots", None)
    if knots is not None:
        return [*knots, 0.0]
    book = getattr(curve, "book", None)
    if book is not None:
        return [*book.knots, 0.0]
    segments = getattr(curve, "segments", ())
    return [0.0, *[s.start for s in segments], *[s.end for s in segments]]
