"""Helpers of the agent-side crash-only tests: plans built by the agent's own code, in-process regions."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from pathlib import Path

import numpy as np

from agents.agent import CommittedPlan, EdgeAgent
from agents.execution.clock import VirtualTime
from agents.market.simulated import agent_for, starting_inventory
from agents.risk.limits import RiskLimits
from agents.runtime import AgentRuntime, PlanOutcome
from arbsphere.simulation import venue_info
from coordinator.session import SessionDriver, SessionResult
from sdk.scenarios import generate_scenario
from tests.loop.loop_helpers import TimedLink

START_MS = 1_800_000_000_000


def commit_trades(
    agent: EdgeAgent,
    trades: Mapping[str, Decimal],
    *,
    session_id: str,
    sequence: int,
    now_ms: int,
    prices: Mapping[str, float] | None = None,
) -> CommittedPlan | None:
    """The plan the agent itself commits for ``trades`` (lot multiples): its own legs, limit prices,
    idempotency keys and delta-sync state, as after a session whose rounding ended on ``trades``.

    The session's rounding result is the agent's private ``_adjusted`` map; setting it here stands in for
    the rounds (any plan a session could end on is such a map, within the agent's box).
    """
    assets = sorted(agent.curves)
    agent.start_session(session_id, assets, secure=False)
    agent._adjusted = dict(trades)  # the rounding phase's outcome (docstring)
    session = agent._session
    assert session is not None
    if prices is not None:
        session.prices = np.array([prices.get(a, float("nan")) for a in assets])
    return agent.commit(session_id, sequence, now_ms)


class InProcessRegion:
    """A seeded region in one process: real agents, real federated sessions, one runtime per venue."""

    def __init__(
        self,
        root: Path,
        n_venues: int,
        seed: int,
        *,
        kinds: Sequence[str],
        mispricing_bps: float = 25.0,
        limits: Callable[[str], RiskLimits] | None = None,
        latency_ms: int = 0,
    ) -> None:
        self.time = VirtualTime(START_MS)
        self.scenario = generate_scenario(n_venues, seed, kinds=kinds, mispricing_bps=mispricing_bps)
        self.agents = {
            v: agent_for(self.scenario, v, latency_budget_ms=600_000) for v in self.scenario.venues
        }
        self.start = {v: starting_inventory(self.scenario, v) for v in self.agents}
        self.runtimes = {
            v: AgentRuntime(
                a,
                root / v,
                inventory=self.start[v],
                scheduler=self.time,
                limits=limits(v) if limits is not None else None,
                latency_ms=latency_ms,
            )
            for v, a in self.agents.items()
        }
        self.outcomes: list[PlanOutcome] = []
        self.plans: list[CommittedPlan] = []
        self.execute = True

        def on_plan(plan: CommittedPlan) -> None:
            self.plans.append(plan)
            if self.execute:
                outcome = self.runtimes[plan.delta.venue_id].execute(plan)
                if outcome is not None:
                    self.outcomes.append(outcome)

        self.link = TimedLink(self.agents, self.time.now_ms, on_plan)
        infos = {v: venue_info(a, self.scenario) for v, a in self.agents.items()}
        self.driver = SessionDriver(self.link, infos)

    def session(self, session_id: str, *, constrain: bool = True) -> SessionResult:
        """One session: each runtime bounds its agent first (unless told not to), then the rounds."""
        for runtime in self.runtimes.values():
            runtime.market_moved()
            if constrain:
                runtime.constrain()
        self.plans.clear()
        self.outcomes.clear()
        return self.driver.run(session_id)

    def net(self) -> dict[str, Decimal]:
        """The region's net position per asset from this session's fills (0 when hedged)."""
        out: dict[str, Decimal] = {}
        for outcome in self.outcomes:
            for fill in outcome.fills:
                out[fill.asset] = out.get(fill.asset, Decimal(0)) + fill.signed_size
        return out

    def close(self) -> None:
        for runtime in self.runtimes.values():
            runtime.close()
