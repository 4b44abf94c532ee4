"""The demo's order-book feed: books from the seeded market simulator, through the live-feed path.

For a seeded scenario, every asset gets one ``MarketSimulator`` quoting it on every order-book venue (one
common mid walk, each venue's own mean-reverting noise, injected mispricings). Each agent process runs the
same simulators from the same seed, as if reading a shared public feed, and applies only its own venue's
events: snapshot and absolute-level updates go through a ``BookMaintainer`` (value and crossed-book checks)
into ``L2Book``s, and the venue's cost curves come from a ``CurveCache``, exactly as live cryptofeed books
do. Fees, book usage, lot size and budget box stay the scenario's. Before the first session the simulators
run until a mispricing is active, so the federation has an arbitrage to find; each later tick is one step.
The launcher rebuilds the same curves from the seed to compute the centralised optimum.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from agents.feeds.curve_cache import CurveCache
from agents.feeds.maintainer import BookMaintainer
from agents.feeds.simulator import MarketSimulator, SimConfig, VenueProfile
from sdk.adapters.events import BookSnapshot, BookUpdate, FeedEvent, Level
from sdk.curves.order_book import OrderBookCurve
from sdk.scenarios import Scenario

BOOK_KIND = "order_book"
DEPTH = 25
LEVEL_QUOTE = 25_000.0
"""Quote value of a level at the touch."""
MISPRICING_BPS = 40.0
MAX_WARMUP_STEPS = 5_000


def book_venues(scenario: Scenario) -> list[str]:
    """Venues whose books come from the simulator (perps keep the scenario's: funding is scenario data)."""
    return sorted(v for v, s in scenario.venues.items() if s.kind == BOOK_KIND)


def _grid(mid: float) -> float:
    """A price grid of about 0.1 bp, a power of ten (0.1 for 60k, 0.01 for 3k, 0.001 for 150)."""
    return float(10.0 ** math.floor(math.log10(mid * 1e-5)))


def _half_spread_bps(curve: OrderBookCurve) -> float:
    mid = curve.mid
    if mid is None:
        return 2.0
    return max(0.5, (curve.asks[0][0] - curve.bids[0][0]) / 2.0 / mid * 1e4)


def simulator_for(scenario: Scenario, asset: str, seed: int) -> MarketSimulator:
    """The seeded simulator of ``asset`` across the scenario's order-book venues."""
    mid = scenario.mids[asset]
    profiles = []
    for venue in book_venues(scenario):
        curve = scenario.venues[venue].curves[asset]
        assert isinstance(curve, OrderBookCurve)
        profiles.append(
            VenueProfile(
                venue,
                symbol=f"{asset}-USD",
                half_spread_bps=_half_spread_bps(curve),
                levels=DEPTH,
                tick=_grid(mid),
                level_size=LEVEL_QUOTE / mid,
            )
        )
    index = sorted(scenario.mids).index(asset)
    return MarketSimulator(
        SimConfig(
            seed=seed * 1_000 + index,
            venues=tuple(profiles),
            start_mid=mid,
            mispricing_prob=0.02,
            mispricing_bps=MISPRICING_BPS,
            mispricing_steps=50,
        )
    )


def _builder(template: OrderBookCurve) -> Callable[[list[Level], list[Level]], OrderBookCurve]:
    def build(bids: list[Level], asks: list[Level]) -> OrderBookCurve:
        return OrderBookCurve(
            bids,
            asks,
            taker_fee_bps=template.fee * 1e4,
            book_usage=template.book_usage,
            lot_size=template.lot_size,
            min_notional=template.min_notional,
            max_buy=template.upper,
            max_sell=-template.lower,
        )

    return build


class SimulatedBookFeed:
    """One order-book venue's books and curves, fed by the seeded simulators."""

    def __init__(self, scenario: Scenario, venue: str, seed: int) -> None:
        spec = scenario.venues.get(venue)
        if spec is None or spec.kind != BOOK_KIND:
            raise ValueError(f"venue {venue!r} is not an order-book venue of the scenario")
        self.venue = venue
        self.assets = tuple(sorted(spec.curves))
        self.symbols = {f"{a}-USD": a for a in self.assets}
        self.maintainer = BookMaintainer(venue)
        self.simulators = [simulator_for(scenario, a, seed) for a in self.assets]
        self.caches: dict[str, CurveCache[OrderBookCurve]] = {}
        for asset in self.assets:
            template = spec.curves[asset]
            assert isinstance(template, OrderBookCurve)
            self.caches[asset] = CurveCache(self.maintainer.book, _builder(template), depth=DEPTH)
        self.steps = 0
        for simulator in self.simulators:
            self._apply(simulator.snapshots())
        while not self.mispriced() and self.steps < MAX_WARMUP_STEPS:
            self.step()

    def mispriced(self) -> bool:
        """Whether an injected mispricing is active on any asset now (the same answer in every process)."""
        return any(
            m.start_step <= s.step_index < m.end_step for s in self.simulators for m in s.mispricings[-1:]
        )

    def step(self) -> None:
        """One tick of the feed: every simulator advances; this venue's updates reach its books."""
        for simulator in self.simulators:
            self._apply(simulator.step())
        self.steps += 1

    def _apply(self, events: Sequence[FeedEvent]) -> None:
        for event in events:
            if event.venue != self.venue:
                continue
            if isinstance(event, BookSnapshot):
                self.maintainer.snapshot(event.symbol, event.bids, event.asks, event.receipt_ts)
            elif isinstance(event, BookUpdate):
                self.maintainer.update(event.symbol, event.bids, event.asks, event.receipt_ts)
        for event in self.maintainer.drain():
            asset = self.symbols.get(getattr(event, "symbol", ""))
            if asset is not None:
                self.caches[asset].observe((event,))

    def curves(self) -> dict[str, OrderBookCurve]:
        """The venue's current cost curves (rebuilt only where the watched levels changed)."""
        out = {}
        for asset, cache in self.caches.items():
            curve = cache.curve(f"{asset}-USD")
            if curve is None:
                raise RuntimeError(f"{self.venue}: the {asset}-USD book is void (awaiting a snapshot)")
            out[asset] = curve
        return out

    def mids(self) -> dict[str, float]:
        """The venue's displayed mids (public quotes)."""
        out = {}
        for asset in self.assets:
            book = self.maintainer.book(f"{asset}-USD")
            mid = book.mid() if book is not None else None
            if mid is not None:
                out[asset] = mid
        return out
