"""Convex cost built from constant-product segments: the engine behind CPMM pools and concentrated liquidity.

A constant-product pool with base reserve ``X``, quote reserve ``Y`` and fee ``1 - gamma`` (charged on the
input, as Uniswap does) costs, for a buy of ``d > 0`` base and a sell of ``|d|`` base (``d < 0``)::

    buy   Y d / (gamma (X - d))            marginal  X Y / (gamma (X - d)^2)
    sell  gamma Y d / (X - gamma d)        marginal  gamma X Y / (X - gamma d)^2

Concentrated liquidity is a chain of such pools on *virtual* reserves ``(L / sqrtP, L sqrtP)``, one per tick
range, so one engine serves both. A :class:`ConstantProductSegments` is an ordered, contiguous list of
segments along ``x``; a buy segment is measured from its left end, a sell segment from its right end (the end
nearer ``x = 0``). The marginal cost is continuous inside a segment and may jump up at a joint (the fee band
at ``x = 0``, a range with no liquidity in between).

The local step ``prox`` finds the segment by binary search on ``h(x) = x + f'(x)/rho`` (monotone, known at the
joints) and then solves the one-dimensional optimality condition inside it with a safeguarded Newton iteration
started right of the root (the condition is convex and increasing, so Newton descends monotonically).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass

from sdk.curves.base import CurveInputError

_INF = math.inf
_NEWTON_ITERATIONS = 80
_REL_STEP = 4e-16


@dataclass(frozen=True, slots=True)
class Segment:
    """One constant-product segment on ``[start, end]`` (``start < end``) of the trade axis.

    ``origin`` is ``start`` for a buy segment and ``end`` for a sell segment; ``cost_at_origin`` is the
    cumulative cost there; ``(xv, yv)`` are the virtual reserves at the origin.
    """

    start: float
    end: float
    buy: bool
    cost_at_origin: float
    xv: float
    yv: float


def buy_cost(xv: float, yv: float, gamma: float, d: float) -> float:
    """Quote paid to take ``d >= 0`` base out of a pool with reserves ``(xv, yv)``."""
    return yv * d / (gamma * (xv - d))


def sell_cost(xv: float, yv: float, gamma: float, d: float) -> float:
    """Cost (negative proceeds) of selling ``-d >= 0`` base into a pool with reserves ``(xv, yv)``."""
    return gamma * yv * d / (xv - gamma * d)


def buy_marginal(xv: float, yv: float, gamma: float, d: float) -> float:
    r = xv - d
    return xv * yv / (gamma * r * r)


def sell_marginal(xv: float, yv: float, gamma: float, d: float) -> float:
    r = xv - gamma * d
    return gamma * xv * yv / (r * r)


def buy_inverse_marginal(xv: float, yv: float, gamma: float, price: float) -> float:
    """``d >= 0`` whose buy marginal equals ``price`` (``price`` above the marginal at ``d = 0``)."""
    m0 = yv / (gamma * xv)
    q = m0 / price
    return xv * ((price - m0) / price) / (1.0 + math.sqrt(q))


def sell_inverse_marginal(xv: float, yv: float, gamma: float, price: float) -> float:
    """``d <= 0`` whose sell marginal equals ``price`` (``0 < price`` below the marginal at ``d = 0``)."""
    m0 = gamma * yv / xv
    q = m0 / price
    return xv * ((price - m0) / price) / (gamma * (1.0 + math.sqrt(q)))


_POLISH_STEPS = 2
"""Newton steps in d after the log-space solve (each a few flops; converged ones stop at once)."""


def _buy_root(seg: Segment, gamma: float, rho: float, w: float, cap: float) -> float:
    """Root in ``(0, cap]`` of ``buy_marginal(d) + rho (d - w)``; the caller guarantees one exists.

    Newton runs on ``G(r) = log(K / rho) - 2 log r - log(w - xv + r)`` in the distance ``r = xv - d`` to the
    asymptote: ``G`` is convex and decreasing, so Newton from a point left of the root (``d`` right of it)
    climbs monotonically, and the logarithm keeps the steps large even when the start sits close to the
    asymptote.
    """
    xv, yv = seg.xv, seg.yv
    m0 = yv / (gamma * xv)
    d = (rho * w - m0) / (2.0 * m0 / xv + rho)  # root of the tangent at 0: right of the true root, below w
    d = min(d, cap)
    r = xv - d
    s = w - xv
    if s + r <= 0.0:
        # Rounding put the start at or past w (huge rho): the root lies below w, so restart just inside
        # the logarithm's domain; Newton then climbs monotonically as above.
        r = -s + max(abs(s), xv) * 1e-15
    lk = math.log(xv * yv / (gamma * rho))
    for _ in range(_NEWTON_ITERATIONS):
        t = s + r
        g = lk - 2.0 * math.log(r) - math.log(t)
        if g <= 0.0:
            break
        step = g / (2.0 / r + 1.0 / t)
        r += step
        if step <= _REL_STEP * r:
            break
    d = min(max(xv - r, 0.0), cap)
    # Polish in d itself: the log-Newton's variable r = xv - d carries an absolute error of eps * xv,
    # which a huge rho turns into a visibly worse objective (seen: 2% at rho 1e20 off scale).
    for _ in range(_POLISH_STEPS):
        gap = xv - d
        if gap <= 0.0:
            break
        m = yv * xv / (gamma * gap * gap)
        nxt = d - (m + rho * (d - w)) / (2.0 * m / gap + rho)
        if not (math.isfinite(nxt) and 0.0 <= nxt <= cap and nxt < xv) or nxt == d:
            break
        d = nxt
    return d


def _sell_root(seg: Segment, gamma: float, rho: float, w: float, *, floor: float, m_floor: float) -> float:
    """Root in ``[floor, 0)`` of ``sell_marginal(d) + rho (d - w)``; ``m_floor`` is the marginal at ``floor``.

    Same log-Newton as :func:`_buy_root` in ``r = xv - gamma d``; the start is the smaller of the tangent root
    and ``w - m_floor / rho``, both right of the root, the latter strictly below ``w`` where the logarithm is
    defined.
    """
    xv, yv = seg.xv, seg.yv
    m0 = gamma * yv / xv
    d = (rho * w - m0) / (2.0 * gamma * m0 / xv + rho)
    d = max(min(d, w - m_floor / rho), floor)
    r = xv - gamma * d
    s = gamma * w - xv
    lk = math.log(xv * yv * gamma * gamma / rho)
    for _ in range(_NEWTON_ITERATIONS):
        t = s + r
        if t <= 0.0:
            break
        g = lk - 2.0 * math.log(r) - math.log(t)
        if g <= 0.0:
            break
        step = g / (2.0 / r + 1.0 / t)
        r += step
        if step <= _REL_STEP * r:
            break
    d = min(max((xv - r) / gamma, floor), 0.0)
    for _ in range(_POLISH_STEPS):  # polish in d, as in _buy_root
        gap = xv - gamma * d
        m = gamma * yv * xv / (gap * gap)
        nxt = d - (m + rho * (d - w)) / (2.0 * gamma * m / gap + rho)
        if not (math.isfinite(nxt) and floor <= nxt <= 0.0) or nxt == d:
            break
        d = nxt
    return d


class ConstantProductSegments:
    """Cost, sub-gradient, prox and price response of a contiguous chain of constant-product segments."""

    __slots__ = ("_gamma", "_lower", "_m_end", "_m_start", "_n", "_segments", "_starts", "_upper")

    def __init__(self, gamma: float, segments: list[Segment]) -> None:
        if not 0.0 < gamma <= 1.0:
            raise CurveInputError(f"gamma (1 - fee) must be in (0, 1], got {gamma!r}")
        for i, seg in enumerate(segments):
            if not seg.start < seg.end:
                raise CurveInputError(f"segments[{i}] must have start < end, got [{seg.start}, {seg.end}]")
            if not (seg.xv > 0.0 and seg.yv > 0.0 and math.isfinite(seg.xv) and math.isfinite(seg.yv)):
                raise CurveInputError(f"segments[{i}] virtual reserves must be finite and > 0")
            if i and segments[i - 1].end != seg.start:
                raise CurveInputError(f"segments[{i}] must start where segments[{i - 1}] ends")
            if seg.buy and seg.end - seg.start >= seg.xv:
                raise CurveInputError(f"segments[{i}] buys the whole virtual reserve")
        self._gamma = gamma
        self._segments = tuple(segments)
        self._n = len(segments)
        self._starts = [s.start for s in segments]
        self._lower = segments[0].start if segments else 0.0
        self._upper = segments[-1].end if segments else 0.0
        self._m_start = [self._interior_marginal(s, s.start) for s in segments]
        self._m_end = [self._interior_marginal(s, s.end) for s in segments]
        if not self._lower <= 0.0 <= self._upper:
            raise CurveInputError(f"segments must cover x = 0, got [{self._lower}, {self._upper}]")
        for i in range(1, self._n):
            if self._m_end[i - 1] > self._m_start[i] * (1.0 + 1e-12):
                raise CurveInputError(f"segments[{i}] makes the cost non-convex (marginal falls at a joint)")

    @property
    def gamma(self) -> float:
        return self._gamma

    @property
    def segments(self) -> tuple[Segment, ...]:
        return self._segments

    @property
    def lower(self) -> float:
        return self._lower

    @property
    def upper(self) -> float:
        return self._upper

    def _interior_marginal(self, seg: Segment, x: float) -> float:
        if seg.buy:
            return buy_marginal(seg.xv, seg.yv, self._gamma, x - seg.start)
        return sell_marginal(seg.xv, seg.yv, self._gamma, x - seg.end)

    def _segment_cost(self, seg: Segment, x: float) -> float:
        if seg.buy:
            return seg.cost_at_origin + buy_cost(seg.xv, seg.yv, self._gamma, x - seg.start)
        return seg.cost_at_origin + sell_cost(seg.xv, seg.yv, self._gamma, x - seg.end)

    def _locate(self, x: float) -> int:
        k = bisect_right(self._starts, x) - 1
        return min(max(k, 0), self._n - 1)

    def cost(self, x: float) -> float:
        if math.isnan(x):
            raise CurveInputError("x must be a number, got nan")
        if not self._lower <= x <= self._upper:
            return _INF
        if x == 0.0 or self._n == 0:
            return 0.0
        return self._segment_cost(self._segments[self._locate(x)], x)

    def marginal(self, x: float) -> tuple[float, float]:
        if not self._lower <= x <= self._upper:
            raise CurveInputError(f"x must be in [{self._lower}, {self._upper}], got {x!r}")
        if self._n == 0:
            return (-_INF, _INF)
        k = self._locate(x)
        seg = self._segments[k]
        if x == seg.start:
            return (self._m_end[k - 1] if k else -_INF, self._m_start[k])
        if x == seg.end:  # only the last segment's end reaches here
            return (self._m_end[k], _INF)
        m = self._interior_marginal(seg, x)
        return (m, m)

    def prox(self, v: float, rho: float) -> float:
        if not 0.0 < rho < _INF:
            raise CurveInputError(f"rho must be finite and > 0, got {rho!r}")
        if not -_INF < v < _INF:
            raise CurveInputError(f"v must be finite, got {v!r}")
        n = self._n
        if n == 0:
            return 0.0
        inv = 1.0 / rho
        ends = self._m_end
        segs = self._segments
        lo, hi = 0, n
        while lo < hi:  # first segment whose right joint is at or beyond v in h-space
            mid = (lo + hi) >> 1
            if v <= segs[mid].end + ends[mid] * inv:
                hi = mid
            else:
                lo = mid + 1
        if lo == n:
            return self._upper
        seg = segs[lo]
        if v <= seg.start + self._m_start[lo] * inv:
            return seg.start
        if seg.buy:
            d = _buy_root(seg, self._gamma, rho, v - seg.start, seg.end - seg.start)
            return min(seg.start + d, seg.end)
        d = _sell_root(
            seg, self._gamma, rho, v - seg.end, floor=seg.start - seg.end, m_floor=self._m_start[lo]
        )
        return max(seg.end + d, seg.start)

    def demand(self, price: float) -> tuple[float, float]:
        """``argmin_x cost(x) - price * x`` (a single point: marginals rise strictly inside segments)."""
        if math.isnan(price):
            raise CurveInputError("price must be a number, got nan")
        n = self._n
        if n == 0:
            return (0.0, 0.0)
        ends = self._m_end
        lo, hi = 0, n
        while lo < hi:
            mid = (lo + hi) >> 1
            if price <= ends[mid]:
                hi = mid
            else:
                lo = mid + 1
        if lo == n:
            return (self._upper, self._upper)
        seg = self._segments[lo]
        if price <= self._m_start[lo]:
            return (seg.start, seg.start)
        if seg.buy:
            d = buy_inverse_marginal(seg.xv, seg.yv, self._gamma, price)
            x = min(max(seg.start + d, seg.start), seg.end)
        else:
            d = sell_inverse_marginal(seg.xv, seg.yv, self._gamma, price)
            x = min(max(seg.end + d, seg.start), seg.end)
        return (x, x)
