"""Transport-neutral round messages between the coordinator core and the agents' core.

The gRPC layers map these onto EnergiBridge ``RoundOpen``/``MaskedContribution`` messages (``wire``); the
in-process transport passes them directly. Only aggregates and consensus values appear here.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from energibridge.protocol.contribution import FloatArray


class Mode(Enum):
    ADMM = "admm"
    """Agents take the exchange-ADMM proximal step ``x = prox(z - u, rho)``."""
    PRICE = "price"
    """Agents answer with their best response to ``prices`` (or a crossover ``mix`` of two)."""


@dataclass(frozen=True)
class RoundBroadcast:
    """What the coordinator tells every participant at the start of a round."""

    session_id: str
    round_id: int
    mode: Mode
    rho: FloatArray
    scaled_duals: FloatArray
    """``u``; consensus prices are ``-rho * u``."""
    prices: FloatArray
    previous_mean: FloatArray | None
    """``xbar`` of the previous round (None in the first round of a session, or after a rebase)."""
    over_relaxation: float
    best_response_eps: float
    rebase: bool = False
    """Participants must restate absolute values (a venue was dropped and its totals must go)."""
    accepted_previous: frozenset[str] = frozenset()
    """Venues whose previous contribution entered the totals (the others keep their old values)."""
    mix: tuple[FloatArray, FloatArray, FloatArray] | None = None
    """Price-space crossover: answer ``x(low) + weight * (x(high) - x(low))`` per asset."""
    primal_residual: float = 0.0
    """The previous round's residuals and aggregated liquidity proxy (SharedSignals; 0 in round 1)."""
    dual_residual: float = 0.0
    liquidity_quote: float = 0.0
    """Quote value of the summed net demand change across +-10 bps of the consensus prices (from the
    aggregated slopes): how deep the region is around its price, no venue's depth in it."""
    probe: FloatArray | None = None
    """Price-space: ``PROBES`` more prices per asset, shape ``(PROBES, n)``, at which agents also report
    their demand (absolute, in the contribution's probe block), with the slope of their demand at
    ``prices``: several points of net demand per round instead of one."""


@dataclass(frozen=True)
class RoundSummary:
    """Aggregate figures of a closed round (safe to publish: only sums)."""

    round_id: int
    participants: int
    responders: int
    imbalance: FloatArray
    """Summed net trade per asset, ``N * xbar``."""
    max_imbalance_lots: float
    primal_residual: float
    dual_residual: float
    gap: float
    profit: float
    rho: FloatArray
    prices: FloatArray
    converged: bool
    dropped: tuple[str, ...] = ()
