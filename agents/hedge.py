"""Hedge targets: what a venue still owes the region, brought into a federated session as a fixed position.

A leg that falls short (a leg-out, a refused leg, orders lost with a killed process) leaves the region off
balance by what that venue did not trade: it *owes* ``planned - filled`` per asset, to be traded elsewhere.
One agent cannot hedge that on another venue, so it brings the debt to the next session as a target: for
that asset its local problem becomes the single point ``q0 = -owed`` (the position the region already
holds on its account, as if it had traded it). The federation then clears ``sum_i x_i + q0 = 0``: the other
venues trade ``owed`` between them at the best price the session finds, under secure aggregation like any
other plan, and the venue itself sends no order for that asset (``exclude_venues``).

The point is valued at the venue's public mid, so the session's profit reads as the hedge's cost against
the mark (usually a small loss: fees and spread), not as the notional of the position unloaded.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from decimal import ROUND_DOWN, Decimal

from agents.persistence.store import Residual
from sdk.adapters.events import Side


class HedgeTarget:
    """The cost curve of a fixed position ``q0``: feasible only at ``q0``, worth ``mark * q0`` there.

    It breaks the ``lower <= 0 <= upper`` habit of trading curves on purpose: the position is already
    held, the session only decides who takes the other side.
    """

    def __init__(self, position: float, mark: float) -> None:
        if not math.isfinite(position) or not math.isfinite(mark) or mark <= 0:
            raise ValueError(f"HedgeTarget: expected a finite position and mark > 0, got {position}, {mark}")
        self.position = position
        self.mark = mark

    @property
    def lower(self) -> float:
        return self.position

    @property
    def upper(self) -> float:
        return self.position

    def cost(self, x: float) -> float:
        return self.mark * self.position if x == self.position else math.inf

    def marginal(self, x: float) -> tuple[float, float]:
        # Any price supports the single feasible point (the normal cone of a point is everything).
        return (-math.inf, math.inf)

    def prox(self, v: float, rho: float) -> float:
        return self.position

    def demand(self, price: float) -> tuple[float, float]:
        return (self.position, self.position)


def owed(residuals: Iterable[Residual]) -> dict[str, Decimal]:
    """Per asset, the signed quantity the venue still owes the region (``BUY`` positive)."""
    out: dict[str, Decimal] = {}
    for residual in residuals:
        signed = residual.size if residual.side is Side.BUY else -residual.size
        out[residual.asset] = out.get(residual.asset, Decimal(0)) + signed
    return out


def targets(debts: Mapping[str, Decimal], lots: Mapping[str, Decimal]) -> dict[str, Decimal]:
    """Hedge targets (the position held: ``-owed``) on the venue's own lot grid, toward zero; assets the
    venue has no lot for, or whose debt is under one lot, are left out (the region is flat within a lot)."""
    out: dict[str, Decimal] = {}
    for asset, debt in sorted(debts.items()):
        lot = lots.get(asset)
        if lot is None or lot <= 0:
            continue
        lots_owed = (abs(debt) / lot).to_integral_value(rounding=ROUND_DOWN)
        if lots_owed == 0:
            continue
        out[asset] = -(lots_owed * lot) if debt > 0 else lots_owed * lot
    return out
