"""Hypothesis strategies for every curve kind, and independent brute-force references for the tests.

Scales are log-uniform over many decades (prices 1e-3..1e5, sizes 1e-3..1e5, rho over 8 decades around the
curve's natural scale) so that rounding, kinks, empty and one-sided books, zero liquidity and binding boxes
all show up.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from hypothesis import strategies as st

from sdk.curves.base import CostCurve
from sdk.curves.clmm import ConcentratedLiquidityCurve, tick_to_sqrt_price
from sdk.curves.cpmm import ConstantProductCurve
from sdk.curves.order_book import OrderBookCurve
from sdk.curves.perp import PerpetualCurve
from sdk.curves.piecewise import PiecewiseLinearCurve
from sdk.curves.prediction import PredictionMarketCurve


def log_uniform(lo: float, hi: float) -> st.SearchStrategy[float]:
    return st.floats(math.log(lo), math.log(hi)).map(math.exp)


def fraction(lo: float, hi: float) -> st.SearchStrategy[float]:
    """Floats in ``[lo, hi]``, 0 or at least 1e-6 in size (no subnormal boxes whose squares underflow)."""
    return st.floats(lo, hi).filter(lambda f: f == 0.0 or abs(f) >= 1e-6)


@st.composite
def boxes(draw: st.DrawFn, scale: float) -> tuple[float | None, float | None]:
    """Optional ``(max_buy, max_sell)``: none, zero, or a fraction of ``scale``."""
    choice = st.one_of(st.none(), st.just(0.0), st.floats(0.01, 2.0).map(lambda f: f * scale))
    return draw(choice), draw(choice)


@st.composite
def ladders(
    draw: st.DrawFn, mid: float, *, max_levels: int = 12, step: float = 1e-3
) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    """Bid and ask ladders around ``mid`` (either may be empty; sizes may be 0)."""
    size_scale = draw(log_uniform(1e-3, 1e5))
    n_bids = draw(st.integers(0, max_levels))
    n_asks = draw(st.integers(0, max_levels))
    half = draw(st.floats(0.0, 20.0)) * step + step / 2
    bids: list[tuple[float, float]] = []
    price = mid * (1.0 - half)
    for _ in range(n_bids):
        size = draw(st.one_of(st.just(0.0), st.floats(0.01, 10.0).map(lambda s: s * size_scale)))
        bids.append((price, size))
        price *= 1.0 - draw(st.floats(0.2, 5.0)) * step
    asks: list[tuple[float, float]] = []
    price = mid * (1.0 + half)
    for _ in range(n_asks):
        size = draw(st.one_of(st.just(0.0), st.floats(0.01, 10.0).map(lambda s: s * size_scale)))
        asks.append((price, size))
        price *= 1.0 + draw(st.floats(0.2, 5.0)) * step
    return bids, asks


@st.composite
def order_books(draw: st.DrawFn) -> OrderBookCurve:
    mid = draw(log_uniform(1e-3, 1e5))
    bids, asks = draw(ladders(mid))
    depth = sum(q for _, q in bids + asks) + 1.0
    max_buy, max_sell = draw(boxes(depth / 4))
    return OrderBookCurve(
        bids,
        asks,
        taker_fee_bps=draw(st.sampled_from([0.0, 1.0, 5.0, 10.0, 50.0])),
        book_usage=draw(st.sampled_from([0.05, 0.3, 1.0])),
        max_buy=max_buy,
        max_sell=max_sell,
    )


@st.composite
def prediction_curves(draw: st.DrawFn) -> PredictionMarketCurve:
    best_bid = draw(st.integers(1, 97))
    best_ask = draw(st.integers(best_bid + 1, 99))
    n_bids = draw(st.integers(0, min(8, best_bid)))
    n_asks = draw(st.integers(0, min(8, 100 - best_ask)))
    sizes = st.one_of(st.just(0.0), log_uniform(1.0, 1e4))
    bids = [((best_bid - k) / 100, draw(sizes)) for k in range(n_bids)]
    asks = [((best_ask + k) / 100, draw(sizes)) for k in range(n_asks)]
    max_buy, max_sell = draw(boxes(1e3))
    return PredictionMarketCurve(
        bids, asks, book_usage=draw(st.sampled_from([0.3, 1.0])), max_buy=max_buy, max_sell=max_sell
    )


@st.composite
def cpmms(draw: st.DrawFn) -> ConstantProductCurve:
    x = draw(log_uniform(1e-3, 1e7))
    price = draw(log_uniform(1e-3, 1e5))
    fee = draw(st.sampled_from([0.0, 0.0005, 0.003, 0.01, 0.05]))
    max_buy = draw(st.one_of(st.none(), st.just(0.0), st.floats(0.001, 0.99).map(lambda f: f * x)))
    max_sell = draw(st.one_of(st.none(), st.just(0.0), log_uniform(1e-3, 1e2).map(lambda f: f * x)))
    return ConstantProductCurve(x, x * price, fee=fee, max_buy=max_buy, max_sell=max_sell)


@st.composite
def clmms(draw: st.DrawFn) -> ConcentratedLiquidityCurve:
    spacing = draw(st.sampled_from([1, 10, 60, 200]))
    current = draw(st.integers(-200_000, 200_000))
    s0 = tick_to_sqrt_price(current) * draw(st.floats(1.0, 1.0001 ** (spacing / 2)))
    nets: dict[int, float] = {}
    active = 0.0
    liq_scale = draw(log_uniform(1e-2, 1e8))
    for _ in range(draw(st.integers(0, 6))):
        lo = (current // spacing + draw(st.integers(-60, 30))) * spacing
        hi = lo + spacing * draw(st.integers(1, 60))
        liq = liq_scale * draw(st.floats(0.01, 10.0))
        nets[lo] = nets.get(lo, 0.0) + liq
        nets[hi] = nets.get(hi, 0.0) - liq
        if tick_to_sqrt_price(lo) <= s0 < tick_to_sqrt_price(hi):
            active += liq
    max_buy, max_sell = draw(st.one_of(st.just((None, None)), boxes(liq_scale / s0 * 1e-3)))
    return ConcentratedLiquidityCurve(
        s0,
        active,
        sorted(nets.items()),
        fee=draw(st.sampled_from([0.0, 0.0001, 0.0005, 0.003, 0.01])),
        tick_spacing=spacing,
        max_buy=max_buy,
        max_sell=max_sell,
    )


@st.composite
def perps(draw: st.DrawFn) -> PerpetualCurve:
    book = draw(order_books())
    mid = book.mid or (book.asks[0][0] if book.asks else (book.bids[0][0] if book.bids else 1.0))
    depth = max(book.upper - book.lower, 1e-6)
    return PerpetualCurve(
        book,
        mark_price=mid * draw(st.floats(0.99, 1.01)),
        funding_rate_per_hour=draw(st.floats(-1e-3, 1e-3)),
        horizon_hours=draw(st.sampled_from([0.0, 1.0, 8.0, 24.0 * 7])),
        margin=draw(st.one_of(st.just(math.inf), fraction(0.0, 2.0).map(lambda f: f * depth * mid))),
        max_leverage=draw(st.sampled_from([1.0, 5.0, 20.0])),
        position=draw(fraction(-1.0, 1.0)) * depth,
    )


def any_curve() -> st.SearchStrategy[CostCurve]:
    return st.one_of(order_books(), cpmms(), clmms(), perps(), prediction_curves())


def curve_scale(curve: CostCurve) -> tuple[float, float]:
    """``(price scale, size scale)`` of a curve: a typical marginal and the width of its box."""
    span = curve.upper - curve.lower
    left, right = curve.marginal(0.0)
    prices = [abs(m) for m in (left, right) if math.isfinite(m) and m != 0.0]
    if not prices:
        prices = [
            abs(m)
            for m in (curve.marginal(curve.lower)[1], curve.marginal(curve.upper)[0])
            if math.isfinite(m)
        ]
    return (max(prices) if prices else 1.0, span if span > 0.0 else 1.0)


@st.composite
def prox_inputs(draw: st.DrawFn, curve: CostCurve) -> tuple[float, float]:
    """``(v, rho)`` spread over the no-trade band, partial fills and both boxes of ``curve``."""
    price, size = curve_scale(curve)
    rho = price / size * draw(log_uniform(1e-4, 1e4))
    anchor = draw(st.floats(0.8, 1.25)) * price / rho
    v = anchor + draw(st.floats(-1.5, 1.5)) * size + curve.lower * draw(st.sampled_from([0.0, 1.0]))
    return v, rho


def prox_objective(curve: CostCurve, v: float, rho: float) -> Callable[[float], float]:
    return lambda x: curve.cost(x) + 0.5 * rho * (x - v) ** 2


def objective_scale(curve: CostCurve, v: float, rho: float, x: float) -> float:
    """Magnitude of the terms of the prox objective at ``x`` (the denominator of 'relative objective')."""
    return abs(curve.cost(x)) + 0.5 * rho * (x - v) ** 2 + 1e-300


def brute_force_piecewise(curve: PiecewiseLinearCurve, v: float, rho: float) -> float:
    """Exact prox by enumeration: the quadratic minimum clipped to every segment, and every knot."""
    t, s = curve.knots, curve.slopes
    candidates = list(t)
    for k, slope in enumerate(s):
        candidates.append(min(max(v - slope / rho, t[k]), t[k + 1]))
    obj = prox_objective(curve, v, rho)
    return min(candidates, key=obj)


def brute_force_convex(
    curve: CostCurve, v: float, rho: float, breakpoints: list[float] | None = None
) -> float:
    """Prox of any convex curve: a grid (plus known breakpoints) to bracket the minimum, then golden section.

    Convexity puts the minimiser between the neighbours of the best grid point (two a side, for rounding);
    golden section on a convex function then converges to it (to within rounding of the objective).
    """
    lo, hi = curve.lower, curve.upper
    if lo == hi:
        return lo
    obj = prox_objective(curve, v, rho)
    grid = sorted(
        {
            lo,
            hi,
            0.0,
            min(max(v, lo), hi),
            *[lo + (hi - lo) * k / 400 for k in range(401)],
            *(breakpoints or []),
        }
    )
    values = [obj(x) for x in grid]
    k = min(range(len(grid)), key=values.__getitem__)
    # two neighbours a side: near-duplicate grid points (a kink next to a grid point) tie within rounding
    a, b = grid[max(k - 2, 0)], grid[min(k + 2, len(grid) - 1)]
    best_x, best = grid[k], values[k]
    inv_phi = (math.sqrt(5.0) - 1.0) / 2.0
    c, d = b - inv_phi * (b - a), a + inv_phi * (b - a)
    fc, fd = obj(c), obj(d)
    for _ in range(300):
        if fc <= fd:
            b, d, fd = d, c, fc
            c = b - inv_phi * (b - a)
            fc = obj(c)
        else:
            a, c, fc = c, d, fd
            d = a + inv_phi * (b - a)
            fd = obj(d)
        if b - a <= 1e-15 * max(abs(a), abs(b), 1e-300):
            break
    for x, f in ((c, fc), (d, fd), (a, obj(a)), (b, obj(b))):
        if f < best:
            best_x, best = x, f
    return best_x


def breakpoints(curve: CostCurve) -> list[float]:
    """Known kinks of a curve (segment joints, book knots) to seed the brute-force grid."""
    if isinstance(curve, PiecewiseLinearCurve):
        return list(curve.knots)
    if isinstance(curve, PerpetualCurve):
        return [t for t in curve.book.knots if curve.lower <= t <= curve.upper]
    segments = getattr(curve, "segments", ())
    return [s.start for s in segments] + [s.end for s in segments]


def brute_force_prox(curve: CostCurve, v: float, rho: float) -> float:
    if isinstance(curve, PiecewiseLinearCurve):
        return brute_force_piecewise(curve, v, rho)
    return brute_force_convex(curve, v, rho, breakpoints(curve))
