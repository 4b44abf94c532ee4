"""Build a region of edge agents from a seeded scenario: the demo's and the benchmarks' default market.

Each venue's agent gets only its own venue's curves; the reference prices it publishes are the common
public mids. The same builders serve the in-process simulation and the multi-process demo (where each
agent process builds only its own venue from the same seed).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import numpy as np

from agents.agent import EdgeAgent, InstrumentSpec, VenueConfig
from coordinator.session import VenueInfo
from sdk.scenarios import DEFAULT_KINDS, Scenario, VenueScenario, generate_scenario


def _decimal(value: float) -> Decimal:
    return Decimal(repr(value)).normalize()


def tick_for(mid: float) -> Decimal:
    return Decimal("0.01") if mid >= 1 else Decimal("0.0001")


def agent_for(scenario: Scenario, venue_id: str, *, latency_budget_ms: int | None = None) -> EdgeAgent:
    venue: VenueScenario = scenario.venues[venue_id]
    instruments = {
        asset: InstrumentSpec(
            symbol=f"{asset}-USD",
            lot_size=_decimal(venue.lot_sizes[asset]),
            tick_size=tick_for(scenario.mids[asset]),
            min_notional=_decimal(venue.min_notional.get(asset, 0.0)),
        )
        for asset in venue.curves
    }
    budget = latency_budget_ms if latency_budget_ms is not None else max(1, int(venue.latency_budget_ms))
    agent = EdgeAgent(VenueConfig(venue_id, instruments, latency_budget_ms=budget), venue.curves)
    agent.reference_prices = {a: scenario.mids[a] for a in venue.curves}
    return agent


def venue_info(agent: EdgeAgent, scenario: Scenario) -> VenueInfo:
    return VenueInfo(
        venue_id=agent.venue_id,
        lot_sizes=agent.lot_sizes(),
        reference_prices={a: scenario.mids[a] for a in agent.assets},
        latency_budget_ms=agent.config.latency_budget_ms,
    )


def ticked_mids(mids: dict[str, float], seed: int, tick: int, bps: float) -> dict[str, float]:
    """Common mids after ``tick`` steps of a seeded random walk of ``bps`` per step (correlated across
    venues: every agent derives the same path from the seed, as from a shared public price feed)."""
    if tick == 0 or bps == 0:
        return dict(mids)
    rng = np.random.default_rng([seed, 0x71C, tick])
    moves = rng.normal(0.0, bps * 1e-4, size=len(mids))
    return {a: m * (1.0 + float(d)) for (a, m), d in zip(sorted(mids.items()), moves, strict=True)}


def build_region(
    n_venues: int, seed: int, *, kinds: Sequence[str] = DEFAULT_KINDS, latency_budget_ms: int | None = None
) -> tuple[Scenario, dict[str, EdgeAgent], dict[str, VenueInfo]]:
    scenario = generate_scenario(n_venues, seed, kinds=kinds)
    agents = {v: agent_for(scenario, v, latency_budget_ms=latency_budget_ms) for v in scenario.venues}
    infos = {v: venue_info(a, scenario) for v, a in agents.items()}
    return scenario, agents, infos
