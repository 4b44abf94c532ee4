"""The agent runtime on its own: committed plans of a real federated session executed on paper."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.agent import CommittedPlan, EdgeAgent
from agents.execution.clock import VirtualTime
from agents.keys import idempotency_key
from agents.market.simulated import starting_inventory
from agents.plan_state import PlanState
from agents.risk.limits import RiskLimits
from agents.runtime import AgentRuntime, BoxedCurve, CurvePaperVenue, ExecutionStatus, PlanOutcome
from arbsphere.simulation import build_region
from coordinator.session import SessionDriver
from energibridge.models import PlanDelta, PlanLeg, Side
from energibridge.version import CURRENT
from sdk.adapters.execution import FillEvent, OrderEvent, OrderRequest, OrderStatus
from sdk.adapters.execution import Side as ExecSide
from sdk.curves.base import CostCurve
from sdk.curves.cpmm import ConstantProductCurve
from sdk.curves.order_book import OrderBookCurve
from sdk.reference_solver import lagrangian_term
from tests.loop.loop_helpers import TimedLink, conservation_gaps

START_MS = 1_800_000_000_000
KINDS = ("order_book", "cpmm", "clmm", "perp")


class Region:
    """Five venues in process, each with its own runtime; plans are executed as they commit."""

    def __init__(self, root: Path, *, execute: bool = True, **runtime_options: object) -> None:
        self.time = VirtualTime(START_MS)
        self.scenario, self.agents, infos = build_region(5, 7, kinds=KINDS, latency_budget_ms=600_000)
        self.start = {v: starting_inventory(self.scenario, v) for v in self.agents}
        self.runtimes = {
            v: AgentRuntime(
                a,
                root / v,
                inventory=self.start[v],
                scheduler=self.time,
                **runtime_options,  # type: ignore[arg-type]
            )
            for v, a in self.agents.items()
        }
        self.outcomes: list[PlanOutcome | None] = []

        def on_plan(plan: CommittedPlan) -> None:
            if execute:
                self.outcomes.append(self.runtimes[plan.delta.venue_id].execute(plan))

        self.link = TimedLink(self.agents, self.time.now_ms, on_plan)
        self.driver = SessionDriver(self.link, infos)

    def close(self) -> None:
        for runtime in self.runtimes.values():
            runtime.close()


@pytest.fixture
def region(tmp_path: Path) -> Iterator[Region]:
    made = Region(tmp_path)
    yield made
    made.close()


def test_committed_plans_fill_on_paper_and_every_store_conserves_capital(region: Region) -> None:
    result = region.driver.run("s1")
    assert result.acks
    outcomes = [o for o in region.outcomes if o is not None]
    assert len(outcomes) == len(result.acks)
    for outcome, plan in zip(outcomes, region.link.plans, strict=True):
        assert outcome.status is ExecutionStatus.FILLED
        assert outcome.sequence == plan.delta.sequence == result.sequence
        filled: dict[str, Decimal] = {}
        for fill in outcome.fills:
            filled[fill.instrument] = filled.get(fill.instrument, Decimal(0)) + fill.signed_size
            leg = next(leg for leg in plan.delta.legs if leg.instrument == fill.instrument)
            worst_ok = (
                fill.price <= leg.limit_price if leg.side is Side.BUY else fill.price >= leg.limit_price
            )
            assert worst_ok, (fill, leg.limit_price)
        assert filled == {leg.instrument: leg.signed_size for leg in plan.delta.legs}
        # Books fill on their whole displayed depth (the plan used 30% of it), pools at their own cost.
        assert abs(outcome.pnl_vs_plan) <= Decimal("0.005") * abs(outcome.predicted)
    region.close()
    for venue, runtime in region.runtimes.items():
        assert set(conservation_gaps(runtime.store, region.start[venue]).values()) <= {Decimal(0)}
        for outcome in (o for o in outcomes if o.venue_id == venue):
            stored = runtime.store.plan_pnl(outcome.plan_id)
            assert stored is not None
            assert (stored.realised, stored.predicted, stored.fills) == (
                outcome.realised,
                outcome.predicted,
                outcome.fill_count,
            )
        assert all(order.status == "filled" for order in runtime.store.orders())


def test_realised_plan_profit_is_close_to_the_committed_profit(region: Region) -> None:
    result = region.driver.run("s1")
    outcomes = [o for o in region.outcomes if o is not None]
    predicted = sum((o.predicted for o in outcomes), Decimal(0))
    realised = sum((o.realised for o in outcomes), Decimal(0))
    assert float(predicted) == pytest.approx(result.profit, rel=1e-9)
    assert realised > 0
    assert float(realised) >= 0.9 * result.profit


def test_observe_only_computes_plans_but_sends_no_order(tmp_path: Path) -> None:
    region = Region(tmp_path)
    try:
        for runtime in region.runtimes.values():
            runtime.risk.observe_only("test", START_MS)
        region.driver.run("s1")
        outcomes = [o for o in region.outcomes if o is not None]
        assert outcomes
        assert all(o.status is ExecutionStatus.REFUSED for o in outcomes)
        assert all(
            o.risk_gates == ("observe_only",) and not o.fills and o.submitted_ns == 0 for o in outcomes
        )
    finally:
        region.close()
    for outcome in outcomes:
        runtime = region.runtimes[outcome.venue_id]
        assert {o.status for o in runtime.store.orders()} == {"rejected"}
        assert runtime.store.fills() == []
        journal = [
            json.loads(line)
            for line in (tmp_path / outcome.venue_id / "journal.jsonl").read_text().splitlines()
        ]
        assert any(e["audit_kind"] == "AUDIT_KIND_RISK_HALT" for e in journal)


def _shifted_book(book: OrderBookCurve, factor: float) -> OrderBookCurve:
    return OrderBookCurve(
        [(p * factor, q) for p, q in book.bids],
        [(p * factor, q) for p, q in book.asks],
        taker_fee_bps=book.fee * 1e4,
        book_usage=book.book_usage,
        lot_size=book.lot_size,
        min_notional=book.min_notional,
        max_buy=book.upper,
        max_sell=-book.lower,
    )


def test_a_leg_whose_book_moved_away_in_flight_legs_out_and_goes_back_to_the_federation(
    tmp_path: Path,
) -> None:
    region = Region(tmp_path, execute=False, latency_ms=5)
    try:
        region.driver.run("s1")
        plan = next(p for p in region.link.plans if p.delta.venue_id.startswith("order_book"))
        agent = region.agents[plan.delta.venue_id]
        runtime = region.runtimes[plan.delta.venue_id]
        assert runtime.execute(plan) is None  # risk checked against the book of now, orders in flight
        leg = plan.delta.legs[0]
        book = agent.curves[leg.asset]
        assert isinstance(book, OrderBookCurve)
        agent.update_curves({leg.asset: _shifted_book(book, 1.03 if leg.side is Side.BUY else 0.97)})
        runtime.market_moved()
        region.time.advance(5)
        (outcome,) = runtime.poll()
    finally:
        region.close()
    assert outcome.status is ExecutionStatus.LEG_OUT
    assert outcome.legs_short >= 1
    assert outcome.leg_outs and outcome.leg_outs[0].action == "replan"
    journal = (tmp_path / plan.delta.venue_id / "journal.jsonl").read_text()
    assert "AUDIT_KIND_LEG_OUT" in journal


def test_a_plan_the_book_cannot_carry_is_refused_by_the_book_usage_gate(tmp_path: Path) -> None:
    region = Region(tmp_path, execute=False)
    try:
        region.driver.run("s1")
        plan = next(p for p in region.link.plans if p.delta.venue_id.startswith("order_book"))
        agent = region.agents[plan.delta.venue_id]
        runtime = region.runtimes[plan.delta.venue_id]
        leg = plan.delta.legs[0]
        book = agent.curves[leg.asset]
        assert isinstance(book, OrderBookCurve)
        agent.update_curves({leg.asset: _shifted_book(book, 1.03 if leg.side is Side.BUY else 0.97)})
        runtime.market_moved()
        outcome = runtime.execute(plan)
    finally:
        region.close()
    assert outcome is not None and outcome.status is ExecutionStatus.REFUSED
    assert "book_usage" in outcome.risk_gates and not outcome.fills


def test_a_pool_leg_fills_at_the_curves_own_cost(tmp_path: Path) -> None:
    region = Region(tmp_path, execute=False)
    try:
        region.driver.run("s1")
        plan = next(p for p in region.link.plans if p.delta.venue_id.startswith("cpmm"))
        venue = plan.delta.venue_id
        outcome = region.runtimes[venue].execute(plan)
    finally:
        region.close()
    assert outcome is not None and outcome.status is ExecutionStatus.FILLED
    for fill in outcome.fills:
        pool = region.agents[venue].curves[fill.asset]
        assert float(fill.price * fill.size) == pytest.approx(
            abs(pool.cost(float(fill.signed_size))), rel=1e-9
        )
        assert fill.fee == 0


@pytest.mark.parametrize("side", [ExecSide.BUY, ExecSide.SELL])
def test_a_pool_order_fills_whole_within_its_cap_and_not_at_all_beyond_it(side: ExecSide) -> None:
    pool = ConstantProductCurve(100.0, 300_000.0, fee=0.003)
    time = VirtualTime(START_MS)
    events: list[object] = []
    venue = CurvePaperVenue("pool", pool, time, events.append)
    size = Decimal("2.5")
    average = abs(pool.cost(float(side.sign * size))) / 2.5
    inside = Decimal(repr(average * (1.001 if side is ExecSide.BUY else 0.999)))
    beyond = Decimal(repr(average * (0.999 if side is ExecSide.BUY else 1.001)))
    for key, cap in (("inside", inside), ("beyond", beyond)):
        venue.submit(
            OrderRequest(
                client_order_id=key,
                idempotency_key=key,
                plan_id="p",
                venue="pool",
                instrument="ETH-USD",
                asset="ETH",
                side=side,
                size=size,
                limit_price=cap,
                deadline_ms=START_MS + 1000,
            )
        )
    time.advance(0)
    fills = [e for e in events if isinstance(e, FillEvent)]
    final = {e.client_order_id: e.status for e in events if isinstance(e, OrderEvent) and e.status.terminal}
    assert final == {"inside": OrderStatus.FILLED, "beyond": OrderStatus.CANCELLED}
    (fill,) = fills
    assert fill.size == size and fill.fee == 0
    assert abs(float(fill.price) - average) <= 1e-8  # rounded against us to the price quantum
    assert (
        (fill.price >= Decimal(repr(average)))
        if side is ExecSide.BUY
        else (fill.price <= Decimal(repr(average)))
    )


def test_with_paper_latency_the_outcome_arrives_once_the_orders_have(tmp_path: Path) -> None:
    region = Region(tmp_path, latency_ms=5)
    try:
        region.driver.run("s1")
        assert region.outcomes and all(o is None for o in region.outcomes)
        region.time.advance(5)
        done = [o for runtime in region.runtimes.values() for o in runtime.poll()]
        assert len(done) == len(region.outcomes)
        assert all(o.status is ExecutionStatus.FILLED for o in done)
    finally:
        region.close()


# -- property: any sequence of plans on one book venue keeps the store's books exact --------------------

_SCENARIO, _AGENTS, _ = build_region(1, 11, kinds=("order_book",), latency_budget_ms=600_000)
_VENUE = next(iter(_AGENTS))


def _cap(curve: CostCurve, quantity: float, tick: Decimal) -> Decimal:
    left, right = curve.marginal(quantity)
    worst = left if quantity > 0 else right
    rounding = ROUND_CEILING if quantity > 0 else ROUND_FLOOR
    return max((Decimal(repr(worst)) / tick).to_integral_value(rounding) * tick, tick)


def _plan(agent: EdgeAgent, sequence: int, fractions: list[tuple[str, float]]) -> CommittedPlan:
    legs = []
    cost = 0.0
    for index, (asset, fraction) in enumerate(fractions):
        curve = agent.curves[asset]
        spec = agent.config.instruments[asset]
        bound = curve.upper if fraction > 0 else -curve.lower
        size = (Decimal(repr(abs(fraction) * bound)) / spec.lot_size).to_integral_value(
            ROUND_FLOOR
        ) * spec.lot_size
        if size == 0:
            continue
        signed = size if fraction > 0 else -size
        cost += curve.cost(float(signed))
        legs.append(
            PlanLeg(
                instrument=spec.symbol,
                side=Side.BUY if fraction > 0 else Side.SELL,
                size=size,
                limit_price=_cap(curve, float(signed), spec.tick_size),
                deadline_unix_ms=START_MS + 60_000,
                idempotency_key=idempotency_key("prop", sequence, agent.venue_id, index),
                asset=asset,
            )
        )
    delta = PlanDelta(
        ir_version=CURRENT,
        session_id="prop",
        venue_id=agent.venue_id,
        sequence=sequence,
        previous_sequence=sequence - 1,
        legs=tuple(legs),
        expected_profit_quote=Decimal(repr(-cost)),
    )
    return CommittedPlan(delta, PlanState(agent.venue_id), {}, cost)


_fraction = st.floats(min_value=-1.0, max_value=1.0, allow_nan=False).filter(lambda f: abs(f) > 1e-3)
_plans = st.lists(
    st.lists(
        st.tuples(st.sampled_from(sorted(_SCENARIO.assets)), _fraction),
        min_size=1,
        max_size=3,
        unique_by=lambda t: t[0],
    ),
    min_size=1,
    max_size=4,
)


@settings(max_examples=25, deadline=None)
@given(plans=_plans)
def test_any_plan_sequence_keeps_cash_positions_and_inventory_exact(
    plans: list[list[tuple[str, float]]],
) -> None:
    agent = _AGENTS[_VENUE]
    start = starting_inventory(_SCENARIO, _VENUE)
    with tempfile.TemporaryDirectory() as scratch:
        runtime = AgentRuntime(
            agent,
            Path(scratch),
            inventory=start,
            scheduler=VirtualTime(START_MS),
            limits=RiskLimits(daily_notional_cap=Decimal(10**12), book_usage_cap=Decimal(1)),
        )
        outcomes = []
        for sequence, fractions in enumerate(plans, start=1):
            try:
                plan = _plan(agent, sequence, fractions)
            except ValueError:
                continue  # every leg rounded to zero lots
            outcomes.append(runtime.execute(plan))
        runtime.close()
        assert set(conservation_gaps(runtime.store, start).values()) <= {Decimal(0)}
        assert runtime.runner.portfolio.conservation_gap() == 0
        fills = runtime.store.fills()
        assert len(fills) == sum(o.fill_count for o in outcomes if o is not None)
        assert len({f.fill_id for f in fills}) == len(fills)
        for outcome in outcomes:
            assert outcome is not None
            assert outcome.realised == sum((f.cash_flow for f in outcome.fills), Decimal(0))


# -- the agent plans only what its runtime will execute -----------------------------------------------------


def _constrain_all(region: Region) -> dict[str, dict[str, tuple[float, float]]]:
    return {v: runtime.constrain() for v, runtime in region.runtimes.items()}


def test_under_a_small_notional_cap_plans_shrink_instead_of_being_refused(tmp_path: Path) -> None:
    cap = Decimal(60_000)
    region = Region(tmp_path, limits=RiskLimits(daily_notional_cap=cap))
    try:
        _constrain_all(region)
        region.driver.run("s1")
        outcomes = [o for o in region.outcomes if o is not None]
        assert outcomes and all(o.status is ExecutionStatus.FILLED for o in outcomes)
        for plan in region.link.plans:
            assert sum((leg.size * leg.limit_price for leg in plan.delta.legs), Decimal(0)) <= cap
        net: dict[str, Decimal] = {}
        for plan in region.link.plans:
            for leg in plan.delta.legs:
                net[leg.instrument] = net.get(leg.instrument, Decimal(0)) + leg.signed_size
        assert set(net.values()) <= {Decimal(0)}
    finally:
        region.close()


def test_a_paused_agent_sits_the_session_out_and_the_others_stay_balanced(tmp_path: Path) -> None:
    region = Region(tmp_path)
    try:
        paused = sorted(region.runtimes)[0]
        region.runtimes[paused].risk.pause("test", START_MS)
        boxes = _constrain_all(region)
        assert set(boxes[paused].values()) == {(0.0, 0.0)}
        region.driver.run("s1")
        assert paused not in {p.delta.venue_id for p in region.link.plans}
        assert all(o is not None and o.status is ExecutionStatus.FILLED for o in region.outcomes)
    finally:
        region.close()


def test_the_next_plan_sells_no_more_than_the_agent_holds(tmp_path: Path) -> None:
    region = Region(tmp_path)
    try:
        _constrain_all(region)
        region.driver.run("s1")
        for venue, runtime in region.runtimes.items():
            boxes = runtime.constrain()
            held = runtime.inventory()
            for asset, (lower, upper) in boxes.items():
                curve = region.agents[venue].curves[asset]
                assert (curve.lower, curve.upper) == (lower, upper)
                if not venue.startswith("perp"):
                    assert -lower <= float(held.get(asset, Decimal(0))) + 1e-12
    finally:
        region.close()


_MIXED = build_region(4, 5, kinds=KINDS, latency_budget_ms=600_000)[0]
_CURVES = [c for v in sorted(_MIXED.venues) for _, c in sorted(_MIXED.venues[v].curves.items())]


@settings(max_examples=40, deadline=None)
@given(
    index=st.integers(0, len(_CURVES) - 1),
    lo=st.floats(0.0, 1.0),
    hi=st.floats(0.0, 1.0),
    v=st.floats(-1.5, 1.5),
    rho_scale=st.floats(1e-3, 1e3),
    price_move=st.floats(-0.02, 0.02),
)
def test_a_boxed_curve_is_the_curve_restricted_to_its_box(
    index: int, lo: float, hi: float, v: float, rho_scale: float, price_move: float
) -> None:
    inner = _CURVES[index]
    boxed = BoxedCurve(inner, lo * inner.lower, hi * inner.upper)
    assert inner.lower <= boxed.lower <= 0 <= boxed.upper <= inner.upper
    grid = [boxed.lower + (boxed.upper - boxed.lower) * k / 400 for k in range(401)]
    mid = 0.5 * sum(inner.marginal(0.0))
    rho = rho_scale / (mid * max(inner.upper - inner.lower, 1e-9))
    target = v * max(inner.upper, -inner.lower)
    x = boxed.prox(target, rho)
    assert boxed.lower <= x <= boxed.upper
    objective = [boxed.cost(g) + rho / 2 * (g - target) ** 2 for g in grid]
    assert boxed.cost(x) + rho / 2 * (x - target) ** 2 <= min(objective) + 1e-9 * (1 + abs(min(objective)))
    price = mid * (1 + price_move)
    d_lo, d_hi = boxed.demand(price)
    assert boxed.lower <= d_lo <= d_hi <= boxed.upper
    best = min(boxed.cost(g) - price * g for g in grid)
    scale = 1e-9 * (1 + abs(best))
    assert boxed.cost(d_lo) - price * d_lo <= best + scale
    assert lagrangian_term(boxed, price) <= best + scale


def test_a_restarted_runtime_keeps_its_balances_and_plans_from_them(tmp_path: Path) -> None:
    region = Region(tmp_path)
    try:
        region.driver.run("s1")
    finally:
        region.close()
    venue = region.link.plans[0].delta.venue_id
    before = region.runtimes[venue].inventory()
    assert before != region.start[venue]
    again = AgentRuntime(region.agents[venue], tmp_path / venue, inventory=region.start[venue])
    try:
        assert again.inventory() == before  # the store's balances win over the configured start
        boxes = again.constrain()
        for asset, (lower, _) in boxes.items():
            if not venue.startswith("perp"):
                assert -lower <= float(before.get(asset, Decimal(0))) + 1e-12
    finally:
        again.close()
    assert set(conservation_gaps(again.store, region.start[venue]).values()) <= {Decimal(0)}
