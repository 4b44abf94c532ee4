"""The public facts a venue announces when it joins a region (``Hello`` on the wire)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class VenueInfo:
    """What a venue makes public when it joins: its assets, lot sizes, reference mids, latency budget."""

    venue_id: str
    lot_sizes: Mapping[str, Decimal]
    reference_prices: Mapping[str, float]
    latency_budget_ms: int
