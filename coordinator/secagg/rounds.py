"""Coordinator side, one attempt: ``AggregationRound`` collects masked vectors and yields a sum or a retry.

A round expects one masked vector from every venue of its mask set before ``deadline``. It keeps only the
running sum mod 2^64 (never the individual vectors) and ends in exactly one outcome:

- ``AggregateResult``: every member delivered; the decoded float sum;
- ``RetryWith``: the deadline passed with members missing; the partial sum is noise (masks with the missing
  venues do not cancel) and is discarded; the survivors are asked again under a fresh round id;
- ``Abandoned``: as ``RetryWith`` but too few survivors remain to form a safe mask set.

Why re-run instead of recovering the dropped venues' masks (Bonawitz et al. 2017): recovery needs the
survivors to reveal their pair seeds with the dropped venue, and nobody but the coordinator knows whether
that venue's masked vector really never arrived; a coordinator that lies would unmask it with the seeds.
Re-running costs one round trip and no secret ever leaves an agent. (A coordinator that lies about a dropout
still gets two sums whose difference is the "dropped" venue's vector: ``energibridge.secagg`` states that
limit and what bounds it.)

Time is passed in (``now``, ``deadline``: any monotonic clock in seconds), so the state machine is pure.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from energibridge.secagg.errors import RoundStateError, SubmissionError
from energibridge.secagg.fixedpoint import FixedPointCodec
from energibridge.secagg.validation import (
    MAX_VECTOR_LENGTH,
    as_words,
    check_count,
    check_id,
    check_round_id,
    check_venue_set,
)


@dataclass(frozen=True, slots=True)
class AggregateResult:
    """Every member of the mask set delivered: ``total`` is the decoded sum of their vectors."""

    round_id: int
    participants: tuple[str, ...]
    total: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class RetryWith:
    """The deadline passed with ``dropped`` missing: aggregate again among ``survivors``, fresh round id."""

    round_id: int
    survivors: tuple[str, ...]
    dropped: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Abandoned:
    """The deadline passed and fewer than the minimum members survive: no sum can be formed safely."""

    round_id: int
    survivors: tuple[str, ...]
    dropped: tuple[str, ...]
    reason: str


RoundOutcome = AggregateResult | RetryWith | Abandoned


class AggregationRound:
    """One aggregation attempt over a fixed mask set (see the module docstring)."""

    def __init__(
        self,
        round_id: int,
        mask_set: Iterable[str],
        length: int,
        deadline: float,
        *,
        codec: FixedPointCodec | None = None,
        min_participants: int = 2,
    ) -> None:
        self._round_id = check_round_id(round_id, "round_id", RoundStateError)
        members = list(mask_set) if not isinstance(mask_set, str) else mask_set
        self._mask_set = check_venue_set(members, "mask_set", RoundStateError)
        self._length = check_count(length, "length", 1, MAX_VECTOR_LENGTH, RoundStateError)
        self._min_participants = check_count(
            min_participants, "min_participants", 1, 1 << 32, RoundStateError
        )
        if len(self._mask_set) < self._min_participants:
            raise RoundStateError(
                f"mask_set: {len(self._mask_set)} member(s); expected at least {self._min_participants} "
                f"(min_participants)"
            )
        if isinstance(deadline, bool) or not isinstance(deadline, int | float) or not math.isfinite(deadline):
            raise RoundStateError(f"deadline: expected a finite number of seconds, got {deadline!r}")
        self._deadline = float(deadline)
        self._codec = codec if codec is not None else FixedPointCodec()
        self._members = frozenset(self._mask_set)
        self._received: set[str] = set()
        self._sum: NDArray[np.uint64] = np.zeros(self._length, dtype=np.uint64)
        self._outcome: RoundOutcome | None = None

    @property
    def round_id(self) -> int:
        return self._round_id

    @property
    def mask_set(self) -> tuple[str, ...]:
        """Sorted members: what the coordinator sends each of them with the round id."""
        return self._mask_set

    @property
    def length(self) -> int:
        return self._length

    @property
    def deadline(self) -> float:
        return self._deadline

    @property
    def received(self) -> frozenset[str]:
        return frozenset(self._received)

    @property
    def missing(self) -> tuple[str, ...]:
        return tuple(v for v in self._mask_set if v not in self._received)

    @property
    def outcome(self) -> RoundOutcome | None:
        """The final outcome once reached, else ``None``."""
        return self._outcome

    def submit(self, sender: str, words: Sequence[int] | NDArray[np.uint64]) -> RoundOutcome | None:
        """Add ``sender``'s masked vector; returns the ``AggregateResult`` when it completes the round.

        Raises ``SubmissionError`` for a closed round, an unknown sender, a duplicate, or malformed words.
        """
        venue = check_id(sender, "sender", SubmissionError)
        if self._outcome is not None:
            raise SubmissionError(
                f"sender {venue!r}: round {self._round_id} is closed ({type(self._outcome).__name__})"
            )
        if venue not in self._members:
            raise SubmissionError(
                f"sender {venue!r}: not in the mask set of round {self._round_id} {self._mask_set}"
            )
        if venue in self._received:
            raise SubmissionError(f"sender {venue!r}: a second masked vector for round {self._round_id}")
        checked = as_words(words, self._length, f"words from {venue!r}", SubmissionError)
        self._sum += checked
        self._received.add(venue)
        if len(self._received) == len(self._mask_set):
            total = self._codec.decode(self._sum)
            self._outcome = AggregateResult(self._round_id, self._mask_set, tuple(total.tolist()))
        return self._outcome

    def poll(self, now: float) -> RoundOutcome | None:
        """The outcome if reached (all received, or ``now >= deadline``), else ``None``."""
        if isinstance(now, bool) or not isinstance(now, int | float) or not math.isfinite(now):
            raise RoundStateError(f"now: expected a finite number of seconds, got {now!r}")
        if self._outcome is None and now >= self._deadline:
            survivors = tuple(v for v in self._mask_set if v in self._received)
            dropped = self.missing
            self._sum = np.zeros(self._length, dtype=np.uint64)  # noise now; drop it
            if len(survivors) >= self._min_participants:
                self._outcome = RetryWith(self._round_id, survivors, dropped)
            else:
                self._outcome = Abandoned(
                    self._round_id,
                    survivors,
                    dropped,
                    f"{len(survivors)} survivor(s), fewer than min_participants={self._min_participants}",
                )
        return self._outcome
