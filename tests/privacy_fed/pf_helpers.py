"""Shared pieces of the private-federation tests: regions with privacy, a refusal-aware in-process link."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal

import numpy as np

from agents.agent import CommittedPlan, EdgeAgent
from agents.participant import ParticipantError
from agents.privacy import PrivacyAccountant, PrivacyPolicy
from agents.private_release import AgentPrivacy, SessionPrivacy, notional_resolution
from arbsphere.inprocess import InProcessLink
from arbsphere.simulation import build_region
from coordinator.session import Gathered
from energibridge.protocol.messages import RoundBroadcast
from energibridge.protocol.venue import VenueInfo
from sdk.scenarios import Scenario

NOW_MS = 1_750_000_000_000
DELTA = 1e-6


def fixed_clock() -> int:
    return NOW_MS


class RefusalAwareLink(InProcessLink):
    """The in-process transport, treating an agent's refusal as "not responding", as the gRPC link does
    (the agent's ``ErrorReply`` leaves it out of the round's aggregate)."""

    def __init__(self, agents: Mapping[str, EdgeAgent], *, secure: bool = True) -> None:
        super().__init__(agents, secure=secure)
        self.refusals: list[tuple[int, str, str]] = []

    def gather(self, broadcast: RoundBroadcast, members: Sequence[str]) -> Gathered:
        vectors = {}
        for venue in members:
            if venue in self.unresponsive:
                continue
            try:
                vectors[venue] = self.agents[venue].answer_round(broadcast)
            except ParticipantError as exc:
                self.refusals.append((broadcast.round_id, venue, str(exc)))
        return self._sum(vectors, members)


def private_region(
    n: int,
    seed: int,
    *,
    epsilon: float,
    resolution_usd: float | None = 1_000.0,
    max_releases: int = 8,
    window_rho: float | None = None,
) -> tuple[Scenario, dict[str, EdgeAgent], dict[str, VenueInfo]]:
    """A seeded region whose every agent releases under ``epsilon`` per session (``resolution_usd`` of
    each asset; None = full-range protection); each window holds ``window_rho`` (default: 4 sessions)."""
    scenario, agents, infos = build_region(n, seed, latency_budget_ms=600_000)
    for venue, agent in agents.items():
        resolution = (
            {} if resolution_usd is None else notional_resolution(resolution_usd, agent.reference_prices)
        )
        session = SessionPrivacy.for_epsilon(epsilon, DELTA, max_releases=max_releases, resolution=resolution)
        window = 4 * session.zcdp_rho if window_rho is None else window_rho
        accountant = PrivacyAccountant(venue, PrivacyPolicy(window, 3600, delta=DELTA), clock=fixed_clock)
        agent.privacy = AgentPrivacy(accountant, session)
    return scenario, agents, infos


def committed_plans(link: InProcessLink) -> dict[str, CommittedPlan]:
    plans = {}
    for venue, plan in link.committed.items():
        assert isinstance(plan, CommittedPlan)
        plans[venue] = plan
    return plans


def assert_balanced_within_budgets(link: InProcessLink, agents: Mapping[str, EdgeAgent]) -> None:
    """Every asset nets to exactly 0 over the committed plans; every trade is on the lot grid and
    inside its venue's box."""
    net: dict[str, Decimal] = {}
    for venue, plan in committed_plans(link).items():
        for asset, quantity in plan.trades.items():
            net[asset] = net.get(asset, Decimal(0)) + quantity
            curve = agents[venue].curves[asset]
            assert curve.lower - 1e-9 <= float(quantity) <= curve.upper + 1e-9, (venue, asset, quantity)
            assert quantity % agents[venue].config.instruments[asset].lot_size == 0, (venue, asset)
    assert all(value == 0 for value in net.values()), net


def realised_profit(link: InProcessLink) -> float:
    return -float(np.sum([plan.cost for plan in committed_plans(link).values()]))
