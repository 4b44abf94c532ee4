"""What the agent's planner reads before each session: the venue's current curves, mids and pauses.

Every market source (the venue's live websocket, the seeded simulator) answers ``refresh`` with a
``MarketView``; the running agent (``agents.service``) hands the curves to its private core and the pauses to
its runtime, which then plans nothing on a paused asset. Simulation, replay, paper and live therefore run
the same session code.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
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


TickObserver = Callable[[str, float | None], None]
"""Called by a market source on every book update: ``(asset, mid)``, ``mid`` ``None`` when the book went
void. The agent's runtime passes its risk gates' hook (``AgentRuntime.feed_observer``): thread-safe and
non-blocking, so a feed loop may call it on every message."""


class MarketSource(Protocol):
    def start(self) -> None: ...

    def set_observer(self, observer: TickObserver | None) -> None:
        """Feed every later book update to ``observer`` (``None``: stop)."""
        ...

    def refresh(self, index: int) -> MarketView:
        """The market before session ``index`` (0-based, counted by this process)."""
        ...

    def close(self) -> None: ...
