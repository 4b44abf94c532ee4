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
from collections.abc import Callable, Iterable, Mapping
from decimal import ROUND_DOWN, Decimal

from energibridge.protocol.rounding import Assignment


class BalanceError(RuntimeError):
    """No venue could absorb the rounding residual of an asset."""


class ResidualPlacement:
    """``assign_residual`` as a state machine, one proposal at a time, so that a session can put the
    proposals of every asset into one message exchange (a *wave*) instead of one round trip each.

    The proposals and their order are exactly ``assign_residual``'s: venues by coarsest lot first, then
    id; each proposal the whole lots of what remains; a refusal moves on to the next venue. A venue's
    answer for one asset never depends on another asset (its bounds are per asset), so answering the
    proposals of a wave together decides the same as answering them one by one.
    """

    def __init__(self, asset: str, residual: Decimal, lots: Mapping[str, Decimal]) -> None:
        self.asset = asset
        self.residual = residual
        self.lots = dict(lots)
        self._order: list[tuple[str, Decimal]] = sorted(lots.items(), key=lambda item: (-item[1], item[0]))
        self._index = 0
        self.remaining = residual
        self.accepted: list[Assignment] = []
        self._pending: Assignment | None = None

    def proposal(self) -> Assignment | None:
        """The next proposal to put to a venue (the same one until it is answered); None when done."""
        if self._pending is not None:
            return self._pending
        while self.remaining != 0 and self._index < len(self._order):
            venue_id, lot = self._order[self._index]
            self._index += 1
            whole = (self.remaining / lot).to_integral_value(rounding=ROUND_DOWN) * lot
            if whole != 0:
                self._pending = Assignment(venue_id=venue_id, asset=self.asset, amount=whole)
                return self._pending
        return None

    def answer(self, accepted: bool) -> None:
        """The venue's answer to the pending proposal."""
        if self._pending is None:
            raise RuntimeError(f"{self.asset}: no proposal is pending")
        if accepted:
            self.accepted.append(self._pending)
            self.remaining -= self._pending.amount
        self._pending = None

    def result(self) -> list[Assignment]:
        """The accepted assignments (summing to the residual exactly), or ``BalanceError``."""
        if self._pending is not None or self.proposal() is not None:
            raise RuntimeError(f"{self.asset}: placement is not finished")
        if self.remaining != 0:
            raise BalanceError(
                f"{self.asset}: residual {self.remaining} of {self.residual} could not be placed on venues "
                f"with lots { {v: str(lot) for v, lot in self.lots.items()} }"
            )
        return list(self.accepted)


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
    placement = ResidualPlacement(asset, residual, lots)
    while (proposal := placement.proposal()) is not None:
        placement.answer(accept(proposal))
    return placement.result()


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
