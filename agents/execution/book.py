"""The book walk paper execution, risk gates and hedging share, over exact (Decimal) levels.

The snapshot itself is the SDK's ``BookSnapshot`` (``sdk.adapters.events``), read exactly as
``BookSnapshot[Decimal]`` (``sdk.adapters.execution.exact_book`` / ``decimal_book``); these helpers only walk
its levels.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from sdk.adapters.events import DecimalLevel as Level
from sdk.adapters.execution import Side

__all__ = ["Level", "consume", "depth_within", "marketable", "walk"]


def marketable(side: Side, price: Decimal, cap: Decimal) -> bool:
    """Whether a level at ``price`` is acceptable for ``side`` under limit ``cap``."""
    return price <= cap if side is Side.BUY else price >= cap


def walk(levels: Sequence[Level], side: Side, size: Decimal, cap: Decimal) -> list[Level]:
    """Fills (price, size) taking ``size`` from ``levels`` best first, never beyond ``cap``."""
    fills: list[Level] = []
    remaining = size
    for price, available in levels:
        if remaining <= 0 or not marketable(side, price, cap):
            break
        take = min(available, remaining)
        fills.append((price, take))
        remaining -= take
    return fills


def depth_within(levels: Sequence[Level], side: Side, cap: Decimal) -> Decimal:
    """Total size on ``levels`` an order of ``side`` could take without crossing ``cap``."""
    return sum((s for p, s in levels if marketable(side, p, cap)), Decimal(0))


def consume(levels: Sequence[Level], fills: Sequence[Level]) -> tuple[Level, ...]:
    """``levels`` after our ``fills`` (from ``walk``) removed the liquidity they took."""
    taken = {p: s for p, s in fills}
    out: list[Level] = []
    for price, size in levels:
        left = size - taken.get(price, Decimal(0))
        if left > 0:
            out.append((price, left))
    return tuple(out)
