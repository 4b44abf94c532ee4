"""No region left unhedged: a leg-out's residual goes back into the federation as a hedge session.

The venue that legged out owes the region ``planned - filled``; at its next session it brings that as a
fixed target (``agents.hedge``), the other venues trade it between them, the coordinator commits the
balanced plan even at a cost and records the hedge, and the venue's residual is ``taken`` before the commit
is acknowledged. Judged on fills: the region's net position over both sessions is flat within one lot.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path

import pytest

from agents.agent import CommittedPlan
from agents.hedge import HedgeTarget, owed, targets
from agents.persistence.store import Residual
from agents.runtime import ExecutionStatus, PlanOutcome, unboxed
from sdk.adapters.events import Side
from sdk.curves.order_book import OrderBookCurve
from sdk.scenarios import DEFAULT_KINDS
from tests.crashonly.agent.ag_helpers import START_MS, InProcessRegion

LATENCY_MS = 5


class Recorder:
    def __init__(self) -> None:
        self.entries: list[tuple[str, str, dict[str, object]]] = []

    def record(self, kind: str, actor: str, payload: Mapping[str, object]) -> None:
        self.entries.append((kind, actor, dict(payload)))


def _settle(region: InProcessRegion) -> list[PlanOutcome]:
    """Let paper latency pass and collect every outcome."""
    outcomes: list[PlanOutcome] = []
    for _ in range(10):
        region.time.advance(LATENCY_MS)
        for runtime in region.runtimes.values():
            outcomes.extend(runtime.poll())
    return outcomes


def _net(outcomes: list[PlanOutcome]) -> dict[str, Decimal]:
    out: dict[str, Decimal] = {}
    for outcome in outcomes:
        for fill in outcome.fills:
            out[fill.asset] = out.get(fill.asset, Decimal(0)) + fill.signed_size
    return out


def _run_away(region: InProcessRegion, plan: CommittedPlan) -> str:
    """The book of the plan's first leg moves 3% against it while the order flies: that leg legs out."""
    leg = plan.delta.legs[0]
    agent = region.agents[plan.delta.venue_id]
    book = unboxed(agent.curves[leg.asset])
    assert isinstance(book, OrderBookCurve)
    factor = 1.03 if leg.side.name == "BUY" else 0.97
    moved = OrderBookCurve(
        [(p * factor, q) for p, q in book.bids],
        [(p * factor, q) for p, q in book.asks],
        taker_fee_bps=book.fee * 1e4,
        book_usage=book.book_usage,
        lot_size=book.lot_size,
    )
    agent.update_curves({leg.asset: moved})
    region.runtimes[plan.delta.venue_id].market_moved()
    return leg.asset


def test_targets_are_the_debt_negated_on_the_lot_grid() -> None:
    def residual(asset: str, side: Side, size: str) -> Residual:
        return Residual("p", asset, "v", side, Decimal(size), "leg_out", START_MS)

    debts = owed(
        [
            residual("SOL", Side.SELL, "2.5"),
            residual("SOL", Side.BUY, "0.5"),
            residual("ETH", Side.BUY, "0.04"),
        ]
    )
    assert debts == {"SOL": Decimal("-2.0"), "ETH": Decimal("0.04")}
    lots = {"SOL": Decimal("0.1"), "ETH": Decimal("0.1")}
    # SOL: the venue still owes a sale of 2, so the region holds +2 on its account; ETH is under one lot.
    assert targets(debts, lots) == {"SOL": Decimal("2.0")}
    curve = HedgeTarget(2.0, 150.0)
    assert (curve.lower, curve.upper, curve.prox(-7.0, 3.0), curve.cost(2.0)) == (2.0, 2.0, 2.0, 300.0)
    assert curve.cost(1.9) == float("inf")
    with pytest.raises(ValueError, match="mark"):
        HedgeTarget(1.0, 0.0)


@pytest.mark.parametrize(("n", "seed"), [(5, 7), (10, 8)])
def test_a_leg_out_is_hedged_by_the_next_session_and_the_region_ends_flat(
    tmp_path: Path, n: int, seed: int
) -> None:
    region = InProcessRegion(tmp_path, n, seed, kinds=DEFAULT_KINDS, latency_ms=LATENCY_MS)
    audit = Recorder()
    region.driver.audit = audit
    region.execute = False
    try:
        first = region.session("s1")
        assert first.committed
        victim_plan = next(p for p in region.plans if p.delta.venue_id.startswith("order_book"))
        victim = victim_plan.delta.venue_id
        for plan in list(region.plans):
            assert region.runtimes[plan.delta.venue_id].execute(plan) is None  # in flight
        asset = _run_away(region, victim_plan)
        outcomes = _settle(region)
        status = {o.venue_id: o.status for o in outcomes}
        assert status[victim] is ExecutionStatus.LEG_OUT, status
        naked = _net(outcomes)
        assert naked.get(asset, Decimal(0)) != 0, "the leg-out left nothing to hedge"
        debt = region.runtimes[victim].hedge_targets()
        assert asset in debt

        region.execute = True
        second = region.session("s2")
        outcomes += region.outcomes + _settle(region)
        assert second.hedging == (victim,)
        assert second.committed, second
        net = _net(outcomes)
        lots = {
            a: max(
                ag.config.instruments[a].lot_size
                for ag in region.agents.values()
                if a in ag.config.instruments
            )
            for a in net
        }
        print(
            f"{n} venues: {victim} legged out, region held {naked}; hedge session {second.session_id} "
            f"(profit {second.profit:.4f} vs mark) left net {net}"
        )
        for a, q in net.items():
            assert abs(q) <= lots[a], (a, q, lots[a])
        # The hedge took the residual over, durably: the victim brings nothing more.
        assert region.runtimes[victim].hedge_targets() == {}
        assert {r.state for r in region.runtimes[victim].store.residuals(state=None)} == {"taken"}
        victim_legs = [leg for p in region.plans if p.delta.venue_id == victim for leg in p.delta.legs]
        assert all(leg.asset != asset for leg in victim_legs)
        kinds = [
            (k, p.get("hedge") or p.get("venues"))
            for k, _, p in audit.entries
            if k in ("session_start", "hedge")
        ]
        assert ("hedge", [victim]) in kinds and ("session_start", [victim]) in kinds
        # The next session is an ordinary one again.
        third = region.session("s3")
        assert third.hedging == ()
    finally:
        region.close()
