"""Shared helpers of the loop tests: an in-process region whose commits carry a real (or virtual) clock,
and the capital-conservation check of one agent's execution store."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal

from agents.agent import CommittedPlan, EdgeAgent
from agents.persistence.store import ExecutionStore
from arbsphere.inprocess import InProcessLink
from coordinator.session import CommitAck


class TimedLink(InProcessLink):
    """``InProcessLink`` whose plan commits carry ``now_ms()`` (legs' deadlines lie in the future) and
    hand every committed plan to ``on_plan`` as the gRPC shell does."""

    def __init__(
        self,
        agents: Mapping[str, EdgeAgent],
        now_ms: Callable[[], int],
        on_plan: Callable[[CommittedPlan], None] | None = None,
        *,
        secure: bool = True,
    ) -> None:
        super().__init__(agents, secure=secure)
        self.now_ms = now_ms
        self.on_plan = on_plan
        self.plans: list[CommittedPlan] = []

    def commit(self, session_id: str, sequence: int, members: Sequence[str]) -> list[CommitAck]:
        acks = []
        for venue in members:
            plan = self.agents[venue].commit(session_id, sequence, now_ms=self.now_ms())
            if plan is None:
                continue
            self.committed[venue] = plan
            self.plans.append(plan)
            if self.on_plan is not None:
                self.on_plan(plan)
            acks.append(CommitAck(venue, plan.delta.sequence, plan.state_commitment, plan.plan_commitment))
        return acks


def conservation_gaps(
    store: ExecutionStore, start: Mapping[str, Decimal], quote: str = "USD"
) -> dict[str, Decimal]:
    """Per balance, what breaks ``cash + positions at cost == start + realised PnL`` (quote) and
    ``balance == start + position`` (each asset). All zero on a consistent store."""
    positions = {p.asset: p for p in store.positions()}
    inventory = {asset: amount for (_, asset), amount in store.inventory().items()}
    cash = inventory.get(quote, Decimal(0))
    cost = sum((p.cost for p in positions.values()), Decimal(0))
    realised = sum((p.realised for p in positions.values()), Decimal(0))
    gaps = {quote: cash + cost - (start.get(quote, Decimal(0)) + realised)}
    for asset, position in positions.items():
        gaps[asset] = inventory.get(asset, Decimal(0)) - (start.get(asset, Decimal(0)) + position.quantity)
    return gaps
