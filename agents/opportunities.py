"""The running agent's opportunities and windows: the thin, thread-safe shell around ``agents.windows``.

Plans arrive on the gRPC stream's thread, outcomes on the runtime's and reads on the gateway's, so one lock
orders them; each call stamps the input with the runtime's clock (never earlier than the last stamp: the
pure tracker refuses time going back, a wall clock may step back) and emits what the tracker returns
through the agent's ``emit``, so the event log, the store, the metrics and the console see every
``opportunity``, ``window_open`` and ``window_close``. Its inputs never raise into the agent (an error is
logged and the input left out): the operator's view must never keep a plan from being executed.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import ParamSpec, TypeVar

from agents.agent import CommittedPlan
from agents.runtime import PlanOutcome, plan_marks, valued
from agents.windows import Opportunity, WindowTracker, direction_of
from sdk.curves.base import CostCurve

log = logging.getLogger(__name__)
Emit = Callable[[dict[str, object]], None]


P = ParamSpec("P")
R = TypeVar("R")


def _never_raises(method: Callable[P, R]) -> Callable[P, R | None]:
    @functools.wraps(method)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> R | None:
        try:
            return method(*args, **kwargs)
        except Exception:  # a bad input is the view's problem, never the agent's
            log.exception("opportunities: %s left out", method.__name__)
            return None

    return guarded


class OpportunityFeed:
    """Feeds one venue's ``WindowTracker`` from the running agent and emits its events."""

    def __init__(
        self,
        venue: str,
        *,
        min_pnl: Decimal,
        grace_ms: int,
        now_ms: Callable[[], int],
        emit: Emit,
    ) -> None:
        self.venue = venue
        self.tracker = WindowTracker(venue, min_pnl=min_pnl, grace_ms=grace_ms)
        self._now_ms = now_ms
        self._emit = emit
        self._lock = threading.Lock()

    def _stamp(self) -> int:
        return max(self._now_ms(), self.tracker.now_ms)

    def _send(self, events: list[dict[str, object]]) -> None:
        for event in events:
            self._emit(event)

    @_never_raises
    def observe(self, opportunity: Opportunity) -> None:
        with self._lock:
            self._send(self.tracker.observe(opportunity))

    @_never_raises
    def plan(self, committed: CommittedPlan, curves: Mapping[str, CostCurve]) -> Opportunity:
        """A committed plan's opportunity: its trades valued as the runtime values them (the session's
        consensus prices, else the venue's marginal prices), so it matches the execution's prediction."""
        delta = committed.delta
        trades = {a: q for a, q in committed.trades.items() if q != 0}
        marks = plan_marks(committed, curves, trades)
        with self._lock:
            opportunity = Opportunity(
                venue=self.venue,
                session_id=delta.session_id,
                sequence=delta.sequence,
                ts_ms=self._stamp(),
                predicted_pnl=valued(delta.expected_profit_quote, trades, marks),
                assets=trades,
                direction=direction_of(trades, marks),
            )
            self._send(self.tracker.observe(opportunity))
        return opportunity

    @_never_raises
    def would_trade(
        self, event: Mapping[str, object], assets_of: Mapping[str, str], prices: Mapping[str, float]
    ) -> Opportunity | None:
        """An observe-only ``would_trade`` event's opportunity (``assets_of``: instrument -> asset);
        None if the event names no session."""
        session = str(event.get("prices_from") or "")
        if not session:
            return None
        legs = event.get("legs")
        trades: dict[str, Decimal] = {}
        for leg in legs if isinstance(legs, list) else []:
            asset = assets_of.get(str(leg.get("instrument")))
            if asset is None:
                continue
            size = Decimal(str(leg.get("size", "0")))
            trades[asset] = trades.get(asset, Decimal(0)) + (size if leg.get("side") == "BUY" else -size)
        marks = {a: Decimal(repr(p)) for a, p in prices.items()}
        with self._lock:
            opportunity = Opportunity(
                venue=self.venue,
                session_id=session,
                sequence=0,
                ts_ms=self._stamp(),
                predicted_pnl=Decimal(str(event.get("expected_profit", "0"))),
                assets=trades,
                direction=direction_of(trades, marks),
                source="would_trade",
            )
            if self.tracker.seen(opportunity.key):
                return None  # the same session's prices shown again (no session ran in between)
            self._send(self.tracker.observe(opportunity))
        return opportunity

    @_never_raises
    def executed(self, outcome: PlanOutcome) -> None:
        """A plan's outcome: its fills and realised profit reach the opportunity and its window."""
        with self._lock:
            self.tracker.executed(
                outcome.session_id,
                outcome.sequence,
                fills=outcome.fill_count,
                realised_pnl=outcome.realised_profit,
            )

    @_never_raises
    def tick(self) -> None:
        """Let time pass (before a session, or when read): a window whose grace ran out closes."""
        with self._lock:
            self._send(self.tracker.advance(self._stamp()))

    def opportunities(self, limit: int) -> list[dict[str, object]]:
        with self._lock:
            return [o.view() for o in self.tracker.opportunities(limit)]

    def windows(self, limit: int) -> list[dict[str, object]]:
        self.tick()
        with self._lock:
            return [w.view() for w in self.tracker.windows(limit)]
