"""Deterministic delta-sync of a venue's committed plans.

The state is the venue's cumulative planned net trade per instrument plus the last applied sequence.
Applying the same sequence of PlanDeltas always gives the same state and the same state hash (recorded
on the ledger); re-applying an already applied delta is a no-op, so a restart never replays a plan.
Idempotency keys are derived from (session, sequence, venue, leg index) alone, so a restarted agent
derives the same client order ids and the venue can refuse duplicates. ``PlanStateStore`` keeps the state
(and the highest sequence seen) in the agent's state directory across restarts.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from energibridge.base import canonical_decimal
from energibridge.models import PlanDelta


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


class PlanStateFileError(RuntimeError):
    """The persisted plan state cannot be used (unreadable, another venue's, or its hash does not match)."""


@dataclass(frozen=True)
class SavedPlanState:
    state: PlanState
    last_seen: int
    """The highest plan sequence the agent has accepted or acknowledged (empty commits included)."""


class PlanStateStore:
    """The agent's delta-sync state and the highest plan sequence it has seen, in one JSON file of its state
    directory, replaced atomically on every commit (a temporary file, ``fsync``, ``rename``).

    Written after the agent accepts a plan and before any of its orders leave or the commit is
    acknowledged, so a restarted agent reports its last sequence at join (the coordinator continues above
    it) and refuses any older plan: a plan sequence is never executed twice. The state hash is stored and
    checked on load, so a damaged file is refused, not silently trusted.
    """

    def __init__(self, path: Path, venue_id: str, *, fsync: bool = True) -> None:
        self.path = path
        self.venue_id = venue_id
        self.fsync = fsync
        self._saved = SavedPlanState(PlanState(venue_id=venue_id), 0)

    @property
    def last_seen(self) -> int:
        return self._saved.last_seen

    def load(self) -> SavedPlanState:
        """The saved state (a fresh one when there is no file yet); errors name the field."""
        if not self.path.exists():
            return self._saved
        try:
            document = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise PlanStateFileError(f"{self.path}: unreadable plan state: {exc}") from exc
        if not isinstance(document, dict):
            raise PlanStateFileError(f"{self.path}: expected a JSON object")
        venue = document.get("venue_id")
        if venue != self.venue_id:
            raise PlanStateFileError(f"{self.path}: venue_id is {venue!r}, this agent is {self.venue_id!r}")
        sequence = _count(self.path, document, "sequence")
        last_seen = _count(self.path, document, "last_seen")
        raw = document.get("positions")
        if not isinstance(raw, dict):
            raise PlanStateFileError(f"{self.path}: positions must be an object")
        positions: dict[str, Decimal] = {}
        for instrument, text in raw.items():
            try:
                value = Decimal(str(text))
            except ArithmeticError as exc:
                raise PlanStateFileError(f"{self.path}: positions.{instrument} is not a decimal") from exc
            if not value.is_finite():
                raise PlanStateFileError(f"{self.path}: positions.{instrument} must be finite")
            positions[str(instrument)] = value
        state = PlanState(venue_id=self.venue_id, sequence=sequence, positions=positions)
        if state.state_hash().hex() != document.get("state_hash"):
            raise PlanStateFileError(f"{self.path}: state_hash does not match the saved state")
        self._saved = SavedPlanState(state, max(last_seen, sequence))
        return self._saved

    def save(self, state: PlanState, last_seen: int) -> None:
        """Persist ``state`` and the highest sequence seen (never lowered); atomic on the file system."""
        if state.venue_id != self.venue_id:
            raise PlanStateFileError(f"state.venue_id is {state.venue_id!r}, this store is {self.venue_id!r}")
        seen = max(last_seen, state.sequence, self._saved.last_seen)
        document = {
            "venue_id": state.venue_id,
            "sequence": state.sequence,
            "last_seen": seen,
            "positions": {k: format(canonical_decimal(v), "f") for k, v in sorted(state.positions.items())},
            "state_hash": state.state_hash().hex(),
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(self.path.name + ".tmp")
        with temporary.open("w", encoding="utf-8") as handle:
            handle.write(json.dumps(document, sort_keys=True))
            handle.flush()
            if self.fsync:
                os.fsync(handle.fileno())
        os.replace(temporary, self.path)
        if self.fsync:
            directory = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)
        self._saved = SavedPlanState(state, seen)


def _count(path: Path, document: Mapping[str, object], name: str) -> int:
    value = document.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise PlanStateFileError(f"{path}: {name} must be an integer >= 0, got {value!r}")
    return value
