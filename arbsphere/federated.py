"""The federation as a backtest strategy: ``ArbSphereStrategy`` for ``agents.backtest.run_backtest``.

One ``EdgeAgent`` per venue and the coordinator's ``SessionDriver`` over ``InProcessLink``: it needs both the
agents and the coordinator, so it lives here, above both (``agents.backtest`` holds the harness itself).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace

from agents.agent import EdgeAgent, InstrumentSpec, VenueConfig
from agents.backtest import (
    ASSET,
    INSTRUMENT,
    BacktestError,
    TickDecision,
    VenueBook,
    VenueSpec,
    check_finite,
)
from agents.execution.plan import ExecPlan, plan_from_model
from agents.participant import ParticipantError
from arbsphere.inprocess import InProcessLink
from coordinator.engine.rounding import BalanceError
from coordinator.engine.strategy import SessionError
from coordinator.session import SessionDriver
from energibridge.protocol.venue import VenueInfo
from energibridge.secagg.errors import SecAggError
from sdk.curves.order_book import OrderBookCurve
from sdk.reference_solver import centralised_optimum


class ArbSphereStrategy:
    """The federation: one ``EdgeAgent`` per venue, each holding only its own venue's cost curve, solved by
    ``SessionDriver`` (price-space strategy) over ``InProcessLink`` with secure aggregation on.

    ``book_usage`` defaults to 1.0 here: on paper the plan executes against the very book it was planned
    on, so the production haircut (0.3, for displayed depth that vanishes live) would only hide depth that
    is there. ``warm=False`` starts every session cold (a control for the warm re-plans deployed by default).
    A session that raises is abandoned for that tick and listed in ``failures``; the next one starts cold.
    """

    def __init__(
        self,
        specs: Sequence[VenueSpec],
        *,
        name: str = "arbsphere",
        book_usage: float = 1.0,
        reference_price: float = 100.0,
        strategy: str = "price",
        secure: bool = True,
        with_optimum: bool = True,
        session_deadline_s: float = 60.0,
        warm: bool = True,
    ) -> None:
        usage = check_finite("book_usage", book_usage, positive=True)
        if usage > 1.0:
            raise BacktestError(f"book_usage must be in (0, 1], got {book_usage!r}")
        self.name = name
        self.book_usage = usage
        self.specs = {s.venue: s for s in specs}
        self.with_optimum = with_optimum
        self.warm = warm
        self.session_deadline_s = check_finite("session_deadline_s", session_deadline_s, positive=True)
        ref = check_finite("reference_price", reference_price, positive=True)
        self.agents: dict[str, EdgeAgent] = {}
        infos: dict[str, VenueInfo] = {}
        for venue, spec in self.specs.items():
            instrument = InstrumentSpec(INSTRUMENT, spec.lot_size, spec.tick_size)
            agent = EdgeAgent(VenueConfig(venue, {ASSET: instrument}), {ASSET: self._curve(spec, None)})
            agent.reference_prices = {ASSET: ref}
            self.agents[venue] = agent
            infos[venue] = VenueInfo(
                venue, {ASSET: spec.lot_size}, {ASSET: ref}, agent.config.latency_budget_ms
            )
        self.link = InProcessLink(self.agents, secure=secure)
        self.driver = SessionDriver(self.link, infos, strategy=strategy)
        self.failures: list[str] = []
        """Sessions that raised instead of committing (tick, error); their ticks trade nothing."""
        self._cold = False

    def _curve(self, spec: VenueSpec, book: VenueBook | None) -> OrderBookCurve:
        return OrderBookCurve(
            book.bids if book is not None else (),
            book.asks if book is not None else (),
            taker_fee_bps=spec.taker_fee_bps,
            book_usage=self.book_usage,
            lot_size=float(spec.lot_size),
        )

    def decide(self, tick: int, now_ms: int, books: Mapping[str, VenueBook]) -> TickDecision:
        curves = {}
        for venue, agent in self.agents.items():
            book = books.get(venue)
            curve = self._curve(self.specs[venue], book)
            curves[venue] = {ASSET: curve}
            agent.update_curves({ASSET: curve})
            if book is not None:
                agent.reference_prices = {ASSET: book.mid}
        optimum = centralised_optimum(curves).profit if self.with_optimum else None
        try:
            result = self.driver.run(deadline_s=self.session_deadline_s, cold=self._cold or not self.warm)
        except (ParticipantError, SessionError, BalanceError, SecAggError) as exc:
            # Crash-only: the session is abandoned (nothing committed, nothing traded), logged, and the
            # next one starts cold so no state of the failed one carries over.
            self.failures.append(f"tick {tick}: {type(exc).__name__}: {exc}")
            self._cold = True
            return TickDecision((), 0.0, optimum, None, None, failed=True)
        self._cold = False
        plans = []
        for ack in result.acks:
            committed = self.link.committed[ack.venue_id]
            delta = getattr(committed, "delta", None)
            if delta is None or delta.sequence != ack.sequence:
                raise BacktestError(f"{ack.venue_id}: committed plan for sequence {ack.sequence} not found")
            plans.append(_rebase(plan_from_model(delta), now_ms))
        profit = result.profit if math.isfinite(result.profit) else 0.0
        return TickDecision(tuple(plans), profit, optimum, result.rounds, result.elapsed_s * 1e3)


def _rebase(plan: ExecPlan, now_ms: int) -> ExecPlan:
    """``InProcessLink`` commits at ``now_ms = 0``, so leg deadlines arrive relative: move them to now."""
    legs = tuple(replace(leg, deadline_ms=now_ms + leg.deadline_ms) for leg in plan.legs)
    return replace(plan, legs=legs)
