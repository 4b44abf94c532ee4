"""What the gates let an agent plan: per asset, the widest box of trades every leg inside passes.

An agent that commits to a leg its own gates then refuse leaves every other venue of the plan exposed, so
the box it plans within is derived from the gates themselves (``RiskManager.box``), never restated beside
them. This module holds the pure pieces: how a planned quantity becomes the leg the gates judge
(``LegShape``) and the searches over the lot grid.

Every traded quantity is a whole number of lots (the agent truncates its plan onto its lot grid and the
coordinator assigns residuals in whole lots), so a box is a range of lots; it always contains 0.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Decimal

from agents.execution.book import Level
from sdk.adapters.execution import ExecutionInputError, Side, parse_decimal

LimitPrice = Callable[[Decimal], Decimal]
"""Signed quantity (a lot multiple, positive buys) -> the limit price of the leg that trades it."""


@dataclass(frozen=True, slots=True)
class LegShape:
    """How a planned quantity of one asset becomes the leg the gates see.

    ``lower <= 0 <= upper`` bound the quantity by everything that is not a risk gate (the curve's own box,
    the inventory held, the cash to pay); ``limit_price`` is the very function the agent prices its legs
    with (``agents.agent.leg_limit_price``): non-decreasing in the quantity, as the marginal price of a
    convex cost is. ``breaks`` are quantities (either sign) where the limit price may step (a ladder's
    knots): only hints that make the search fast, never trusted for correctness.
    """

    instrument: str
    lot: Decimal
    lower: Decimal
    upper: Decimal
    limit_price: LimitPrice
    breaks: Sequence[float] = field(default=())

    def __post_init__(self) -> None:
        parse_decimal("lot", self.lot, positive=True)
        parse_decimal("lower", self.lower)
        parse_decimal("upper", self.upper)
        if self.lower > 0 or self.upper < 0:
            raise ExecutionInputError(f"box must contain 0, got [{self.lower}, {self.upper}]")

    def lots(self, side: Side) -> int:
        """Most lots the shape allows on ``side`` (before any gate)."""
        bound = self.upper if side is Side.BUY else -self.lower
        return int((bound / self.lot).to_integral_value(ROUND_FLOOR))

    def leg_limit(self, side: Side, lots: int) -> Decimal:
        return self.limit_price(side.sign * lots * self.lot)

    def hints(self, side: Side) -> list[int]:
        """Lot counts around each break on ``side`` (where the leg's limit price may step), ascending.
        Approximate on purpose (floats): a hint only chooses where the search probes first."""
        lot = float(self.lot)
        buy = side is Side.BUY
        out: set[int] = set()
        for b in self.breaks:
            if b != 0 and (b > 0) is buy:
                k = int(abs(b) / lot)
                out.update((k, k + 1))
        return sorted(out)


class DepthLadder:
    """``depth_within`` of one side of a book in O(log levels): the levels are sorted best first, so the
    marketable ones are a prefix and the depth is a prefix sum (the same additions in the same order, so
    the same Decimal)."""

    __slots__ = ("_keys", "_sums", "levels", "side")

    def __init__(self, levels: Sequence[Level], side: Side) -> None:
        self.levels = levels
        self.side = side
        # Ascending keys: ask prices for a buy, negated bid prices for a sell.
        self._keys = [p if side is Side.BUY else -p for p, _ in levels]
        sums = [Decimal(0)]
        total = Decimal(0)
        for _, size in levels:
            total += size
            sums.append(total)
        self._sums = sums

    def within(self, limit_price: Decimal) -> Decimal:
        """Total size an order of ``side`` could take without crossing ``limit_price``."""
        key = limit_price if self.side is Side.BUY else -limit_price
        return self._sums[bisect_right(self._keys, key)]


def usage_lots(allowance_at: Callable[[int], Decimal], lot: Decimal, top: int, hints: Sequence[int]) -> int:
    """Largest ``n <= top`` such that every leg of ``m`` lots, ``1 <= m <= n``, has ``m * lot`` within its
    allowance (0 when one lot does not fit).

    ``allowance_at(m)`` is what the gate allows a leg of ``m`` lots to take (the book-usage cap times the
    depth within that leg's limit price): a step function, non-decreasing in ``m`` because a larger leg's
    limit price reaches at least as deep. So the legs of one step (a *run* of equal allowance) all fit up
    to ``allowance / lot`` lots, and only the end of each run must be found: by the ``hints`` first (lot
    counts where the limit price may step), then by bisection.
    """
    if top <= 0:
        return 0
    seen: dict[int, Decimal] = {}

    def at(m: int) -> Decimal:
        value = seen.get(m)
        if value is None:
            value = seen[m] = allowance_at(m)
        return value

    n = 1
    while True:
        allowance = at(n)
        fits = int((allowance / lot).to_integral_value(ROUND_FLOOR))
        if fits < n:
            return n - 1
        if at(top) == allowance:  # one run to the top
            return min(top, fits)
        lo, hi = n, top  # at(lo) == allowance < at(hi): the run ends in [lo, hi)
        for h in hints:
            if lo < h < hi:
                if at(h) == allowance:
                    lo = h
                else:
                    hi = h
                    break
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if at(mid) == allowance:
                lo = mid
            else:
                hi = mid
        if fits < lo:  # the run outgrows its allowance before it ends
            return fits
        n = hi


def largest_within(cost_at: Callable[[int], Decimal], budget: Decimal, top: int) -> int:
    """Largest ``n <= top`` with ``cost_at(n) <= budget``, for ``cost_at`` non-decreasing in ``n``."""
    if top <= 0 or cost_at(1) > budget:
        return 0
    if cost_at(top) <= budget:
        return top
    lo, hi = 1, top
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if cost_at(mid) <= budget:
            lo = mid
        else:
            hi = mid
    return lo
