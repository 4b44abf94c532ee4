"""What the agent's planner reads before each session: the venue's current curves, mids and pauses.

Every market source (the venue's live websocket, the seeded simulator) answers ``refresh`` with a
``MarketView``; the running agent (``agents.service``) hands the curves to its private core and the pauses to
its runtime, which then plans nothing on a paused asset. Simulation, replay, paper and live therefore run
the same session code.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from sdk.curves.base import CostCurve


@dataclass(frozen=True)
class MarketView:
    curves: Mapping[str, CostCurve]
    """asset -> current cost curve (assets whose book is void are absent)."""
    mids: Mapping[str, float]
    """asset -> displayed mid (public facts, reported at join and at each session)."""
    paused: Mapping[str, str] = field(default_factory=dict)
    """asset -> why it must not trade now (stale or void book)."""


class MarketSource(Protocol):
    def start(self) -> None: ...

    def refresh(self, index: int) -> MarketView:
        """The market before session ``index`` (0-based, counted by this process)."""
        ...

    def close(self) -> None: ...
