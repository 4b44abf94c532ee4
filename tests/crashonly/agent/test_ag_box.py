"""One source of truth for what an agent plans: the box ``AgentRuntime.constrain`` derives from the risk
gates (``RiskManager.box``), so any plan inside it passes every gate its executor applies.

The property: random venues of every kind (order books, CPMM and CLMM pools, perpetuals, prediction
markets), random gate limits and state (book-usage cap, trades left in the window, notional left today,
anomaly pauses, stale books), random inventory -> the box -> any plan the agent could commit inside it
(built by the agent's own code) passes ``RiskManager.enforce`` (run through ``AgentRuntime.execute``).

And the review's cases, in real federated sessions: the pool-usage cap (a CLMM pool refused every session
in a default 10-venue region), the trade-rate limit and the prediction-market book-usage cap; before, the
box left them out and the region was left unhedged; now every plan fills and the region stays flat.
"""

from __future__ import annotations

import tempfile
from decimal import ROUND_FLOOR, Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from agents.execution.clock import VirtualTime
from agents.execution.plan import ExecLeg, plan_from_model
from agents.market.simulated import agent_for, starting_inventory
from agents.risk.events import Gate, Mode
from agents.risk.limits import RiskLimits
from agents.runtime import AgentRuntime, BoxedCurve, ExecutionStatus, book_of, unboxed
from sdk.adapters.execution import Side
from sdk.scenarios import DEFAULT_KINDS, KINDS, generate_scenario
from tests.crashonly.agent.ag_helpers import START_MS, InProcessRegion, commit_trades

_SCENARIOS = [generate_scenario(5, seed, kinds=KINDS, mispricing_bps=300.0) for seed in range(3)]
_VENUES = [(i, v) for i, s in enumerate(_SCENARIOS) for v in sorted(s.venues)]


def _lots(value: Decimal, lot: Decimal) -> int:
    return int((value / lot).to_integral_value(ROUND_FLOOR))


_SHARES = st.sampled_from([0.0, 0.001, 0.05, 0.3, 0.7, 1.0, 1.2])


@st.composite
def _situations(draw: st.DrawFn) -> dict[str, object]:
    index, venue = draw(st.sampled_from(_VENUES))
    scenario = _SCENARIOS[index]
    assets = sorted(scenario.venues[venue].curves)
    return {
        "scenario": index,
        "venue": venue,
        "usage_cap": draw(st.sampled_from(["0.05", "0.2", "0.5", "1"])),
        "max_trades": draw(st.integers(1, 6)),
        "trades_used": draw(st.sampled_from([0, 0, 0, 1, 2, 5])),
        "notional_cap": draw(st.sampled_from([10**3, 10**5, 10**6, 10**8])),
        "notional_used": draw(st.floats(0.0, 1.0)),
        "held": {a: draw(_SHARES) for a in assets},
        "cash": draw(_SHARES),
        "inventory_limits": draw(st.booleans()),
        "stale": draw(st.integers(0, 9)) == 0,  # now and then every book is past its staleness limit
        "anomaly": draw(st.sampled_from([None, *assets])),
        "choice": {
            a: draw(st.sampled_from(["zero", "upper", "upper", "lower", "lower", "inside"])) for a in assets
        },
        "fraction": {a: draw(st.floats(0.0, 1.0)) for a in assets},
    }


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(situation=_situations())
def test_any_plan_inside_the_box_passes_every_gate(situation: dict[str, object]) -> None:
    scenario = _SCENARIOS[int(str(situation["scenario"]))]
    venue = str(situation["venue"])
    agent = agent_for(scenario, venue, latency_budget_ms=600_000)
    start = starting_inventory(scenario, venue)
    held = situation["held"]
    assert isinstance(held, dict)
    inventory = {a: start[a] * Decimal(repr(held[a])) for a in agent.curves}
    inventory["USD"] = start["USD"] * Decimal(repr(situation["cash"]))
    limits = RiskLimits(
        book_usage_cap=Decimal(str(situation["usage_cap"])),
        max_trades=int(str(situation["max_trades"])),
        daily_notional_cap=Decimal(int(str(situation["notional_cap"]))),
        anomaly_min_samples=2,
        anomaly_sigma=6.0,
        anomaly_cooldown_ms=60_000,
    )
    time = VirtualTime(START_MS)
    with tempfile.TemporaryDirectory() as scratch:
        runtime = AgentRuntime(agent, Path(scratch), inventory=inventory, scheduler=time, limits=limits)
        try:
            # Gate state: trades and notional already used in the window, a jump on one instrument.
            used = int(str(situation["trades_used"]))
            spent = limits.daily_notional_cap * Decimal(repr(situation["notional_used"]))
            if used:
                runtime.risk.record_submitted(
                    [_dummy_leg(venue, i, spent / used) for i in range(used)], time.now_ms()
                )
            anomaly = situation["anomaly"]
            if anomaly is not None:
                observe = runtime.feed_observer()
                for price in (100.0, 100.01, 100.02, 100.01, 160.0):
                    observe(str(anomaly), price)
            if situation["stale"]:
                time.advance(limits.stale_after_ms + 1)
            boxes = runtime.constrain(inventory_limits=bool(situation["inventory_limits"]))
            exact = runtime.boxes

            # Any plan inside the box, as the agent itself would commit it.
            choice, fraction = situation["choice"], situation["fraction"]
            assert isinstance(choice, dict) and isinstance(fraction, dict)
            trades: dict[str, Decimal] = {}
            for asset, (lower, upper) in sorted(exact.items()):
                lot = agent.config.instruments[asset].lot_size
                assert lower <= 0 <= upper
                assert _lots(upper, lot) * lot == upper and _lots(-lower, lot) * lot == -lower
                assert boxes[asset] == (float(lower), float(upper))
                pick = choice[asset]
                if pick == "upper":
                    trades[asset] = upper
                elif pick == "lower":
                    trades[asset] = lower
                elif pick == "inside":
                    span = _lots(upper - lower, lot)
                    trades[asset] = lower + lot * int(span * fraction[asset])
            trades = {a: q for a, q in trades.items() if q != 0}
            event(f"legs in the plan: {len(trades)}")
            if not trades:
                return
            plan = commit_trades(agent, trades, session_id="s", sequence=1, now_ms=time.now_ms(), prices=None)
            assert plan is not None
            decision = runtime.risk.check(
                plan_from_model(plan.delta), runtime._sync(sorted(trades)), time.now_ms()
            )
            assert decision.ok, decision.reasons()
            outcome = runtime.execute(plan)
            assert outcome is not None
            assert outcome.risk_gates == (), outcome.risk_gates
            assert outcome.status is not ExecutionStatus.REFUSED
            event(f"executed: {outcome.status.value}")
        finally:
            runtime.close()


def _dummy_leg(venue: str, i: int, notional: Decimal) -> ExecLeg:
    return ExecLeg(
        plan_id="earlier",
        venue=venue,
        index=i,
        instrument="X",
        asset="X",
        side=Side.BUY,
        size=Decimal(1),
        limit_price=notional if notional > 0 else Decimal("1e-9"),
        deadline_ms=START_MS,
        idempotency_key=f"earlier-{i}",
    )


def test_the_box_is_tight_one_lot_more_is_refused_by_the_gate_that_bounds_it(tmp_path: Path) -> None:
    """A pool's box is the book-usage cap of its curve's box: one lot beyond it is refused for book usage."""
    scenario = generate_scenario(10, 8, kinds=DEFAULT_KINDS)
    venue = "clmm-0002"
    agent = agent_for(scenario, venue, latency_budget_ms=600_000)
    time = VirtualTime(START_MS)
    runtime = AgentRuntime(agent, tmp_path, inventory=starting_inventory(scenario, venue), scheduler=time)
    try:
        runtime.constrain(inventory_limits=False)
        for asset, (_, upper) in sorted(runtime.boxes.items()):
            curve = unboxed(agent.curves[asset])
            lot = agent.config.instruments[asset].lot_size
            assert book_of(curve) is None  # a pool
            cap = Decimal(repr(curve.upper)) * runtime.risk.limits.book_usage_cap
            assert upper <= cap < upper + 2 * lot  # the pool-usage cap, to the lot
            for trade, ok in ((upper, True), (upper + lot, False)):
                agent.update_curves({asset: BoxedCurve(curve, 0.0, float(upper + lot))})
                plan = commit_trades(
                    agent, {asset: trade}, session_id=f"{asset}{trade}", sequence=1, now_ms=0
                )
                agent.plan_state = type(agent.plan_state)(venue_id=venue)  # each probe is a first plan
                assert plan is not None
                decision = runtime.risk.check(
                    plan_from_model(plan.delta), runtime._sync([asset]), time.now_ms()
                )
                assert decision.ok is ok, decision.reasons()
                if not ok:
                    assert {r.gate for r in decision.refused} == {Gate.BOOK_USAGE}
    finally:
        runtime.close()


def _region_sessions(
    region: InProcessRegion, sessions: int, *, constrain: bool, step_ms: int
) -> dict[str, object]:
    refused: dict[str, list[str]] = {}
    unhedged: dict[str, Decimal] = {}
    filled = 0
    for s in range(sessions):
        region.session(f"s{s}", constrain=constrain)
        for outcome in region.outcomes:
            if outcome.risk_gates:
                refused.setdefault(outcome.venue_id, []).extend(outcome.risk_gates)
            filled += outcome.status is ExecutionStatus.FILLED
        for asset, quantity in region.net().items():
            unhedged[asset] = unhedged.get(asset, Decimal(0)) + quantity
        region.time.advance(step_ms)
    return {"refused": refused, "unhedged": unhedged, "filled": filled}


def _without_the_gates(region: InProcessRegion) -> None:
    """The box the agents planned within before: the curve's own box within the inventory held."""
    for venue, agent in region.agents.items():
        runtime = region.runtimes[venue]
        held = runtime.inventory()
        for asset, curve in list(agent.curves.items()):
            inner = unboxed(curve)
            lower = max(inner.lower, -float(held.get(asset, Decimal(0))))
            agent.curves[asset] = BoxedCurve(inner, lower, inner.upper)


@pytest.mark.parametrize(
    ("case", "kinds", "n", "seed", "mispricing", "max_trades"),
    [
        ("pool usage cap, default 10-venue region", DEFAULT_KINDS, 10, 8, 25.0, 100),
        ("trade-rate limit", DEFAULT_KINDS, 5, 7, 25.0, 4),
        ("prediction-market book-usage cap", ("prediction",), 3, 7, 800.0, 100),
    ],
)
def test_the_reviews_cases_fill_and_leave_the_region_flat(
    tmp_path: Path, case: str, kinds: tuple[str, ...], n: int, seed: int, mispricing: float, max_trades: int
) -> None:
    def limits(_: str) -> RiskLimits:
        return RiskLimits(max_trades=max_trades, trades_window_ms=60_000)

    before_root, after_root = tmp_path / "before", tmp_path / "after"
    before = InProcessRegion(before_root, n, seed, kinds=kinds, mispricing_bps=mispricing, limits=limits)
    try:
        refusals: dict[str, list[str]] = {}
        unhedged: dict[str, Decimal] = {}
        committed: set[str] = set()
        for s in range(3):
            for runtime in before.runtimes.values():
                runtime.market_moved()
            _without_the_gates(before)
            before.plans.clear()
            before.outcomes.clear()
            before.driver.run(f"s{s}")
            committed.update(p.delta.venue_id for p in before.plans)
            for outcome in before.outcomes:
                if outcome.risk_gates:
                    refusals.setdefault(outcome.venue_id, []).extend(outcome.risk_gates)
            for asset, quantity in before.net().items():
                unhedged[asset] = unhedged.get(asset, Decimal(0)) + quantity
            before.time.advance(1_000)
    finally:
        before.close()
    after = InProcessRegion(after_root, n, seed, kinds=kinds, mispricing_bps=mispricing, limits=limits)
    try:
        result = _region_sessions(after, 3, constrain=True, step_ms=1_000)
    finally:
        after.close()
    print(
        f"{case}: without the gates in the box: refused {refusals}, region left "
        f"{ {a: str(q) for a, q in unhedged.items() if q} }; with them: refused {result['refused']}, "
        f"{result['filled']} plans filled, region net {result['unhedged']}"
    )
    assert refusals, f"{case}: the omission did not reproduce"
    # Either a venue's refusal left the others' legs unhedged, or every venue refused (nothing traded).
    assert any(q != 0 for q in unhedged.values()) or set(refusals) == committed, (refusals, committed)
    assert result["refused"] == {}
    assert isinstance(result["unhedged"], dict)
    assert all(q == 0 for q in result["unhedged"].values()), result["unhedged"]
    assert int(str(result["filled"])) > 0


def test_a_paused_or_killed_agent_plans_nothing(tmp_path: Path) -> None:
    region = InProcessRegion(tmp_path, 5, 7, kinds=DEFAULT_KINDS)
    try:
        first, second = sorted(region.runtimes)[:2]
        region.runtimes[first].risk.pause("test", START_MS)
        region.runtimes[second].risk.kill("test", START_MS)
        region.session("s1")
        for venue in (first, second):
            assert set(region.runtimes[venue].boxes.values()) == {(Decimal(0), Decimal(0))}
            assert region.runtimes[venue].risk.mode in (Mode.PAUSED, Mode.KILLED)
        assert {p.delta.venue_id for p in region.plans}.isdisjoint({first, second})
        assert all(q == 0 for q in region.net().values())
    finally:
        region.close()
