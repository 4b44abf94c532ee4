"""What the risk gates read about the market: the latest book per (venue, instrument) and its age."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from sdk.adapters.events import BookSnapshot


@dataclass(frozen=True, slots=True)
class MarketState:
    """Latest books keyed by ``(venue, instrument)``; ``BookSnapshot.ts_ms`` is when it last changed."""

    books: Mapping[tuple[str, str], BookSnapshot[Decimal]] = field(default_factory=dict)

    def book(self, venue: str, instrument: str) -> BookSnapshot[Decimal] | None:
        return self.books.get((venue, instrument))
