"""Convex piecewise-linear cost: the shape of every limit-order ladder (order books, prediction markets).

Knots ``t_0 < ... < t_m`` (with ``t_0 = lower``, ``t_m = upper`` and ``0`` among them) and non-decreasing
slopes ``s_0 <= ... <= s_{m-1}`` (``s_k`` on ``[t_k, t_{k+1}]``) define ``f`` with ``f(0) = 0``. The prox
condition ``v in x + df(x)/rho`` is monotone in ``x`` and known in closed form at every knot, so the prox is
one binary search over knots plus one subtraction: O(log m), a few microseconds in CPython.

The table of ``f`` at the knots is built on the first ``cost`` call: ``prox``, ``marginal`` and ``demand``
need only knots and slopes, and a feed rebuilds its curves far more often than a planner prices them.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from itertools import accumulate
from operator import gt, lt, neg
from typing import Literal, overload

from sdk.curves.base import CurveInputError

_INF = math.inf
_HALF_ULP = 2.0**-53
"""Half the relative spacing of doubles: ``x + d == x`` needs ``|d| <= _HALF_ULP * |x|``."""


class PiecewiseLinearCurve:
    """A convex piecewise-linear :class:`~sdk.curves.base.CostCurve` given by its knots and slopes."""

    __slots__ = ("_f", "_m", "_s", "_t", "_zero")

    _t: list[float]
    _s: list[float]
    _f: list[float] | None
    """``f`` at every knot, built on the first ``cost`` call."""
    _m: int
    _zero: int

    def __init__(self, knots: Sequence[float], slopes: Sequence[float]) -> None:
        t = [float(k) for k in knots]
        s = [float(k) for k in slopes]
        self._install(t, s, check_knots(t, s))

    def _install(self, knots: list[float], slopes: list[float], zero: int) -> None:
        """Adopt checked knots and slopes (``knots[zero] == 0``); the lists are owned from here on."""
        self._t = knots
        self._s = slopes
        self._m = len(slopes)
        self._zero = zero
        self._f = None

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

    def _cost_table(self) -> list[float]:
        """``f`` at every knot, summed outward from the knot 0 (so small trades keep full precision)."""
        t, s, zero = self._t, self._s, self._zero
        f = [0.0] * len(t)
        for k in range(zero + 1, len(t)):
            f[k] = f[k - 1] + s[k - 1] * (t[k] - t[k - 1])
        for k in range(zero - 1, -1, -1):
            f[k] = f[k + 1] - s[k] * (t[k + 1] - t[k])
        self._f = f
        return f

    def cost(self, x: float) -> float:
        t = self._t
        if math.isnan(x):
            raise CurveInputError("x must be a number, got nan")
        if not t[0] <= x <= t[-1]:
            return _INF
        f = self._f
        if f is None:
            f = self._cost_table()
        k = bisect_right(t, x) - 1
        if k >= self._m:
            return f[-1]
        if k < self._zero:  # measure from the segment end nearer 0: small trades keep full relative precision
            return f[k + 1] + self._s[k] * (x - t[k + 1])
        return f[k] + self._s[k] * (x - t[k])

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


def check_knots(t: list[float], s: list[float]) -> int:
    """Check knots and slopes of a convex piecewise-linear cost (finite, knots strictly increasing and
    including 0, slopes non-decreasing); returns the index of the knot 0."""
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
    return zero


@overload
def ladder_side(
    prices: list[float],
    steps: list[float],
    cap: float = ...,
    *,
    sell: bool = ...,
    strict: Literal[False] = ...,
) -> tuple[list[float], list[float]]: ...
@overload
def ladder_side(
    prices: list[float], steps: list[float], cap: float = ..., *, sell: bool = ..., strict: bool
) -> tuple[list[float], list[float]] | None: ...
def ladder_side(
    prices: list[float], steps: list[float], cap: float = _INF, *, sell: bool = False, strict: bool = False
) -> tuple[list[float], list[float]] | None:
    """Walk one ladder of ``(unit price, signed quantity)`` steps, best first, out to ``cap`` base units.

    Returns ``(path, slopes)``: ``path[0] = 0.0`` and ``path[k + 1]`` the signed depth after step ``k``
    (``steps > 0`` walk up a buy ladder; ``sell=True`` walks down with ``steps < 0``); ``slopes[k]`` is the
    unit price of the segment ``[path[k], path[k + 1]]``. A step that does not move the depth (zero size, or
    a size lost to rounding next to a much larger depth) is skipped, as is everything beyond ``cap``.
    ``prices`` and ``steps`` have equal lengths; ``prices`` may come back as the slopes (not copied).

    Every step usually moves the depth: then the path is one C-level running sum, cut with a binary search.
    Otherwise the steps are walked one by one (``strict=True`` returns ``None`` instead: the bulk-checked
    book constructor takes that as a doubt to re-check level by level). Both give the same floats.
    """
    path = list(accumulate(steps, initial=0.0))
    if not steps:
        return path, []
    # Each step moves the depth when it exceeds 2**-53 of the total: an addend lost to rounding is at most
    # half an ulp of the running depth, and that depth is at most the total. Otherwise compare neighbours.
    if (max(steps) < path[-1] * _HALF_ULP if sell else min(steps) > path[-1] * _HALF_ULP) or all(
        map(gt if sell else lt, path, path[1:])
    ):
        last = -path[-1] if sell else path[-1]
        if not last >= cap:  # (a NaN cap cuts nothing, as in the walk)
            return path, prices
        if not cap > 0.0:
            return [0.0], []
        k = bisect_left(path, cap, key=neg if sell else None)  # the first depth reaching the cap ends it
        del path[k:]
        path.append(-cap if sell else cap)
        return path, prices[:k]
    if strict:
        return None
    return _walk(prices, steps, cap, sell)


def _walk(
    prices: Sequence[float], steps: Sequence[float], cap: float, sell: bool
) -> tuple[list[float], list[float]]:
    """``ladder_side`` one step at a time (any steps, including zero, negative or NaN ones)."""
    path = [0.0]
    slopes: list[float] = []
    last = 0.0
    if sell:
        floor = -cap
        for price, step in zip(prices, steps, strict=False):
            if last <= floor:
                break
            nxt = max(last + step, floor)
            if nxt < last:
                path.append(nxt)
                slopes.append(price)
                last = nxt
    else:
        for price, step in zip(prices, steps, strict=False):
            if last >= cap:
                break
            nxt = min(last + step, cap)
            if nxt > last:
                path.append(nxt)
                slopes.append(price)
                last = nxt
    return path, slopes


Half = tuple[list[float], list[float]]
"""Knots and slopes of one side of a curve, both in ascending order of knots: the lower half ends with the
knot 0, the upper half starts with it."""


def join_halves(lower: Half, upper: Half) -> tuple[list[float], list[float], int]:
    """Knots, slopes and the index of the knot 0 of the curve made of two halves (``lower`` is consumed)."""
    knots, slopes = lower
    zero = len(knots) - 1
    knots.pop()  # the 0.0 the upper half starts with
    knots += upper[0]
    slopes += upper[1]
    return knots, slopes, zero


def lower_half(path: list[float], slopes: list[float]) -> Half:
    """A sell ``ladder_side`` (walked down from 0) as the lower half of a curve, reversed in place."""
    path.reverse()
    slopes.reverse()
    return path, slopes


def ladder_knots(
    buy: Sequence[tuple[float, float]],
    sell: Sequence[tuple[float, float]],
    *,
    max_buy: float = _INF,
    max_sell: float = _INF,
) -> tuple[list[float], list[float]]:
    """Knots and slopes of the piecewise-linear cost of walking a buy ladder up and a sell ladder down."""
    knots, slopes, _ = join_halves(
        lower_half(*ladder_side([p for p, _ in sell], [-q for _, q in sell], max_sell, sell=True)),
        ladder_side([p for p, _ in buy], [q for _, q in buy], max_buy),
    )
    return knots, slopes
