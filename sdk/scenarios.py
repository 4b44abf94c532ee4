"""Seeded synthetic markets for tests, simulations and benchmarks: N venues of mixed kinds around common mids.

``generate_scenario(n_venues, seed)`` is deterministic in ``(seed, venue index)``: venue ``i`` is the same
market whatever ``n_venues`` is, so scenarios of different sizes nest. Every venue quotes each asset around
the common mid shifted by a seeded mispricing (normal, ``mispricing_bps`` standard deviation), with its own
depth, fees, liquidity budget, lot sizes and latency budget. numpy's generator is fine here: these are
simulations, not secrets.

Kinds (venue ``i`` gets ``kinds[i % len(kinds)]``):

- ``order_book``: 50 levels a side, 0.5-3 bps half-spread, 1-10 bps taker fee, 30% book usage;
- ``cpmm``: a Uniswap-v2-style pool per asset (5 or 30 bps fee);
- ``clmm``: a concentrated-liquidity pool per asset, 4-8 positions around the price (5 or 30 bps tier);
- ``perp``: an order book plus hourly funding over an 8 h horizon and a margin box;
- ``prediction`` (opt-in): the outcome shares of one three-outcome event on a cent grid with the Kalshi fee
  (these venues trade the outcomes, not the spot assets).

Consumers: ``scenario.curves()`` gives ``{venue_id: {asset: CostCurve}}`` with only the assets each venue
trades; ``scenario.dense_curves()`` fills the rest with a no-trade curve (``lower = upper = 0``) so every
venue has every asset. Per-asset boxes are ``budget_quote / (n_assets * mid)`` base units each way, so a
venue's whole plan never exceeds its notional budget and the exchange problem stays separable per asset.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from sdk.curves.base import CostCurve, CurveInputError
from sdk.curves.clmm import ConcentratedLiquidityCurve
from sdk.curves.cpmm import ConstantProductCurve
from sdk.curves.order_book import OrderBookCurve
from sdk.curves.perp import PerpetualCurve
from sdk.curves.piecewise import PiecewiseLinearCurve
from sdk.curves.prediction import PredictionMarketCurve

KINDS = ("order_book", "cpmm", "clmm", "perp", "prediction")
DEFAULT_KINDS = ("order_book", "cpmm", "clmm", "perp")
DEFAULT_MIDS: Mapping[str, float] = {"BTC": 60_000.0, "ETH": 3_000.0, "SOL": 150.0}
CEX_LOT_SIZES: Mapping[str, float] = {"BTC": 1e-5, "ETH": 1e-4, "SOL": 1e-2}
EVENT_OUTCOMES = ("EVT-A", "EVT-B", "EVT-C")
NO_TRADE: CostCurve = PiecewiseLinearCurve([0.0], [])
_EVENT_STREAM = 2**32 - 1  # seed-sequence key of the shared event probabilities


@dataclass(frozen=True, slots=True)
class VenueScenario:
    """One venue's private market: a curve per traded asset plus its execution metadata."""

    venue_id: str
    kind: str
    curves: dict[str, CostCurve]
    lot_sizes: dict[str, float]
    min_notional: dict[str, float]
    latency_budget_ms: float
    budget_quote: float
    mid_offsets_bps: dict[str, float]


@dataclass(frozen=True, slots=True)
class Scenario:
    """A whole synthetic region: common mids and the venues around them."""

    seed: int
    assets: tuple[str, ...]
    mids: dict[str, float]
    venues: dict[str, VenueScenario]

    def curves(self) -> dict[str, dict[str, CostCurve]]:
        """``{venue_id: {asset: curve}}`` for the assets each venue trades."""
        return {v: dict(s.curves) for v, s in self.venues.items()}

    def dense_curves(self) -> dict[str, dict[str, CostCurve]]:
        """Every venue with every asset, untraded ones as the no-trade curve (``x`` fixed at 0)."""
        return {v: {a: s.curves.get(a, NO_TRADE) for a in self.assets} for v, s in self.venues.items()}

    def lot_sizes(self) -> dict[str, dict[str, float]]:
        return {v: dict(s.lot_sizes) for v, s in self.venues.items()}

    def latency_budgets(self) -> dict[str, float]:
        """Milliseconds each venue allows for a local step plus execution."""
        return {v: s.latency_budget_ms for v, s in self.venues.items()}

    def budgets(self) -> dict[str, float]:
        """Notional budget per venue in quote."""
        return {v: s.budget_quote for v, s in self.venues.items()}


def generate_scenario(
    n_venues: int,
    seed: int,
    *,
    kinds: Sequence[str] = DEFAULT_KINDS,
    assets: Sequence[str] | None = None,
    mids: Mapping[str, float] | None = None,
    mispricing_bps: float = 25.0,
    book_levels: int = 50,
) -> Scenario:
    """Deterministic scenario of ``n_venues`` venues for ``seed`` (see the module docstring for the model)."""
    if isinstance(n_venues, bool) or not isinstance(n_venues, int) or n_venues < 1:
        raise CurveInputError(f"n_venues must be an int >= 1, got {n_venues!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise CurveInputError(f"seed must be an int >= 0, got {seed!r}")
    kinds = tuple(kinds)
    if not kinds or any(k not in KINDS for k in kinds):
        raise CurveInputError(f"kinds must be a non-empty subset of {KINDS}, got {kinds!r}")
    mids = dict(DEFAULT_MIDS if mids is None else mids)
    spot_assets = tuple(mids) if assets is None else tuple(assets)
    for a in spot_assets:
        m = mids.get(a)
        if m is None or not math.isfinite(m) or m <= 0.0:
            raise CurveInputError(f"mids[{a!r}] must be a finite price > 0, got {m!r}")
    if not math.isfinite(mispricing_bps) or mispricing_bps < 0.0:
        raise CurveInputError(f"mispricing_bps must be finite and >= 0, got {mispricing_bps!r}")
    if isinstance(book_levels, bool) or not isinstance(book_levels, int) or book_levels < 1:
        raise CurveInputError(f"book_levels must be an int >= 1, got {book_levels!r}")
    all_assets = spot_assets
    event_probs: dict[str, float] = {}
    if "prediction" in kinds:
        probs = np.random.default_rng([seed, _EVENT_STREAM]).dirichlet([4.0] * len(EVENT_OUTCOMES))
        event_probs = {o: float(np.clip(p, 0.05, 0.9)) for o, p in zip(EVENT_OUTCOMES, probs, strict=True)}
        all_assets = spot_assets + EVENT_OUTCOMES
    venues: dict[str, VenueScenario] = {}
    for i in range(n_venues):
        kind = kinds[i % len(kinds)]
        rng = np.random.default_rng([seed, i])
        venue_id = f"{kind}-{i:04d}"
        if kind == "prediction":
            venues[venue_id] = _prediction_venue(venue_id, rng, event_probs, mispricing_bps)
        else:
            venues[venue_id] = _spot_venue(
                venue_id,
                kind,
                rng,
                assets=spot_assets,
                mids=mids,
                mispricing_bps=mispricing_bps,
                levels=book_levels,
            )
    return Scenario(seed, all_assets, {a: mids[a] for a in spot_assets} | event_probs, venues)


def _spot_venue(
    venue_id: str,
    kind: str,
    rng: np.random.Generator,
    *,
    assets: Sequence[str],
    mids: Mapping[str, float],
    mispricing_bps: float,
    levels: int,
) -> VenueScenario:
    budget = float(rng.uniform(2e5, 2e6))
    latency = float(
        rng.uniform(20.0, 100.0) if kind in ("order_book", "perp") else rng.uniform(400.0, 2000.0)
    )
    fee_bps = float(rng.choice([1.0, 2.0, 5.0, 10.0]))
    curves: dict[str, CostCurve] = {}
    lots: dict[str, float] = {}
    min_notional: dict[str, float] = {}
    offsets: dict[str, float] = {}
    for asset in assets:
        offset = float(rng.normal(0.0, mispricing_bps))
        mid = mids[asset] * (1.0 + offset / 1e4)
        box = budget / (len(assets) * mids[asset])
        offsets[asset] = offset
        if kind in ("order_book", "perp"):
            lots[asset] = CEX_LOT_SIZES.get(asset, 1e-4)
            min_notional[asset] = 10.0
            book = _book(rng, mid, levels=levels, fee_bps=fee_bps, box=box, lot=lots[asset])
            if kind == "perp":
                leverage = float(rng.choice([3.0, 5.0, 10.0]))
                curves[asset] = PerpetualCurve(
                    book,
                    mark_price=mid,
                    funding_rate_per_hour=float(rng.normal(0.0, 1.5e-5)),
                    horizon_hours=8.0,
                    margin=box * mid / leverage,
                    max_leverage=leverage,
                )
            else:
                curves[asset] = book
        elif kind == "cpmm":
            lots[asset] = 1e-8
            min_notional[asset] = 0.0
            tvl = float(rng.lognormal(math.log(5e6), 0.5))
            fee = float(rng.choice([0.0005, 0.003]))
            curves[asset] = ConstantProductCurve(
                tvl / 2.0 / mid, tvl / 2.0, fee=fee, max_buy=min(box, 0.5 * tvl / 2.0 / mid), max_sell=box
            )
        else:
            lots[asset] = 1e-8
            min_notional[asset] = 0.0
            curves[asset] = _clmm(rng, mid, box)
    return VenueScenario(venue_id, kind, curves, lots, min_notional, latency, budget, offsets)


def _book(
    rng: np.random.Generator, mid: float, *, levels: int, fee_bps: float, box: float, lot: float
) -> OrderBookCurve:
    half_spread = float(rng.uniform(0.5, 3.0))
    step = rng.uniform(0.5, 2.0, size=levels)
    depth_quote = float(rng.lognormal(math.log(2e6), 0.5))
    offsets_bps = half_spread + np.concatenate(([0.0], np.cumsum(step[:-1])))
    sizes_ask = depth_quote / levels / mid * rng.lognormal(0.0, 0.5, size=levels)
    sizes_bid = depth_quote / levels / mid * rng.lognormal(0.0, 0.5, size=levels)
    asks = [(mid * (1.0 + o / 1e4), float(q)) for o, q in zip(offsets_bps, sizes_ask, strict=True)]
    bids = [(mid * (1.0 - o / 1e4), float(q)) for o, q in zip(offsets_bps, sizes_bid, strict=True)]
    return OrderBookCurve(
        bids, asks, taker_fee_bps=fee_bps, lot_size=lot, min_notional=10.0, max_buy=box, max_sell=box
    )


def _clmm(rng: np.random.Generator, mid: float, box: float) -> ConcentratedLiquidityCurve:
    fee, spacing = ((0.0005, 10), (0.003, 60))[int(rng.integers(0, 2))]
    s0 = math.sqrt(mid)
    current = math.log(mid) / math.log(1.0001)
    nets: dict[int, float] = {}
    active = 0.0
    for _ in range(int(rng.integers(4, 9))):
        lo = math.floor((current - spacing * int(rng.integers(1, 200))) / spacing) * spacing
        hi = math.ceil((current + spacing * int(rng.integers(1, 200))) / spacing) * spacing
        sa, sb = 1.0001 ** (lo / 2.0), 1.0001 ** (hi / 2.0)
        liquidity = float(rng.lognormal(math.log(1e6), 0.7)) / (sb - sa)
        nets[lo] = nets.get(lo, 0.0) + liquidity
        nets[hi] = nets.get(hi, 0.0) - liquidity
        if sa <= s0 < sb:
            active += liquidity
    ticks = sorted(nets.items())
    return ConcentratedLiquidityCurve(
        s0, active, ticks, fee=fee, tick_spacing=spacing, max_buy=box, max_sell=box
    )


def _prediction_venue(
    venue_id: str, rng: np.random.Generator, probs: Mapping[str, float], mispricing_bps: float
) -> VenueScenario:
    budget = float(rng.uniform(2e4, 2e5))
    curves: dict[str, CostCurve] = {}
    offsets: dict[str, float] = {}
    for outcome, prob in probs.items():
        shift = float(rng.normal(0.0, mispricing_bps / 1e4 * 4.0))  # ~1 cent for 25 bps
        fair = min(max(prob + shift, 0.03), 0.97)
        offsets[outcome] = shift * 1e4
        best_ask = math.ceil(fair * 100.0 + 0.5) / 100.0
        best_bid = math.floor(fair * 100.0 - 0.5) / 100.0
        asks = [
            (round(best_ask + k / 100.0, 2), float(rng.lognormal(math.log(500.0), 0.6))) for k in range(10)
        ]
        bids = [
            (round(best_bid - k / 100.0, 2), float(rng.lognormal(math.log(500.0), 0.6))) for k in range(10)
        ]
        asks = [(p, q) for p, q in asks if p < 1.0]
        bids = [(p, q) for p, q in bids if p > 0.0]
        box = budget / len(probs)
        curves[outcome] = PredictionMarketCurve(bids, asks, max_buy=box, max_sell=box)
    latency = float(rng.uniform(100.0, 500.0))
    lots = dict.fromkeys(probs, 1.0)
    return VenueScenario(
        venue_id, "prediction", curves, lots, dict.fromkeys(probs, 0.0), latency, budget, offsets
    )
