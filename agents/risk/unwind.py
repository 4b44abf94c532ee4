"""Unwinds after perp auto-deleverage or a margin breach: which positions to close, and how much.

After an auto-deleverage the venue itself shrank our perp position, so the opposite legs elsewhere are now an
unhedged exposure of exactly the shrunk amount: close that much of them, largest first. After a margin breach
the perp may be liquidated at any moment: close it and every opposite leg. Pure; the runner turns the result
into marketable orders.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class UnwindRequest:
    """Trade ``quantity`` (signed, positive buys) of ``asset`` on ``venue`` to reduce risk."""

    venue: str
    asset: str
    quantity: Decimal
    reason: str


def plan_adl_unwind(
    positions: Mapping[tuple[str, str], Decimal], venue: str, asset: str, reduced: Decimal, reason: str
) -> tuple[UnwindRequest, ...]:
    """``reduced`` is the signed change the venue made to our ``venue`` position (e.g. -5 -> -3 is +2).

    The opposite legs hold the other sign of the pre-ADL perp position; closing ``|reduced|`` of them
    restores neutrality.
    """
    if reduced == 0:
        return ()
    opposite_sign = 1 if reduced > 0 else -1  # ADL of a short (+) leaves longs elsewhere too long
    holders = sorted(
        ((v, q) for (v, a), q in positions.items() if a == asset and v != venue and q * opposite_sign > 0),
        key=lambda item: (-abs(item[1]), item[0]),
    )
    out: list[UnwindRequest] = []
    left = abs(reduced)
    for v, q in holders:
        if left == 0:
            break
        take = min(left, abs(q))
        out.append(UnwindRequest(v, asset, -opposite_sign * take, reason))
        left -= take
    return tuple(out)


def plan_margin_unwind(
    positions: Mapping[tuple[str, str], Decimal], venue: str, reason: str
) -> tuple[UnwindRequest, ...]:
    """Close every position on ``venue`` and the opposite legs of the same assets on other venues."""
    out: list[UnwindRequest] = []
    for (v, asset), q in sorted(positions.items()):
        if v == venue and q != 0:
            out.append(UnwindRequest(v, asset, -q, reason))
            out.extend(
                UnwindRequest(ov, asset, -oq, reason)
                for (ov, oa), oq in sorted(positions.items())
                if oa == asset and ov != venue and oq * q < 0
            )
    return tuple(out)
