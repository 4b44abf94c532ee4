"""Deterministic lot rounding of a balanced plan, keeping every asset's sum exactly zero.

Each agent rounds its own trade toward zero onto its lot grid (which never leaves its feasible box,
since the box contains 0). The coordinator learns only the per-asset sum of the rounded trades and
assigns the residual, in whole lots, to venues chosen from public facts alone (lot size, venue id):
coarsest lot first so the fewest venues move, ties by id. A venue may refuse an assignment that would
break its private bounds; the residual then moves on to the next candidate. Decimal arithmetic makes
"sum exactly 0" literal. The agents' half (``round_toward_zero``, ``Assignment``) is in
``energibridge.protocol.rounding``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import ROUND_DOWN, Decimal

from energibridge.protocol.rounding import Assignment


class BalanceError(RuntimeError):
    """No venue could absorb the rounding residual of an asset."""


def assign_residual(
    asset: str,
    residual: Decimal,
    lots: Mapping[str, Decimal],
    accept: Callable[[Assignment], bool],
) -> list[Assignment]:
    """Spread ``residual`` (what the venues' rounded trades must still add up to) over venues.

    ``lots`` maps each venue trading ``asset`` to its lot size; ``accept`` asks the venue (privately) whether
    it can take an assignment. Returns the accepted assignments, whose amounts sum to ``residual`` exactly.
    """
    order: Sequence[tuple[str, Decimal]] = sorted(lots.items(), key=lambda item: (-item[1], item[0]))
    remaining = residual
    accepted: list[Assignment] = []
    for venue_id, lot in order:
        if remaining == 0:
            break
        whole = (remaining / lot).to_integral_value(rounding=ROUND_DOWN) * lot
        if whole == 0:
            continue
        proposal = Assignment(venue_id=venue_id, asset=asset, amount=whole)
        if accept(proposal):
            accepted.append(proposal)
            remaining -= whole
    if remaining != 0:
        raise BalanceError(
            f"{asset}: residual {remaining} of {residual} could not be placed on venues with lots "
            f"{ {v: str(lot) for v, lot in lots.items()} }"
        )
    return accepted


def lot_quantum(lots: Iterable[Decimal]) -> Decimal:
    """Largest decimal dividing every lot size: the grid every sum of rounded trades lies on."""
    values = list(lots)
    if not values or any(not v.is_finite() or v <= 0 for v in values):
        raise ValueError(f"lot sizes must be finite decimals > 0, got {values}")
    exponent = min(int(v.as_tuple().exponent) for v in values)
    scale = Decimal(10) ** -exponent
    return Decimal(math.gcd(*(int(v * scale) for v in values))) / scale


def exact_sum(value: float, quantum: Decimal) -> Decimal:
    """The exact grid value a securely aggregated sum of lot multiples stands for.

    The fixed-point sum carries an error of at most ``n * 2**-33``; the nearest grid point is exact while
    that stays below half a quantum, and anything closer to the middle is refused rather than guessed.
    """
    steps = Decimal(repr(value)) / quantum
    nearest = steps.to_integral_value()
    if abs(steps - nearest) > Decimal("0.45"):
        raise BalanceError(f"aggregated sum {value!r} is not on the lot grid {quantum} (precision lost?)")
    return nearest * quantum
