"""Build a region of edge agents from a seeded scenario: the demo's and the benchmarks' default market.

Each venue's agent gets only its own venue's curves; the reference prices it publishes are the common
public mids. The same builders serve the in-process simulation and the multi-process demo (where each
agent process builds only its own venue from the same seed).
"""

from __future__ import annotations

from collections.abc import Sequence

from agents.agent import EdgeAgent
from agents.market.simulated import agent_for
from energibridge.protocol.venue import VenueInfo
from sdk.scenarios import DEFAULT_KINDS, Scenario, generate_scenario


def venue_info(agent: EdgeAgent, scenario: Scenario) -> VenueInfo:
    return VenueInfo(
        venue_id=agent.venue_id,
        lot_sizes=agent.lot_sizes(),
        reference_prices={a: scenario.mids[a] for a in agent.assets},
        latency_budget_ms=agent.config.latency_budget_ms,
    )


def build_region(
    n_venues: int, seed: int, *, kinds: Sequence[str] = DEFAULT_KINDS, latency_budget_ms: int | None = None
) -> tuple[Scenario, dict[str, EdgeAgent], dict[str, VenueInfo]]:
    scenario = generate_scenario(n_venues, seed, kinds=kinds)
    agents = {v: agent_for(scenario, v, latency_budget_ms=latency_budget_ms) for v in scenario.venues}
    infos = {v: venue_info(a, scenario) for v, a in agents.items()}
    return scenario, agents, infos
