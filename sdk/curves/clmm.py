"""Concentrated liquidity (Uniswap v3 / Orca Whirlpool) as a convex cost, in floating point.

Between two initialized ticks the pool is a constant-product pool on virtual reserves ``(L / sqrtP, L
sqrtP)``: within a range ``amount0 = L (1/sqrtP_a - 1/sqrtP_b)``, ``amount1 = L (sqrtP_b - sqrtP_a)``, price
``= sqrtP^2`` (token1 per token0; token0 is the base). Crossing a tick upward adds its ``liquidity_net``,
downward subtracts it. The curve is the chain of these ranges (see :mod:`sdk.curves.constant_product`); a
range without liquidity makes the marginal price jump, which is still convex. Prices are in the pool's own
units; callers convert token decimals. Exact Q64.96 integer tick math lives in ``sdk.amm``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from sdk.curves.base import CurveInputError, require_finite
from sdk.curves.constant_product import ConstantProductSegments, Segment, buy_cost, sell_cost
from sdk.curves.order_book import optional_bound

MIN_TICK = -887_272
MAX_TICK = 887_272
_HALF_LOG_BASE = 0.5 * math.log(1.0001)
_MAX_RANGE_FILL = 1.0 - 1e-9  # never plan to drain a range's whole virtual reserve (price -> infinity)
_NEGATIVE_TOLERANCE = 1e-9


def tick_to_sqrt_price(tick: int) -> float:
    """``sqrt(1.0001 ** tick)`` in floating point."""
    return math.exp(tick * _HALF_LOG_BASE)


MIN_SQRT_PRICE = tick_to_sqrt_price(MIN_TICK)
MAX_SQRT_PRICE = tick_to_sqrt_price(MAX_TICK)


def _validate_ticks(ticks: Iterable[Sequence[float]], tick_spacing: int | None) -> list[tuple[int, float]]:
    out: list[tuple[int, float]] = []
    for i, item in enumerate(ticks):
        if len(item) != 2:
            raise CurveInputError(f"ticks[{i}] must be a (tick, liquidity_net) pair, got {item!r}")
        tick, net = item[0], float(item[1])
        if isinstance(tick, bool) or not isinstance(tick, int):
            raise CurveInputError(f"ticks[{i}] tick must be an int, got {tick!r}")
        if not MIN_TICK <= tick <= MAX_TICK:
            raise CurveInputError(f"ticks[{i}] tick must be in [{MIN_TICK}, {MAX_TICK}], got {tick}")
        if tick_spacing is not None and tick % tick_spacing:
            raise CurveInputError(
                f"ticks[{i}] tick must be a multiple of tick_spacing {tick_spacing}, got {tick}"
            )
        if not math.isfinite(net):
            raise CurveInputError(f"ticks[{i}] liquidity_net must be finite, got {net!r}")
        if out and tick <= out[-1][0]:
            raise CurveInputError(f"ticks must be strictly ascending, got {out[-1][0]} then {tick} at [{i}]")
        out.append((tick, net))
    return out


def _cross(liquidity: float, net: float, tick: int) -> float:
    """Liquidity after crossing ``tick``; float residue of cancelling positions (|L| within 1e-9 of the
    operands) is zero, a clearly negative result is refused."""
    after = liquidity + net
    if abs(after) <= _NEGATIVE_TOLERANCE * max(abs(liquidity), abs(net)):
        return 0.0
    if after < 0.0:
        raise CurveInputError(f"liquidity becomes negative ({after}) when crossing tick {tick}")
    return after


class ConcentratedLiquidityCurve(ConstantProductSegments):
    """Cost of trading token0 (base) for token1 (quote) in a concentrated-liquidity pool.

    Parameters
    ----------
    sqrt_price:
        Current ``sqrt(price)``, within the tick range.
    liquidity:
        Active liquidity ``L >= 0`` of the range containing the current price.
    ticks:
        Initialized ticks ``(tick, liquidity_net)``, strictly ascending, within ``[MIN_TICK, MAX_TICK]``.
    fee:
        Fee tier as a fraction of the input (0.0005, 0.003, 0.01, ...).
    tick_spacing:
        If given, every tick must be a multiple of it.
    max_buy, max_sell:
        Box bounds in base units; by default the pool's own liquidity is the only limit.
    """

    __slots__ = ("fee", "liquidity", "sqrt_price", "ticks")

    def __init__(
        self,
        sqrt_price: float,
        liquidity: float,
        ticks: Iterable[Sequence[float]],
        *,
        fee: float = 0.003,
        tick_spacing: int | None = None,
        max_buy: float | None = None,
        max_sell: float | None = None,
    ) -> None:
        s0 = require_finite("sqrt_price", float(sqrt_price), positive=True)
        if not MIN_SQRT_PRICE <= s0 <= MAX_SQRT_PRICE:
            raise CurveInputError(
                f"sqrt_price must be within the tick range "
                f"[{MIN_SQRT_PRICE:.6g}, {MAX_SQRT_PRICE:.6g}], got {s0!r}"
            )
        l0 = require_finite("liquidity", float(liquidity), non_negative=True)
        fee = require_finite("fee", float(fee), non_negative=True)
        if fee >= 1.0:
            raise CurveInputError(f"fee must be in [0, 1), got {fee!r}")
        if tick_spacing is not None and (isinstance(tick_spacing, bool) or tick_spacing <= 0):
            raise CurveInputError(f"tick_spacing must be a positive int, got {tick_spacing!r}")
        self.ticks = tuple(_validate_ticks(ticks, tick_spacing))
        self.sqrt_price = s0
        self.liquidity = l0
        self.fee = fee
        gamma = 1.0 - fee
        buy_cap = optional_bound("max_buy", max_buy)
        sell_cap = optional_bound("max_sell", max_sell)
        above = [(t, n) for t, n in self.ticks if tick_to_sqrt_price(t) > s0]
        below = [(t, n) for t, n in reversed(self.ticks) if tick_to_sqrt_price(t) <= s0]
        sells = self._walk_down(s0, l0, below, gamma, sell_cap)
        buys = self._walk_up(s0, l0, above, gamma, buy_cap)
        super().__init__(gamma, sells[::-1] + buys)

    @staticmethod
    def _walk_up(
        s: float, liq: float, above: list[tuple[int, float]], gamma: float, cap: float
    ) -> list[Segment]:
        out: list[Segment] = []
        x = cost = 0.0
        bounds = [(tick_to_sqrt_price(t), t, n) for t, n in above]
        bounds.append((MAX_SQRT_PRICE, MAX_TICK, 0.0))
        for b, tick, net in bounds:
            if x >= cap:
                break
            if liq > 0.0 and b > s:
                xv, yv = liq / s, liq * s
                take = min(liq * (1.0 / s - 1.0 / b), xv * _MAX_RANGE_FILL, cap - x)
                end = x + take
                if x < end and end - x < xv:
                    out.append(Segment(x, end, True, cost, xv, yv))
                    cost += buy_cost(xv, yv, gamma, end - x)
                    x = end
            s = b
            liq = _cross(liq, net, tick)
        return out

    @staticmethod
    def _walk_down(
        s: float, liq: float, below: list[tuple[int, float]], gamma: float, cap: float
    ) -> list[Segment]:
        out: list[Segment] = []
        x = cost = 0.0
        bounds = [(tick_to_sqrt_price(t), t, n) for t, n in below]
        bounds.append((MIN_SQRT_PRICE, MIN_TICK, 0.0))
        for b, tick, net in bounds:
            if -x >= cap:
                break
            if liq > 0.0 and b < s:
                xv, yv = liq / s, liq * s
                take = min(liq * (1.0 / b - 1.0 / s) / gamma, cap + x)
                start = x - take
                if start < x:
                    out.append(Segment(start, x, False, cost, xv, yv))
                    cost += sell_cost(xv, yv, gamma, start - x)
                    x = start
            s = b
            liq = _cross(liq, -net, tick)
        return out

    @property
    def price(self) -> float:
        """Current pool price ``sqrt_price ** 2`` (token1 per token0, no fee)."""
        return self.sqrt_price * self.sqrt_price
