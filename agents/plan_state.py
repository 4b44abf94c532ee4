"""Deterministic delta-sync of a venue's committed plans.

The state is the venue's cumulative planned net trade per instrument plus the last applied sequence.
Applying the same sequence of PlanDeltas always gives the same state and the same state hash (recorded
on the ledger); re-applying an already applied delta is a no-op, so a restart never replays a plan.
Idempotency keys are derived from (session, sequence, venue, leg index) alone, so a restarted agent
derives the same client order ids and the venue can refuse duplicates.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from energibridge.base import canonical_decimal
from energibridge.models import PlanDelta


def idempotency_key(session_id: str, sequence: int, venue_id: str, leg_index: int) -> str:
    """Stable key of one leg: the same inputs give the same key in any process."""
    material = json.dumps([session_id, sequence, venue_id, leg_index], separators=(",", ":"))
    return hashlib.sha256(material.encode()).hexdigest()[:32]


class DeltaSyncError(RuntimeError):
    """A delta that does not follow the state it is applied to."""


@dataclass(frozen=True)
class PlanState:
    venue_id: str
    sequence: int = 0
    positions: Mapping[str, Decimal] = field(default_factory=dict)

    def state_hash(self) -> bytes:
        document = {
            "venue_id": self.venue_id,
            "sequence": self.sequence,
            "positions": {k: format(canonical_decimal(v), "f") for k, v in sorted(self.positions.items())},
        }
        return hashlib.sha256(json.dumps(document, sort_keys=True, separators=(",", ":")).encode()).digest()

    def apply(self, delta: PlanDelta) -> PlanState:
        """The state after ``delta``; the same state if ``delta`` was already applied."""
        if delta.venue_id != self.venue_id:
            raise DeltaSyncError(f"delta for venue {delta.venue_id!r} applied to {self.venue_id!r}")
        if delta.sequence <= self.sequence:
            return self
        if delta.previous_sequence != self.sequence:
            raise DeltaSyncError(
                f"delta {delta.sequence} follows sequence {delta.previous_sequence}, "
                f"state is at {self.sequence}"
            )
        if delta.previous_state_hash and delta.previous_state_hash != self.state_hash():
            raise DeltaSyncError(f"delta {delta.sequence}: previous_state_hash does not match the state")
        positions = dict(self.positions)
        for leg in delta.legs:
            positions[leg.instrument] = positions.get(leg.instrument, Decimal(0)) + leg.signed_size
        positions = {k: v for k, v in positions.items() if v != 0}
        after = PlanState(venue_id=self.venue_id, sequence=delta.sequence, positions=positions)
        if delta.state_hash and delta.state_hash != after.state_hash():
            raise DeltaSyncError(f"delta {delta.sequence}: state_hash does not match the state it produces")
        return after
