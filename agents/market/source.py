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


@dataclass(frozen=True)
class FeedHealth:
    """A feed's health as the operator sees it: message rate since the last look, time since its last
    message, and how often its connection was re-established."""

    rate_per_s: float
    staleness_ms: float | None
    """``None`` before the first message."""
    reconnects: int
    resyncs: int = 0

    def as_event(self) -> dict[str, object]:
        return {
            "rate_per_s": round(self.rate_per_s, 3),
            "staleness_ms": None if self.staleness_ms is None else round(self.staleness_ms, 1),
            "reconnects": self.reconnects,
            "resyncs": self.resyncs,
        }


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

    def health(self) -> Mapping[str, FeedHealth]:
        """Per feed (``venue:symbol`` or the venue), how it is doing now (``feed_health`` events)."""
        ...

    def close(self) -> None: ...
