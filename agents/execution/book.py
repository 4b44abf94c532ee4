"""A validated order-book snapshot in Decimals and the book walk both paper execution and risk use.

The feed engineer owns the live book (``agents/feeds``); execution only needs an immutable view of the
levels at one instant, so this stays a small value type that any book can be converted to.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from sdk.adapters.execution import ExecutionInputError, Side, parse_decimal, require_time_ms

Level = tuple[Decimal, Decimal]  # (price, size)


@dataclass(frozen=True, slots=True)
class BookSnapshot:
    """Bids best first (descending), asks best first (ascending); sizes > 0; never crossed."""

    bids: tuple[Level, ...]
    asks: tuple[Level, ...]
    ts_ms: int

    @staticmethod
    def of(
        bids: Iterable[tuple[object, object]], asks: Iterable[tuple[object, object]], ts_ms: int
    ) -> BookSnapshot:
        """Validate and build; accepts decimal strings or Decimals for prices and sizes."""
        b = _levels("bids", bids, descending=True)
        a = _levels("asks", asks, descending=False)
        if b and a and b[0][0] >= a[0][0]:
            raise ExecutionInputError(f"book must not be crossed: best bid {b[0][0]} >= best ask {a[0][0]}")
        return BookSnapshot(b, a, require_time_ms("ts_ms", ts_ms))

    def side_to_take(self, side: Side) -> tuple[Level, ...]:
        """Levels an order of ``side`` consumes: asks for a buy, bids for a sell."""
        return self.asks if side is Side.BUY else self.bids

    def side_to_join(self, side: Side) -> tuple[Level, ...]:
        """Levels an order of ``side`` rests among."""
        return self.bids if side is Side.BUY else self.asks

    @property
    def mid(self) -> Decimal | None:
        if not self.bids or not self.asks:
            return None
        return (self.bids[0][0] + self.asks[0][0]) / 2


def _levels(field: str, raw: Iterable[tuple[object, object]], *, descending: bool) -> tuple[Level, ...]:
    out: list[Level] = []
    for i, (p, s) in enumerate(raw):
        price = parse_decimal(f"{field}[{i}].price", p, positive=True)
        size = parse_decimal(f"{field}[{i}].size", s, positive=True)
        if out:
            prev = out[-1][0]
            if (descending and price >= prev) or (not descending and price <= prev):
                order = "descending" if descending else "ascending"
                raise ExecutionInputError(f"{field} must be strictly {order} by price: {prev} then {price}")
        out.append((price, size))
    return tuple(out)


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
