"""Lot rounding as both sides see it: an agent's trade rounded toward zero, and residual assignments.

Each agent rounds its own trade toward zero onto its lot grid (which never leaves its feasible box, since
the box contains 0). The coordinator places the remaining residual as ``Assignment``s, in whole lots, which
a venue accepts or refuses privately (``coordinator.engine.rounding`` chooses them).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal


def round_toward_zero(x: float, lot: Decimal) -> Decimal:
    """``x`` truncated toward zero onto the ``lot`` grid, exactly."""
    if lot <= 0:
        raise ValueError(f"lot size must be > 0, got {lot}")
    lots = (Decimal(repr(x)) / lot).to_integral_value(rounding=ROUND_DOWN)
    return lots * lot


@dataclass(frozen=True)
class Assignment:
    venue_id: str
    asset: str
    amount: Decimal
    """Signed quantity the venue adds to its rounded trade (a whole number of its lots)."""
