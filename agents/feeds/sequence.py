"""Sequence-gap detection for venues that number their book updates.

Binance spot/futures diff-depth streams carry ``U`` (first update id in the event) and ``u`` (last); the REST
snapshot carries ``lastUpdateId``. The documented procedure: drop events with ``u <= lastUpdateId``; the first
applied event must straddle it (``U <= lastUpdateId + 1 <= u``); after that each event must start exactly one
past the previous one (``U == previous u + 1``). Anything else means a missed message: resynchronise from a
fresh snapshot. That includes an event from the past once the chain is running: a stream never repeats
itself, so such an event is a mangled one whose changes would otherwise be skipped silently.
"""

from __future__ import annotations

import enum


class Verdict(enum.Enum):
    APPLY = "apply"
    STALE = "stale"
    """Already contained in the snapshot (before the first applied event): skip."""
    GAP = "gap"
    """A message is missing: the book is void until the next snapshot."""


class UpdateIdChain:
    """The Binance ``U``/``u`` chain of one symbol, anchored on a REST snapshot's ``lastUpdateId``."""

    __slots__ = ("_first_applied", "last_id")

    def __init__(self, snapshot_last_id: int) -> None:
        self.last_id = snapshot_last_id
        self._first_applied = False

    def accept(self, first_id: int, last_id: int) -> Verdict:
        """Judge the event ``[first_id, last_id]`` and advance the chain when it applies."""
        if last_id < first_id:
            return Verdict.GAP
        expected = self.last_id + 1
        if last_id < expected:
            return Verdict.GAP if self._first_applied else Verdict.STALE
        if self._first_applied:
            if first_id != expected:
                return Verdict.GAP
        elif first_id > expected:
            return Verdict.GAP
        self.last_id = last_id
        self._first_applied = True
        return Verdict.APPLY

    def gap_detail(self, first_id: int, last_id: int) -> str:
        return f"update ids [{first_id}, {last_id}] do not continue the chain at {self.last_id}"
