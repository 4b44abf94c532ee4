"""Convex piecewise-linear cost: the shape of every limit-order ladder (order books, prediction markets).

Knots ``t_0 < ... < t_m`` (with ``t_0 = lower``, ``t_m = upper`` and ``0`` among them) and non-decreasing
slopes ``s_0 <= ... <= s_{m-1}`` (``s_k`` on ``[t_k, t_{k+1}]``) define ``f`` with ``f(0) = 0``. The prox
condition ``v in x + df(x)/rho`` is monotone in ``x`` and known in closed form at every knot, so the prox is
one binary search over knots plus one subtraction: O(log m), a few microseconds in CPython.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Sequence

from sdk.curves.base import CurveInputError

_INF = math.inf


class PiecewiseLinearCurve:
    """A convex piecewise-linear :class:`~sdk.curves.base.CostCurve` given by its knots and slopes."""

    __slots__ = ("_f", "_m", "_s", "_t", "_zero")

    def __init__(self, knots: Sequence[float], slopes: Sequence[float]) -> None:
        t = [float(k) for k in knots]
        s = [float(k) for k in slopes]
        if not t:
            raise CurveInputError("knots must contain at least the knot 0, got none")
        if len(s) != len(t) - 1:
            raise CurveInputError(f"slopes must have len(knots) - 1 = {len(t) - 1} entries, got {len(s)}")
        for i, k in enumerate(t):
            if not math.isfinite(k):
                raise CurveInputError(f"knots[{i}] must be finite, got {k!r}")
            if i and not t[i - 1] < k:
                raise CurveInputError(f"knots must increase strictly, got knots[{i - 1}]={t[i - 1]} >= {k}")
        for i, k in enumerate(s):
            if not math.isfinite(k):
                raise CurveInputError(f"slopes[{i}] must be finite, got {k!r}")
            if i and not s[i - 1] <= k:
                raise CurveInputError(
                    f"slopes must not decrease (convexity), got slopes[{i - 1}]={s[i - 1]} > {k}"
                )
        zero = bisect_left(t, 0.0)
        if zero == len(t) or t[zero] != 0.0:
            raise CurveInputError(f"knots must include 0 (no trade), got range [{t[0]}, {t[-1]}]")
        f = [0.0] * len(t)
        for k in range(zero + 1, len(t)):
            f[k] = f[k - 1] + s[k - 1] * (t[k] - t[k - 1])
        for k in range(zero - 1, -1, -1):
            f[k] = f[k + 1] - s[k] * (t[k + 1] - t[k])
        self._t = t
        self._s = s
        self._f = f
        self._m = len(s)
        self._zero = zero

    @classmethod
    def from_ladders(
        cls,
        buy: Sequence[tuple[float, float]],
        sell: Sequence[tuple[float, float]],
        *,
        max_buy: float = _INF,
        max_sell: float = _INF,
    ) -> PiecewiseLinearCurve:
        """Curve from ``(unit cost, quantity)`` buy steps (cheapest first) and ``(unit proceeds, quantity)``
        sell steps (best first), truncated at ``max_buy`` / ``max_sell`` base units. Zero-quantity steps are
        skipped."""
        knots, slopes = ladder_knots(buy, sell, max_buy=max_buy, max_sell=max_sell)
        return cls(knots, slopes)

    @property
    def lower(self) -> float:
        return self._t[0]

    @property
    def upper(self) -> float:
        return self._t[-1]

    @property
    def knots(self) -> tuple[float, ...]:
        return tuple(self._t)

    @property
    def slopes(self) -> tuple[float, ...]:
        return tuple(self._s)

    @property
    def zero_index(self) -> int:
        """Index of the knot ``0`` in :attr:`knots`."""
        return self._zero

    def cost(self, x: float) -> float:
        t = self._t
        if math.isnan(x):
            raise CurveInputError("x must be a number, got nan")
        if not t[0] <= x <= t[-1]:
            return _INF
        k = bisect_right(t, x) - 1
        if k >= self._m:
            return self._f[-1]
        if k < self._zero:  # measure from the segment end nearer 0: small trades keep full relative precision
            return self._f[k + 1] + self._s[k] * (x - t[k + 1])
        return self._f[k] + self._s[k] * (x - t[k])

    def marginal(self, x: float) -> tuple[float, float]:
        t = self._t
        if not t[0] <= x <= t[-1]:
            raise CurveInputError(f"x must be in [{t[0]}, {t[-1]}], got {x!r}")
        s = self._s
        k = bisect_left(t, x)
        if t[k] == x:
            return (s[k - 1] if k > 0 else -_INF, s[k] if k < self._m else _INF)
        return (s[k - 1], s[k - 1])

    def prox(self, v: float, rho: float) -> float:
        if not 0.0 < rho < _INF:
            raise CurveInputError(f"rho must be finite and > 0, got {rho!r}")
        if not -_INF < v < _INF:
            raise CurveInputError(f"v must be finite, got {v!r}")
        t = self._t
        s = self._s
        inv = 1.0 / rho
        lo, hi = 0, self._m
        while lo < hi:  # first knot k with v <= t_k + s_k / rho (the top of its h-interval)
            mid = (lo + hi) >> 1
            if v <= t[mid] + s[mid] * inv:
                hi = mid
            else:
                lo = mid + 1
        if lo == 0:
            return t[0]
        x = v - s[lo - 1] * inv
        if x >= t[lo]:
            return t[lo]
        return x if x > t[lo - 1] else t[lo - 1]

    def demand(self, price: float) -> tuple[float, float]:
        """The interval ``argmin_x cost(x) - price * x`` (a whole segment when ``price`` equals its slope)."""
        if math.isnan(price):
            raise CurveInputError("price must be a number, got nan")
        return (self._t[bisect_left(self._s, price)], self._t[bisect_right(self._s, price)])


def ladder_knots(
    buy: Sequence[tuple[float, float]],
    sell: Sequence[tuple[float, float]],
    *,
    max_buy: float = _INF,
    max_sell: float = _INF,
) -> tuple[list[float], list[float]]:
    """Knots and slopes of the piecewise-linear cost of walking a buy ladder up and a sell ladder down."""
    up: list[float] = [0.0]
    up_slopes: list[float] = []
    for price, qty in buy:
        if up[-1] >= max_buy:
            break
        nxt = min(up[-1] + qty, max_buy)
        if nxt > up[-1]:
            up.append(nxt)
            up_slopes.append(price)
    down: list[float] = [0.0]
    down_slopes: list[float] = []
    for price, qty in sell:
        if -down[-1] >= max_sell:
            break
        nxt = max(down[-1] - qty, -max_sell)
        if nxt < down[-1]:
            down.append(nxt)
            down_slopes.append(price)
    knots = down[:0:-1] + up
    slopes = down_slopes[::-1] + up_slopes
    return knots, slopes
