"""Seeded synthetic market: correlated mids across venues, injected mispricings, depth and latency.

The demo default. Every venue's mid follows one common random walk (geometric, in bps) plus its own
mean-reverting noise; now and then one venue is pushed off by ``mispricing_bps`` for a few steps, which is
the arbitrage the federation should find (recorded in ``MarketSimulator.mispricings`` as ground truth). Books
are ``levels`` deep on a price grid of ``tick``, sizes growing away from the touch. Output is the same
normalized events live venues produce (``BookSnapshot`` then absolute-level ``BookUpdate``s), with
``receipt_ts = exchange_ts + latency``. The same seed gives the same events, bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from sdk.adapters.events import BookSnapshot, BookUpdate, FeedEvent, Level


@dataclass(frozen=True)
class VenueProfile:
    venue: str
    symbol: str = "BTC-USD"
    half_spread_bps: float = 2.0
    noise_bps: float = 1.5
    """Std dev of the venue's own mean-reverting deviation from the common mid."""
    levels: int = 25
    tick: float = 1.0
    """Price grid between levels (quote units); 1.0 on a 60k mid is ~0.17 bp per level."""
    level_size: float = 0.5
    depth_growth: float = 0.15
    """Each level deeper holds ``(1 + depth_growth * i)`` times the touch size (before noise)."""
    latency_ms: float = 5.0
    """Median one-way feed latency; samples are lognormal around it."""

    def __post_init__(self) -> None:
        for name in ("half_spread_bps", "tick", "level_size", "latency_ms"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"VenueProfile.{name} must be finite and > 0, got {value!r}")
        for name in ("noise_bps", "depth_growth"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"VenueProfile.{name} must be finite and >= 0, got {value!r}")
        if not 1 <= self.levels <= 5000:
            raise ValueError(f"VenueProfile.levels must be in [1, 5000], got {self.levels!r}")


@dataclass(frozen=True)
class SimConfig:
    seed: int
    venues: tuple[VenueProfile, ...] = (
        VenueProfile("sim-alpha"),
        VenueProfile("sim-beta", half_spread_bps=3.0, latency_ms=8.0),
        VenueProfile("sim-gamma", half_spread_bps=1.5, noise_bps=2.5, latency_ms=3.0),
    )
    start_mid: float = 60_000.0
    start_ts: float = 1_700_000_000.0
    step_s: float = 0.1
    vol_bps: float = 1.0
    """Std dev of the common walk per step."""
    reversion: float = 0.2
    """Fraction of each venue's deviation removed per step."""
    mispricing_prob: float = 0.01
    """Chance per step that a mispricing starts (one at a time)."""
    mispricing_bps: float = 15.0
    mispricing_steps: int = 20

    def __post_init__(self) -> None:
        if not self.venues:
            raise ValueError("SimConfig.venues must list at least one venue")
        if len({(v.venue, v.symbol) for v in self.venues}) != len(self.venues):
            raise ValueError("SimConfig.venues must not repeat a (venue, symbol) pair")
        for name in ("start_mid", "step_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"SimConfig.{name} must be finite and > 0, got {value!r}")
        for name in ("vol_bps", "mispricing_bps"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"SimConfig.{name} must be finite and >= 0, got {value!r}")
        if not 0.0 <= self.reversion <= 1.0:
            raise ValueError(f"SimConfig.reversion must be in [0, 1], got {self.reversion!r}")
        if not 0.0 <= self.mispricing_prob <= 1.0:
            raise ValueError(f"SimConfig.mispricing_prob must be in [0, 1], got {self.mispricing_prob!r}")
        if self.mispricing_steps < 1:
            raise ValueError(f"SimConfig.mispricing_steps must be >= 1, got {self.mispricing_steps!r}")


@dataclass(frozen=True)
class Mispricing:
    """Ground truth: ``venue`` was pushed ``offset_bps`` off the common mid for steps ``[start, end)``."""

    venue: str
    offset_bps: float
    start_step: int
    end_step: int


@dataclass
class _VenueState:
    profile: VenueProfile
    deviation_bps: float = 0.0
    bids: dict[float, float] = field(default_factory=dict)
    asks: dict[float, float] = field(default_factory=dict)


class MarketSimulator:
    """Deterministic given ``config.seed``; ``numpy`` randomness is fine here (nothing secret)."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self._rng = np.random.Generator(np.random.PCG64(config.seed))
        self._states = [_VenueState(v) for v in config.venues]
        self.step_index = 0
        self.common_mid = config.start_mid
        self.mispricings: list[Mispricing] = []
        self._active: Mispricing | None = None

    @property
    def now(self) -> float:
        return self.config.start_ts + self.step_index * self.config.step_s

    def venue_mid(self, venue: str) -> float:
        """The mid the venue quotes around at the current step (common mid x deviation x mispricing)."""
        for state in self._states:
            if state.profile.venue == venue:
                return self._mid(state)
        raise KeyError(f"unknown venue {venue!r}")

    def _offset_bps(self, venue: str) -> float:
        active = self._active
        if (
            active is not None
            and active.venue == venue
            and active.start_step <= self.step_index < active.end_step
        ):
            return active.offset_bps
        return 0.0

    def _mid(self, state: _VenueState) -> float:
        bps = state.deviation_bps + self._offset_bps(state.profile.venue)
        return self.common_mid * (1.0 + bps / 10_000.0)

    def _levels(self, state: _VenueState) -> tuple[dict[float, float], dict[float, float]]:
        p = state.profile
        mid = self._mid(state)
        half = mid * p.half_spread_bps / 10_000.0
        best_bid = math.floor((mid - half) / p.tick) * p.tick
        best_ask = math.ceil((mid + half) / p.tick) * p.tick
        if best_ask <= best_bid:
            best_ask = best_bid + p.tick
        noise = self._rng.uniform(0.6, 1.4, size=2 * p.levels)
        bids: dict[float, float] = {}
        asks: dict[float, float] = {}
        decimals = max(0, -math.floor(math.log10(p.tick)) + 2)
        for i in range(p.levels):
            size = p.level_size * (1.0 + p.depth_growth * i)
            bid_price = round(best_bid - i * p.tick, decimals)
            if bid_price > 0:
                bids[bid_price] = round(size * float(noise[2 * i]), 8)
            asks[round(best_ask + i * p.tick, decimals)] = round(size * float(noise[2 * i + 1]), 8)
        return bids, asks

    def _latency(self, state: _VenueState) -> float:
        return state.profile.latency_ms / 1000.0 * float(self._rng.lognormal(0.0, 0.25))

    def snapshots(self) -> list[BookSnapshot[float]]:
        """Full books of every venue at the current step (the first events, and every resync)."""
        out: list[BookSnapshot[float]] = []
        for state in self._states:
            if not state.bids:
                state.bids, state.asks = self._levels(state)
            receipt = self.now + self._latency(state)
            out.append(
                BookSnapshot(
                    state.profile.venue,
                    state.profile.symbol,
                    tuple(sorted(state.bids.items(), reverse=True)),
                    tuple(sorted(state.asks.items())),
                    receipt,
                    self.now,
                    self.step_index,
                )
            )
        return out

    def step(self) -> list[FeedEvent]:
        """Advance one step; the venues' book updates, ordered by receipt time."""
        cfg = self.config
        rng = self._rng
        self.step_index += 1
        self.common_mid *= 1.0 + float(rng.normal(0.0, cfg.vol_bps)) / 10_000.0
        self._maybe_mispricing()
        events: list[BookUpdate] = []
        for state in self._states:
            p = state.profile
            state.deviation_bps += -cfg.reversion * state.deviation_bps + float(rng.normal(0.0, p.noise_bps))
            bids, asks = self._levels(state)
            bid_changes = _diff(state.bids, bids)
            ask_changes = _diff(state.asks, asks)
            state.bids, state.asks = bids, asks
            receipt = self.now + self._latency(state)
            events.append(
                BookUpdate(
                    p.venue,
                    p.symbol,
                    tuple(sorted(bid_changes, reverse=True)),
                    tuple(sorted(ask_changes)),
                    receipt,
                    self.now,
                    self.step_index,
                )
            )
        events.sort(key=lambda e: e.receipt_ts)
        return list(events)

    def _maybe_mispricing(self) -> None:
        cfg = self.config
        if self._active is not None and self.step_index >= self._active.end_step:
            self._active = None
        draw = float(self._rng.uniform())
        if self._active is None and cfg.mispricing_bps > 0 and draw < cfg.mispricing_prob:
            index = int(self._rng.integers(len(self._states)))
            sign = 1.0 if float(self._rng.uniform()) < 0.5 else -1.0
            self._active = Mispricing(
                self._states[index].profile.venue,
                sign * cfg.mispricing_bps,
                self.step_index,
                self.step_index + cfg.mispricing_steps,
            )
            self.mispricings.append(self._active)

    def run(self, steps: int) -> Iterator[FeedEvent]:
        """Snapshots, then ``steps`` steps of updates."""
        if steps < 0:
            raise ValueError(f"steps must be >= 0, got {steps!r}")
        yield from self.snapshots()
        for _ in range(steps):
            yield from self.step()


def _diff(old: dict[float, float], new: dict[float, float]) -> list[Level]:
    changes: list[Level] = [(price, size) for price, size in new.items() if old.get(price) != size]
    changes.extend((price, 0.0) for price in old if price not in new)
    return changes
