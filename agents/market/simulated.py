"""The seeded synthetic market as a market source: the demo's venues and the benchmarks' default region.

``SimulatedMarket`` is one venue of a seeded scenario (``sdk.scenarios``): its curves come from the
scenario (static, or moved by a seeded common walk of ``tick_bps`` per session), or for order-book venues
from the seeded market simulator through ``L2Book`` and ``CurveCache`` (``book_feed = "simulator"``), exactly
as live books reach a live venue's curves. Each agent process derives the same market from the seed, as if
reading one public feed, and keeps only its own venue's curves.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import numpy as np

from agents.agent import EdgeAgent, InstrumentSpec, VenueConfig
from agents.market.simulated_books import BOOK_KIND, SimulatedBookFeed
from agents.market.source import FeedHealth, MarketView, TickObserver
from sdk.curves.base import CostCurve
from sdk.scenarios import Scenario, VenueScenario, generate_scenario


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


def ticked_mids(mids: dict[str, float], seed: int, tick: int, bps: float) -> dict[str, float]:
    """Common mids after ``tick`` steps of a seeded random walk of ``bps`` per step (correlated across
    venues: every agent derives the same path from the seed, as from a shared public price feed)."""
    if tick == 0 or bps == 0:
        return dict(mids)
    rng = np.random.default_rng([seed, 0x71C, tick])
    moves = rng.normal(0.0, bps * 1e-4, size=len(mids))
    return {a: m * (1.0 + float(d)) for (a, m), d in zip(sorted(mids.items()), moves, strict=True)}


def starting_inventory(scenario: Scenario, venue: str, quote: str = "USD") -> dict[str, Decimal]:
    """The synthetic venue's balances: its budget in quote, and as much of each asset as its box may sell."""
    spec = scenario.venues[venue]
    balances = {a: Decimal(repr(-curve.lower)) for a, curve in spec.curves.items()}
    balances[quote] = Decimal(repr(spec.budget_quote))
    return balances


class SimulatedMarket:
    """One venue of the seeded scenario, moving once per session."""

    def __init__(
        self,
        venue: str,
        *,
        venues: int,
        seed: int,
        kinds: tuple[str, ...],
        tick_bps: float = 0.0,
        book_feed: str = "scenario",
        latency_budget_ms: int | None = None,
    ) -> None:
        self.scenario = generate_scenario(venues, seed, kinds=kinds)
        if venue not in self.scenario.venues:
            raise ValueError(f"venue {venue!r} is not in the scenario {sorted(self.scenario.venues)}")
        if book_feed not in ("scenario", "simulator"):
            raise ValueError(f"book_feed must be 'scenario' or 'simulator', got {book_feed!r}")
        self.venue = venue
        self.seed = seed
        self.kinds = kinds
        self.venues = venues
        self.tick_bps = tick_bps
        self.latency_budget_ms = latency_budget_ms
        self.feed: SimulatedBookFeed | None = None
        if book_feed == "simulator" and self.scenario.venues[venue].kind == BOOK_KIND:
            self.feed = SimulatedBookFeed(self.scenario, venue, seed)
        self._mids = {a: self.scenario.mids[a] for a in self.scenario.venues[venue].curves}
        self._observer: TickObserver | None = None

    def set_observer(self, observer: TickObserver | None) -> None:
        """Each ``refresh`` is this market's feed update: it reports every asset's mid to ``observer``."""
        self._observer = observer

    def build_agent(self, venue_id: str | None = None) -> EdgeAgent:
        """The agent of the scenario venue this market plays, named ``venue_id`` (default: that venue)."""
        agent = agent_for(self.scenario, self.venue, latency_budget_ms=self.latency_budget_ms)
        if venue_id is not None and venue_id != self.venue:
            agent = EdgeAgent(replace(agent.config, venue_id=venue_id), agent.curves)
            agent.reference_prices = {a: self.scenario.mids[a] for a in agent.curves}
        return agent

    def inventory(self, quote: str = "USD") -> dict[str, Decimal]:
        return starting_inventory(self.scenario, self.venue, quote)

    def start(self) -> None:
        """Nothing to connect: the market is derived from the seed."""

    def refresh(self, index: int) -> MarketView:
        curves: dict[str, CostCurve] = {}
        if self.feed is not None:
            if index > 0:
                self.feed.step()
            curves.update(self.feed.curves())
            self._mids.update(self.feed.mids())
        elif self.tick_bps and index > 0:
            moved = generate_scenario(
                self.venues,
                self.seed,
                kinds=self.kinds,
                mids=ticked_mids(dict(self.scenario.mids), self.seed, index, self.tick_bps),
            )
            curves.update(moved.venues[self.venue].curves)
            self._mids.update({a: moved.mids[a] for a in self._mids})
        observer = self._observer
        if observer is not None:
            for asset, mid in sorted(self._mids.items()):
                observer(asset, mid)
        return MarketView(curves=curves, mids=dict(self._mids), paused={})

    def health(self) -> dict[str, FeedHealth]:
        """A seeded market moves once per session: always fresh, never reconnecting."""
        return {self.venue: FeedHealth(rate_per_s=0.0, staleness_ms=0.0, reconnects=0)}

    def close(self) -> None:
        """Nothing to release."""
