"""An Orca Whirlpool pool as a convex cost, built from the pool's exact state and priced exactly on demand.

The continuous curve is the concentrated-liquidity chain of :mod:`sdk.curves.constant_product`: one
constant-product segment per range between initialized ticks, on virtual reserves ``(L / sqrtP, L sqrtP)``.
Unlike :class:`~sdk.curves.clmm.ConcentratedLiquidityCurve` (float ticks, Uniswap's range) every boundary
here is the program's own Q64.64 sqrt price of the tick, and the curve ends where a swap instruction can go:
the far edge of the (up to three) tick arrays a swap in that direction would be given. So ``cost`` is the
same convex function the ADMM step minimises (closed-form ``prox`` and ``demand`` by segment search), and
:meth:`WhirlpoolCurve.exact_cost` is what the program would charge for the same trade, integer for integer,
which :func:`sdk.curves.base.settled_cost` uses to price a committed plan.

Token A is the base (``x``), token B the quote; amounts are in whole tokens (raw units scaled by the mints'
decimals). Buying ``x > 0`` is a B-to-A swap with exact output ``x``; selling is an A-to-B swap with exact
input ``|x|``. The fee (``fee_rate`` in hundredths of a bip, taken from the input) is the curve's
``1 - gamma``; the protocol's share of it changes nothing for the trader.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from sdk.amm.whirlpool import (
    TickArray,
    WhirlpoolError,
    WhirlpoolState,
    select_swap_arrays,
    sequence_sqrt_price_limit,
    sqrt_price_from_tick_index,
    swap,
)
from sdk.curves.base import CurveInputError
from sdk.curves.constant_product import ConstantProductSegments, Segment, buy_cost, sell_cost

_Q64 = float(1 << 64)


class WhirlpoolCurve(ConstantProductSegments):
    """Cost of trading token A (base) for token B (quote) in one Whirlpool.

    Parameters
    ----------
    pool:
        The pool's swap-relevant state (decoded from its account).
    tick_arrays:
        Tick arrays around the current price (any order, extra ones ignored). Each direction uses the run of
        up to three arrays a swap would be given; a direction without its first array has no liquidity.
    decimals_a, decimals_b:
        Mint decimals: ``x`` is ``raw_a / 10**decimals_a`` and cost ``raw_b / 10**decimals_b``.
    """

    __slots__ = ("_buy_arrays", "_scale_a", "_scale_b", "_sell_arrays", "decimals_a", "decimals_b", "pool")

    def __init__(
        self,
        pool: WhirlpoolState,
        tick_arrays: Iterable[TickArray],
        *,
        decimals_a: int = 0,
        decimals_b: int = 0,
    ) -> None:
        for name, dec in (("decimals_a", decimals_a), ("decimals_b", decimals_b)):
            if isinstance(dec, bool) or not isinstance(dec, int) or not 0 <= dec <= 18:
                raise CurveInputError(f"{name} must be an int in [0, 18], got {dec!r}")
        if pool.fee_rate >= 1_000_000:
            raise CurveInputError(f"pool fee_rate must be < 1_000_000, got {pool.fee_rate}")
        arrays = list(tick_arrays)
        starts = [a.start_tick_index for a in arrays]
        if len(set(starts)) != len(starts):
            raise CurveInputError(f"tick_arrays must have distinct start ticks, got {sorted(starts)}")
        self.pool = pool
        self.decimals_a = decimals_a
        self.decimals_b = decimals_b
        self._scale_a = 10.0**-decimals_a
        self._scale_b = 10.0**-decimals_b
        self._buy_arrays = select_swap_arrays(arrays, pool.tick_current_index, pool.tick_spacing, False)
        self._sell_arrays = select_swap_arrays(arrays, pool.tick_current_index, pool.tick_spacing, True)
        gamma = 1.0 - pool.fee_rate / 1_000_000
        sells = self._walk(False, gamma)
        buys = self._walk(True, gamma)
        super().__init__(gamma, sells[::-1] + buys)

    def _boundaries(self, buy: bool) -> list[tuple[int, int]]:
        """``(sqrt_price_x64, net)`` of initialized ticks in the direction of travel, then the edge."""
        arrays = self._buy_arrays if buy else self._sell_arrays
        if not arrays:
            return []
        pool = self.pool
        spacing = pool.tick_spacing
        found: list[tuple[int, int]] = []
        for array in arrays:
            for offset, tick in array.ticks.items():
                index = array.start_tick_index + offset * spacing
                if buy and index > pool.tick_current_index:
                    found.append((index, tick.liquidity_net))
                elif not buy and index <= pool.tick_current_index:
                    found.append((index, -tick.liquidity_net))
        found.sort(reverse=not buy)
        edge = sequence_sqrt_price_limit(arrays, spacing, not buy)
        prices = [(sqrt_price_from_tick_index(t), net) for t, net in found]
        out = [(p, n) for p, n in prices if (p < edge if buy else p > edge)]
        out.append((edge, 0))
        return out

    def _walk(self, buy: bool, gamma: float) -> list[Segment]:
        sa, sb = self._scale_a, self._scale_b
        s = self.pool.sqrt_price / _Q64
        liquidity = self.pool.liquidity
        x = cost = 0.0
        out: list[Segment] = []
        for bound_x64, net in self._boundaries(buy):
            b = bound_x64 / _Q64
            moves = b > s if buy else b < s
            if liquidity > 0 and moves:
                lf = float(liquidity)
                xv, yv = lf / s * sa, lf * s * sb
                # The segment's length as the trade axis can hold it (``x`` may be far larger than a thin
                # range); the next range starts at the price that length really reaches, so the marginal
                # stays continuous at the joint instead of dropping by the rounding of ``x``.
                if buy:
                    end = x + lf * (1.0 / s - 1.0 / b) * sa
                    take = end - x
                    if 0.0 < take < xv:
                        out.append(Segment(x, end, True, cost, xv, yv))
                        cost += buy_cost(xv, yv, gamma, take)
                        x = end
                        b = 1.0 / (1.0 / s - take / (lf * sa))
                else:
                    start = x - lf * (1.0 / b - 1.0 / s) * sa / gamma
                    take = x - start
                    if take > 0.0 and math.isfinite(take):
                        out.append(Segment(start, x, False, cost, xv, yv))
                        cost += sell_cost(xv, yv, gamma, -take)
                        x = start
                        b = 1.0 / (1.0 / s + take * gamma / (lf * sa))
            if moves:
                s = b
            liquidity += net
            if liquidity < 0:
                raise CurveInputError(
                    f"liquidity becomes negative crossing the tick at sqrt price {bound_x64}"
                )
        return out

    @property
    def price(self) -> float:
        """Pool price in quote per base, whole tokens, no fee."""
        s = self.pool.sqrt_price / _Q64
        return s * s * self._scale_b / self._scale_a

    def exact_amounts(self, x: float) -> tuple[int, int] | None:
        """``(raw A, raw B)`` the program would move for a trade of ``x`` (rounded to whole raw units of A);
        ``None`` where the trade cannot be filled within the curve's tick arrays."""
        raw = round(abs(x) / self._scale_a)
        if raw == 0:
            return (0, 0)
        buy = x > 0
        arrays = self._buy_arrays if buy else self._sell_arrays
        if not arrays or raw >= 1 << 64:
            return None
        limit = sequence_sqrt_price_limit(arrays, self.pool.tick_spacing, not buy)
        try:
            r = swap(
                self.pool,
                arrays,
                raw,
                sqrt_price_limit=limit,
                amount_specified_is_input=not buy,
                a_to_b=not buy,
            )
        except WhirlpoolError:
            return None
        if r.amount_a != raw:
            return None  # partial fill: the arrays ran out first
        return (r.amount_a, r.amount_b)

    def exact_cost(self, x: float) -> float:
        """Quote the program charges (buy) or pays (sell, negative) for ``x``; ``inf`` if it cannot fill."""
        amounts = self.exact_amounts(x)
        if amounts is None:
            return math.inf
        return (amounts[1] if x > 0 else -amounts[1]) * self._scale_b
