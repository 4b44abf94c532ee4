"""The plan runner: PlanDelta in -> risk check -> orders -> fills -> leg-out hedges -> ledger and store.

Venue-agnostic: every venue is an SDK ``ExecutionAdapter`` (``sdk.adapters.interfaces``) built with
``PlanRunner.on_event`` as its listener: ``PaperVenue`` and ``CurvePaperVenue`` (paper and simulated
markets), ``CcxtVenue`` (live). A venue id may route each instrument to its own adapter (a paper book per
instrument, a pool next to a book). The runner owns no loop: the agent calls ``submit_plan`` when a plan
commits and ``tick`` on its own cadence (each book update or timer), so the same code runs in virtual time
(tests, backtests) and in real time.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from decimal import Decimal

from agents.execution.accounting import Portfolio
from agents.execution.client_ids import ClientIdRule, client_order_id
from agents.execution.clock import Clock
from agents.execution.events import EventSink, ExecutionReport, HedgeOrderSpec
from agents.execution.legout import HedgeQuote, LegOutDecision, LegOutMonitor, ReplanRequest
from agents.execution.plan import ExecLeg, ExecPlan
from agents.persistence.writer import StoreWriter
from agents.risk.events import Decision, Mode
from agents.risk.manager import RiskManager
from agents.risk.market import MarketState
from registry.events.logs import correlate
from sdk.adapters.execution import (
    ExecutionEvent,
    FillEvent,
    OrderEvent,
    OrderRequest,
    OrderStatus,
    TimeInForce,
)
from sdk.adapters.interfaces import ExecutionAdapter


class PlanRunner:
    """Executes committed plans on registered venues and keeps every plan balanced (see ``legout``)."""

    def __init__(
        self,
        *,
        clock: Clock,
        monitor: LegOutMonitor,
        sink: EventSink,
        risk: RiskManager | None = None,
        writer: StoreWriter | None = None,
        portfolio: Portfolio | None = None,
        on_replan: Callable[[ReplanRequest], None] | None = None,
        judge_outcomes: bool = True,
        before_send: Callable[[], None] | None = None,
    ) -> None:
        """``judge_outcomes=False``: the owner feeds the prediction-error gate itself. A runner that sees one
        venue's legs only (``AgentRuntime``) must not: that venue's cash flow is not the plan's profit.
        ``before_send`` runs ahead of every order handed to a venue (the store's write-ahead point)."""
        self.clock = clock
        self.monitor = monitor
        self.sink = sink
        self.risk = risk
        self.writer = writer
        self.portfolio = portfolio if portfolio is not None else Portfolio()
        self._on_replan = on_replan
        self._judge_outcomes = judge_outcomes
        self._before_send = before_send
        self._venues: dict[str, ExecutionAdapter] = {}
        self._by_instrument: dict[tuple[str, str], ExecutionAdapter] = {}
        self._by_order: dict[str, ExecutionAdapter] = {}
        self._venue_kinds: dict[str, str | ClientIdRule] = {}
        self._predicted: dict[str, Decimal] = {}
        self._reported: set[str] = set()
        self._venue_of_plan: dict[str, str] = {}
        self._filled: dict[str, dict[str, Decimal]] = {}

    def add_venue(
        self,
        venue_id: str,
        venue: ExecutionAdapter,
        kind: str | ClientIdRule | None = None,
        *,
        instruments: Collection[str] = (),
    ) -> None:
        """Register (or replace) a venue's adapter; ``kind`` is its client-order-id format (a
        ``ClientIdRule``, or a name in ``client_ids.RULES``; ``None`` keeps the venue's, else ``paper``).
        With ``instruments`` the adapter serves those instruments of the venue only (each may have its
        own); without, every other one."""
        if instruments:
            for instrument in instruments:
                self._by_instrument[(venue_id, instrument)] = venue
        else:
            self._venues[venue_id] = venue
        if kind is not None or venue_id not in self._venue_kinds:
            self._venue_kinds[venue_id] = "paper" if kind is None else kind

    def order_for(self, leg: ExecLeg | HedgeOrderSpec, plan_id: str, quote: str = "USD") -> OrderRequest:
        """The order a leg or hedge becomes: IOC, capped, with its deterministic client order id."""
        return OrderRequest(
            client_order_id=client_order_id(leg.idempotency_key, self._venue_kinds.get(leg.venue, "paper")),
            idempotency_key=leg.idempotency_key,
            plan_id=plan_id,
            venue=leg.venue,
            instrument=leg.instrument,
            asset=leg.asset,
            side=leg.side,
            size=leg.size,
            limit_price=leg.limit_price,
            deadline_ms=leg.deadline_ms,
            time_in_force=TimeInForce.IOC,
            quote=quote,
        )

    # -- inputs --------------------------------------------------------------------------------------
    def submit_plan(self, plan: ExecPlan, market: MarketState, quote: str = "USD") -> Decision:
        """Risk-check ``plan`` and send the allowed legs. Re-submitting the same plan after a restart is
        safe: client order ids repeat and venues reconcile instead of sending twice."""
        now = self.clock.now_ms()
        for leg in plan.legs:
            if self.adapter_for(leg.venue, leg.instrument) is None:
                raise KeyError(
                    f"plan {plan.plan_id} leg {leg.index}: venue {leg.venue!r} has no adapter for "
                    f"{leg.instrument!r}"
                )
        if self.risk is not None:
            decision = self.risk.enforce(plan, market, now)
        else:
            decision = Decision(plan.legs, (), Mode.ACTIVE)
        self._predicted[plan.plan_id] = self._predicted.get(plan.plan_id, Decimal(0)) + plan.expected_profit
        self._venue_of_plan[plan.plan_id] = plan.venue
        if self.writer is not None:
            self.writer.prediction(plan.plan_id, self._predicted[plan.plan_id], now)
        # Refused legs are tracked as never sent: if other legs of the same plan group fill, the plan is
        # out of balance and leg-out handling hedges it; if nothing traded there is nothing to fix.
        reasons = {r.leg_key: f"risk: {r.gate.value}: {r.reason}" for r in decision.refused}
        for leg in plan.legs:
            if leg.idempotency_key in reasons:
                refused = self.order_for(leg, plan.plan_id, quote)
                self.monitor.track_refused(refused)
                if self.writer is not None:
                    self.writer.order(refused, now)
                self.on_event(
                    OrderEvent(
                        client_order_id=refused.client_order_id,
                        venue=refused.venue,
                        instrument=refused.instrument,
                        status=OrderStatus.REJECTED,
                        filled=Decimal(0),
                        remaining=Decimal(0),
                        ts_ms=now,
                        reason=reasons[leg.idempotency_key],
                    )
                )
        orders = [self.order_for(leg, plan.plan_id, quote) for leg in decision.allowed]
        for order in orders:
            self.monitor.track_leg(order)  # before sending: a synchronous venue reports during submit
            if self.writer is not None:
                self.writer.order(order, now)
        for order in orders:
            self._send(order, "leg")
        return decision

    def on_event(self, event: ExecutionEvent) -> None:
        """Listener for every venue: leg-out state, accounting, risk PnL, store."""
        self.monitor.on_event(event)
        if self.writer is not None:
            self.writer.event(event)
        if isinstance(event, FillEvent):
            filled = self._filled.setdefault(event.plan_id, {})
            if event.fill_id in filled:
                return
            filled[event.fill_id] = event.size
            realised = self.portfolio.apply(event)
            if self.risk is not None:
                self.risk.record_pnl(realised, event.ts_ms)

    def track_existing(self, order: OrderRequest, role: str) -> None:
        """Re-track an order found in a durable outbox after a restart (before reconciling it)."""
        if role == "hedge":
            self.monitor.track_hedge(order)
        else:
            self.monitor.track_leg(order)

    def tick(self, quotes: Sequence[HedgeQuote]) -> LegOutDecision:
        """Apply leg-out decisions now: cancel overdue legs, send hedges, raise re-plans, report plans."""
        now = self.clock.now_ms()
        decision = self.monitor.tick(now, quotes)
        for cid in decision.cancels:
            venue = self._venue_for(cid)
            if venue is not None:
                venue.cancel(cid)
        for spec in decision.hedges:
            hedge = self.order_for(spec, spec.plan_id)
            self.monitor.track_hedge(hedge)
            if self.writer is not None:
                self.writer.order(hedge, now)
            self._send(hedge, "hedge")
        for replan in decision.replans:
            if self._on_replan is not None:
                self._on_replan(replan)
        self._report_completed(now)
        return decision

    # -- reports -------------------------------------------------------------------------------------
    def _report_completed(self, now: int) -> None:
        for plan_id in self.monitor.open_plan_ids():
            if not self.monitor.complete(plan_id, now):
                continue
            self.monitor.close(plan_id)
            if plan_id in self._reported:
                continue  # reopened by a late report and balanced again: reported already
            self._reported.add(plan_id)
            report = self.report(plan_id, now)
            self.sink.record(report)
            if self.risk is not None and self._judge_outcomes:
                # A whole plan group is balanced, so its cash flow is its profit.
                self.risk.record_outcome(plan_id, report.realised_pnl, report.predicted_pnl, now)

    def report(self, plan_id: str, now: int) -> ExecutionReport:
        legs, hedges = self.monitor.progress(plan_id)
        return ExecutionReport(
            plan_id=plan_id,
            venue=self._venue_of_plan.get(plan_id, ""),
            filled={p.key: p.filled for p in (*legs, *hedges)},
            fees=self.portfolio.plan_fees.get(plan_id, Decimal(0)),
            realised_pnl=self.portfolio.plan_cash_flow.get(plan_id, Decimal(0)),
            predicted_pnl=self._predicted.get(plan_id, Decimal(0)),
            complete=self.monitor.complete(plan_id, now),
            ts_ms=now,
        )

    def adapter_for(self, venue: str, instrument: str) -> ExecutionAdapter | None:
        """The adapter ``venue``'s orders for ``instrument`` go to (``None``: none registered)."""
        return self._by_instrument.get((venue, instrument)) or self._venues.get(venue)

    def _send(self, order: OrderRequest, role: str) -> None:
        adapter = self.adapter_for(order.venue, order.instrument)
        if adapter is None:
            raise KeyError(f"order {order.client_order_id}: no adapter for {order.venue}/{order.instrument}")
        if self._before_send is not None:
            self._before_send()
        self._by_order[order.client_order_id] = adapter  # cancels go where the order went
        with correlate(idempotency_key=order.idempotency_key, client_order_id=order.client_order_id):
            adapter.submit(order, role)  # the venue adapter's log lines name the order

    def cancel(self, client_order_id: str) -> None:
        """Cancel an order this runner sent (or re-tracked); unknown ids are ignored."""
        venue = self._venue_for(client_order_id)
        if venue is not None:
            venue.cancel(client_order_id)

    def _venue_for(self, cid: str) -> ExecutionAdapter | None:
        adapter = self._by_order.get(cid)
        if adapter is not None:
            return adapter
        order = self.monitor.order(cid)
        return None if order is None else self.adapter_for(order.venue, order.instrument)

    @property
    def venues(self) -> Mapping[str, ExecutionAdapter]:
        return self._venues
