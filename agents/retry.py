"""Backoff for everything that reconnects or retries: venue websockets, venue REST, the coordinator stream.

One small utility with its own tests (Flower's ``retry_invoker`` in spirit): exponential growth capped at
``maximum``, full jitter so a region's agents do not reconnect in lock-step, and a ``Retry-After`` from the
venue taking precedence over our own guess.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with full jitter, in seconds."""

    initial: float = 0.1
    maximum: float = 5.0
    multiplier: float = 2.0

    def __post_init__(self) -> None:
        if not (0 < self.initial <= self.maximum) or self.multiplier < 1:
            raise ValueError(
                f"Backoff needs 0 < initial <= maximum and multiplier >= 1, got "
                f"initial={self.initial}, maximum={self.maximum}, multiplier={self.multiplier}"
            )

    def delays(self, rng: random.Random) -> Iterator[float]:
        """Endless delays: uniform in ``[0, current]``, ``current`` growing to ``maximum``."""
        current = self.initial
        while True:
            yield rng.uniform(0, current)
            current = min(self.maximum, current * self.multiplier)

    def delay(self, attempt: int, rng: random.Random, retry_after: float | None = None) -> float:
        """The delay before retry number ``attempt`` (0-based); a venue's ``Retry-After`` wins when longer."""
        if attempt < 0:
            raise ValueError(f"attempt must be >= 0, got {attempt}")
        ceiling = min(self.maximum, self.initial * self.multiplier ** min(attempt, 64))
        chosen = rng.uniform(0, ceiling)
        if retry_after is not None and retry_after > chosen:
            return min(retry_after, 300.0)
        return chosen
