"""Coordinator side, whole session: ``Aggregator`` owns the roster and the round ids, and routes submissions.

Round ids strictly increase (a retry gets the next id); a submission for an earlier round is refused
as stale and one for a round not yet opened as unknown. A venue missing at a round's deadline leaves the
roster for good: the next round (the retry) masks among the survivors only, which is exactly what every
honest ``MaskingClient`` enforces on its side too (mask sets never grow).

Typical loop (the ADMM layer owns the clock and the transport)::

    agg = Aggregator(venues, length=m)
    while True:
        rnd = agg.open_round(deadline=clock() + budget)
        send (rnd.round_id, rnd.mask_set) to every venue in rnd.mask_set
        outcome = None
        while outcome is None:
            for (round_id, venue, words) in received_messages():
                outcome = agg.submit(round_id, venue, words) or outcome
            outcome = outcome or agg.poll(clock())
        if isinstance(outcome, AggregateResult): use outcome.total; break
        if isinstance(outcome, Abandoned): stop the session; break
        # RetryWith: loop; agents re-mask the same vector for the survivors
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
from numpy.typing import NDArray

from coordinator.secagg.rounds import AggregateResult, AggregationRound, RoundOutcome
from energibridge.secagg.errors import RoundStateError, SubmissionError
from energibridge.secagg.fixedpoint import FixedPointCodec
from energibridge.secagg.validation import (
    MAX_VECTOR_LENGTH,
    RING,
    check_count,
    check_round_id,
    check_venue_set,
)


class Aggregator:
    """Session-level secure-aggregation state of the coordinator (pure; time is passed in).

    Parameters
    ----------
    members:
        The venues of the session (their ``MaskingClient`` peers).
    length:
        Words per masked vector (the ADMM contribution length), the same every round.
    codec:
        Must equal the agents' codec (same fractional bits).
    min_participants:
        Smallest mask set a round may have; keep it equal to the agents' ``min_mask_set`` or larger.
    first_round_id:
        First round id to allocate (e.g. to continue above ids used before a coordinator restart).
    """

    def __init__(
        self,
        members: Iterable[str],
        length: int,
        *,
        codec: FixedPointCodec | None = None,
        min_participants: int = 2,
        first_round_id: int = 0,
    ) -> None:
        listed = list(members) if not isinstance(members, str) else members
        self._roster = check_venue_set(listed, "members", RoundStateError)
        self._length = check_count(length, "length", 1, MAX_VECTOR_LENGTH, RoundStateError)
        self._codec = codec if codec is not None else FixedPointCodec()
        self._min_participants = check_count(
            min_participants, "min_participants", 1, 1 << 32, RoundStateError
        )
        self._next_round_id = check_round_id(first_round_id, "first_round_id", RoundStateError)
        self._dropped: list[str] = []
        self._current: AggregationRound | None = None
        self._settled = True

    @property
    def members(self) -> tuple[str, ...]:
        """The current roster, sorted: the mask set of the next round."""
        return self._roster

    @property
    def dropped(self) -> tuple[str, ...]:
        """Venues removed from the session, in the order they left."""
        return tuple(self._dropped)

    @property
    def current(self) -> AggregationRound | None:
        """The most recently opened round (open or closed), if any."""
        return self._current

    @property
    def next_round_id(self) -> int:
        return self._next_round_id

    def open_round(self, deadline: float) -> AggregationRound:
        """Open the next round over the current roster; refused while a round is still open."""
        if self._current is not None and self._current.outcome is None:
            raise RoundStateError(
                f"round {self._current.round_id} is still open; poll it to an outcome before opening another"
            )
        if self._next_round_id >= RING:
            raise RoundStateError("round ids exhausted (2^64); start a new session")
        self._current = AggregationRound(
            self._next_round_id,
            self._roster,
            self._length,
            deadline,
            codec=self._codec,
            min_participants=self._min_participants,
        )
        self._next_round_id += 1
        self._settled = False
        return self._current

    def submit(
        self, round_id: int, sender: str, words: Sequence[int] | NDArray[np.uint64]
    ) -> RoundOutcome | None:
        """Route a masked vector to the open round; returns the outcome when this completes it."""
        number = check_round_id(round_id, "round_id", SubmissionError)
        current = self._current
        if current is None or number > current.round_id:
            raise SubmissionError(f"round_id: {number} was never opened (latest round: {self._latest()})")
        if number < current.round_id:
            raise SubmissionError(f"round_id: {number} is stale; the current round is {current.round_id}")
        return self._settle(current.submit(sender, words))

    def poll(self, now: float) -> RoundOutcome | None:
        """The current round's outcome (``RetryWith``/``Abandoned`` once ``now`` passes the deadline)."""
        if self._current is None:
            raise RoundStateError("no round has been opened")
        return self._settle(self._current.poll(now))

    def drop(self, venues: Iterable[str]) -> None:
        """Remove venues from the session for all later rounds (e.g. the ADMM layer gave up on them)."""
        listed = list(venues) if not isinstance(venues, str) else venues
        leaving = check_venue_set(listed, "venues", RoundStateError)
        for venue in leaving:
            if venue not in self._roster:
                raise RoundStateError(f"venues: {venue!r} is not in the session roster {self._roster}")
        self._remove(leaving)

    def _settle(self, outcome: RoundOutcome | None) -> RoundOutcome | None:
        if outcome is not None and not self._settled:
            self._settled = True
            if not isinstance(outcome, AggregateResult):
                self._remove(outcome.dropped)
        return outcome

    def _remove(self, leaving: Iterable[str]) -> None:
        gone = set(leaving)
        self._dropped.extend(v for v in sorted(gone) if v in self._roster)
        self._roster = tuple(v for v in self._roster if v not in gone)

    def _latest(self) -> str:
        return "none" if self._current is None else str(self._current.round_id)
