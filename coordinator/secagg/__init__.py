"""Secure aggregation, coordinator side: sum the masked vectors of a round, decode, retry on dropouts.

The protocol both sides share (fixed point, keys, masks, errors) and the agents' ``MaskingClient`` live in
``energibridge.secagg``, whose docstring states the protocol and its threat model. Here: ``AggregationRound``
(one attempt over one mask set) and ``Aggregator`` (the session's roster and round ids).
"""

from __future__ import annotations

from coordinator.secagg.aggregator import Aggregator
from coordinator.secagg.rounds import (
    Abandoned,
    AggregateResult,
    AggregationRound,
    RetryWith,
    RoundOutcome,
)

__all__ = [
    "Abandoned",
    "AggregateResult",
    "AggregationRound",
    "Aggregator",
    "RetryWith",
    "RoundOutcome",
]
