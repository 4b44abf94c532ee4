"""Backtest: ArbSphere's federated plans against the common two-venue bot, on the same replayed books.

This module is the harness (market frames, paper worlds, the baseline bot, ``run_backtest``); any
``Strategy`` plugs in. The federation itself (``EdgeAgent``s solved by the coordinator's ``SessionDriver``
over ``InProcessLink``) is ``arbsphere.federated.ArbSphereStrategy``, since it needs both the agents and the
coordinator.

What is real and what is synthetic (``RecordedMarket``)
-------------------------------------------------------
The shared recordings (``../shared/data/recordings/cryptofeed``) are real exchange messages, replayed here
through the live parsing path (``agents.feeds.replay``: cryptofeed sessions, ``BookMaintainer`` checks). They
were made on different days (Coinbase and Kraken 2021-04-17, five minutes apart; Gemini 2021-06-24; Binance
2021-10-12; Bitstamp 2022-01-05), each about 25-30 s long, and no instrument is recorded on two venues in
the same session (BAT-BTC is on Gemini and Bitstamp, seven months apart). So there is no real cross-venue
price relation to arbitrage, and this module does not pretend there is:

* **Real:** each venue's book for one USD/USDT-quoted instrument, its spread, its depth per level (in USD
  notional) and how it changes message by message, replayed on the recording's *own relative time* (seconds
  since its first record); the recordings are aligned on that relative time, not on wall-clock time.
* **Synthetic:** the price *level*. Every frame maps each venue's book onto one common instrument
  (``X-USD`` around ``reference_price``): prices are multiplied by ``scale`` and sizes divided by it, so
  each level's USD notional is preserved. ``anchor="tick"`` re-centres every frame on the book's own mid,
  so the cross-venue price relation comes only from a seeded ``MarketSimulator`` (``Dislocations``:
  mean-reverting per-venue noise plus injected mispricings, one at a time). ``anchor="start"`` fixes the
  scale at the first frame, so the recorded relative moves of the (unrelated) instruments are kept too.

Execution model
---------------
Each strategy trades in its own ``PaperWorld``: one ``PaperVenue`` per venue (IOC limit orders walk the
book up to their cap, taker fee per venue), a ``PlanRunner`` (leg-out hedging on the same books) and a
``Portfolio``. Orders execute against the frame's book with no latency. Liquidity a strategy took stays
gone in *its* world until the replay reports a new size for that level (or a new snapshot); there is no
other market-impact model, and nobody else reacts to our trades. There are no inventory or balance limits
(both strategies alike): selling on a venue does not require holding the asset there. Common-instrument
prices and sizes sit on fixed decimal grids (``PRICE_QUANTUM``, ``SIZE_QUANTUM``) so the paper accounting
is exact, and levels smaller than one lot are left out.

Fees: ``TAKER_FEE_BPS`` holds each venue's entry-tier taker fee from its public schedule in force when the
recording was made (see ``FEE_SOURCES``). A high-volume desk pays less; every fee is configurable.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from itertools import combinations
from pathlib import Path
from typing import Literal, Protocol

from agents.execution.accounting import Portfolio
from agents.execution.clock import VirtualTime
from agents.execution.events import InMemorySink
from agents.execution.legout import HedgeQuote, LegOutMonitor, LegOutPolicy
from agents.execution.paper import PaperConfig, PaperVenue
from agents.execution.plan import ExecLeg, ExecPlan
from agents.execution.runner import PlanRunner
from agents.feeds.curve_cache import DEFAULT_DEPTH
from agents.feeds.replay import LoadedRecording, ReplaySource, load_recording, start, step
from agents.feeds.simulator import MarketSimulator, SimConfig, VenueProfile
from agents.keys import derive_key
from agents.risk.market import MarketState
from sdk.adapters.events import BookSnapshot, BookUpdate, FeedEvent, Resync
from sdk.adapters.execution import ExecutionEvent, FillEvent, Side

Level = tuple[float, float]

ASSET = "X"
"""The common asset every venue's book is mapped onto."""
INSTRUMENT = f"{ASSET}-USD"
DEFAULT_LOT = Decimal("0.0001")
DEFAULT_TICK = Decimal("0.0001")
PRICE_QUANTUM = Decimal("1e-6")
"""Price grid of the common instrument (1e-8 of the 100 USD reference price)."""
SIZE_QUANTUM = Decimal("1e-8")
"""Size grid of the common instrument. Both grids keep every cash flow exact within Decimal's default
28 digits, which ``FillEvent.cash_flow`` and ``Portfolio`` compute in."""

TAKER_FEE_BPS: Mapping[str, float] = {
    "binance": 10.0,
    "bitstamp": 50.0,
    "coinbase": 50.0,
    "gemini": 35.0,
    "kraken": 26.0,
}
"""Entry-tier taker fee (bps) of each venue's public schedule when its recording was made."""

FEE_SOURCES: Mapping[str, str] = {
    "binance": "binance.com/en/fee/schedule, spot VIP 0: 0.100% taker (2021-10)",
    "bitstamp": "bitstamp.net/fee-schedule, 30-day volume < $20k: 0.50% (2022-01)",
    "coinbase": "Coinbase Pro fee structure, $0-10k tier: 0.50% taker (2021-04)",
    "gemini": "gemini.com/fees/activetrader-fee-schedule (2020-09-23), tier 0: 0.35% taker (2021-06)",
    "kraken": "kraken.com/features/fee-schedule, $0-50k tier: 0.26% taker (2021-04)",
}


class BacktestError(ValueError):
    """An invalid backtest input (names the field, what was expected and what arrived)."""


def check_finite(name: str, value: float, *, positive: bool = False, non_negative: bool = False) -> float:
    """``value`` as a float, or ``BacktestError`` naming ``name`` (not a finite number, or out of range)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise BacktestError(f"{name} must be a finite number, got {value!r}")
    if positive and value <= 0:
        raise BacktestError(f"{name} must be > 0, got {value!r}")
    if non_negative and value < 0:
        raise BacktestError(f"{name} must be >= 0, got {value!r}")
    return float(value)


def _positive_decimal(name: str, value: Decimal) -> Decimal:
    if not isinstance(value, Decimal) or not value.is_finite() or value <= 0:
        raise BacktestError(f"{name} must be a finite Decimal > 0, got {value!r}")
    return value


def _dec(value: float) -> Decimal:
    """The exact decimal every layer uses for a float price or size (books, curves and caps agree)."""
    return Decimal(repr(value))


# ---- market frames --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VenueFrame:
    """One venue's book at one tick, in the venue's own units, plus how to map it onto the common instrument.

    Common-instrument price = ``price * scale``, size = ``size / scale`` (USD notional per level kept).
    ``changed_bids``/``changed_asks`` are the prices the venue reported new sizes for since the previous
    frame, ``reset`` says a snapshot or resync replaced the book: liquidity a strategy took there is back.
    """

    bids: tuple[Level, ...]
    asks: tuple[Level, ...]
    scale: float = 1.0
    changed_bids: frozenset[float] = frozenset()
    changed_asks: frozenset[float] = frozenset()
    reset: bool = False

    def __post_init__(self) -> None:
        check_finite("VenueFrame.scale", self.scale, positive=True)
        for name, levels, descending in (("bids", self.bids, True), ("asks", self.asks, False)):
            previous: float | None = None
            for i, (price, size) in enumerate(levels):
                check_finite(f"VenueFrame.{name}[{i}].price", price, positive=True)
                check_finite(f"VenueFrame.{name}[{i}].size", size, positive=True)
                if previous is not None and (price >= previous if descending else price <= previous):
                    order = "descending" if descending else "ascending"
                    raise BacktestError(
                        f"VenueFrame.{name} must be strictly {order}, got {previous} then {price}"
                    )
                previous = price
        if not self.bids or not self.asks:
            raise BacktestError(
                f"VenueFrame needs both sides (a one-sided book is passed as None), got "
                f"{len(self.bids)} bids and {len(self.asks)} asks"
            )
        if self.bids[0][0] >= self.asks[0][0]:
            raise BacktestError(
                f"VenueFrame is crossed: best bid {self.bids[0][0]} >= best ask {self.asks[0][0]}"
            )


@dataclass(frozen=True, slots=True)
class MarketFrame:
    """Every venue's book at one tick; ``None`` marks a venue whose book is void right now."""

    index: int
    time_ms: int
    venues: Mapping[str, VenueFrame | None]


# ---- the recorded market --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReplayVenue:
    """One recorded instrument of one venue's recording (``venue`` as in ``agents.feeds.replay``)."""

    venue: str
    symbol: str


DEFAULT_REPLAY: tuple[ReplayVenue, ...] = (
    ReplayVenue("binance", "NKN-USDT"),
    ReplayVenue("bitstamp", "ETH-USD"),
    ReplayVenue("coinbase", "SKL-USD"),
    ReplayVenue("gemini", "FIL-USD"),
    ReplayVenue("kraken", "XMR-USD"),
)
"""The most active USD- or USDT-quoted book of each recording (USDT counted as USD)."""


@dataclass(frozen=True, slots=True)
class Dislocations:
    """The seeded cross-venue price relation (a ``MarketSimulator`` run; only its venue offsets are used).

    ``bps`` is the size of each injected mispricing, started with ``probability`` per tick when none is
    active and lasting ``ticks``; ``noise_bps`` the per-tick std dev of each venue's mean-reverting deviation.
    """

    seed: int
    bps: float = 80.0
    probability: float = 0.05
    ticks: int = 10
    noise_bps: float = 1.5

    def __post_init__(self) -> None:
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise BacktestError(f"Dislocations.seed must be an int >= 0, got {self.seed!r}")
        check_finite("Dislocations.bps", self.bps, non_negative=True)
        check_finite("Dislocations.noise_bps", self.noise_bps, non_negative=True)
        if not 0.0 <= check_finite("Dislocations.probability", self.probability) <= 1.0:
            raise BacktestError(f"Dislocations.probability must be in [0, 1], got {self.probability!r}")
        if isinstance(self.ticks, bool) or not isinstance(self.ticks, int) or self.ticks < 1:
            raise BacktestError(f"Dislocations.ticks must be an int >= 1, got {self.ticks!r}")


class DislocationModel:
    """Per-venue price offsets (fractions of the common mid), one simulator step per frame."""

    def __init__(self, venues: Sequence[str], config: Dislocations, tick_ms: int) -> None:
        profiles = tuple(VenueProfile(v, levels=1, noise_bps=config.noise_bps) for v in venues)
        self.simulator = MarketSimulator(
            SimConfig(
                seed=config.seed,
                venues=profiles,
                step_s=tick_ms / 1000.0,
                mispricing_prob=config.probability,
                mispricing_bps=config.bps,
                mispricing_steps=config.ticks,
            )
        )
        self.venues = tuple(venues)

    def step(self) -> dict[str, float]:
        sim = self.simulator
        sim.step()
        return {v: sim.venue_mid(v) / sim.common_mid - 1.0 for v in self.venues}

    @property
    def injected(self) -> int:
        """Mispricings injected so far (the simulator's ground truth)."""
        return len(self.simulator.mispricings)


@dataclass(frozen=True, slots=True)
class ReplayWindow:
    """Where the aligned replay ran: per venue the recording's UTC span and the relative window used."""

    recorded_utc: Mapping[str, tuple[float, float]]
    """venue -> (first record, last record), unix seconds."""
    start_ms: int
    end_ms: int
    """Relative time (ms since each recording's own first record) of the first and last frame."""


class RecordedMarket:
    """Frames from several venues' recordings, aligned on each recording's own relative time.

    Frames start once every book is live and stop when the shortest recording ends. Call ``frames()``
    once per backtest; the recordings are read once at construction.
    """

    def __init__(
        self,
        directory: Path,
        venues: Sequence[ReplayVenue] = DEFAULT_REPLAY,
        *,
        tick_ms: int = 100,
        dislocations: Dislocations | None = None,
        anchor: Literal["tick", "start"] = "tick",
        reference_price: float = 100.0,
        levels: int = 2 * DEFAULT_DEPTH,
        max_frames: int | None = None,
    ) -> None:
        if len(venues) < 2:
            raise BacktestError(f"venues must list at least two recorded venues, got {len(venues)}")
        names = [v.venue for v in venues]
        if len(set(names)) != len(names):
            raise BacktestError(f"venues must not repeat a venue, got {names}")
        if isinstance(tick_ms, bool) or not isinstance(tick_ms, int) or tick_ms <= 0:
            raise BacktestError(f"tick_ms must be an int > 0, got {tick_ms!r}")
        if anchor not in ("tick", "start"):
            raise BacktestError(f"anchor must be 'tick' or 'start', got {anchor!r}")
        if isinstance(levels, bool) or not isinstance(levels, int) or levels <= 0:
            raise BacktestError(f"levels must be an int > 0, got {levels!r}")
        if max_frames is not None and (
            isinstance(max_frames, bool) or not isinstance(max_frames, int) or max_frames < 1
        ):
            raise BacktestError(f"max_frames must be an int >= 1 or None, got {max_frames!r}")
        self.reference_price = check_finite("reference_price", reference_price, positive=True)
        self.tick_ms = tick_ms
        self.anchor = anchor
        self.levels = levels
        self.max_frames = max_frames
        self.dislocations = dislocations
        self.venues = tuple(venues)
        self._loaded: dict[str, LoadedRecording] = {}
        for spec in venues:
            loaded = load_recording(spec.venue, directory)
            if spec.symbol not in loaded.symbols:
                raise BacktestError(
                    f"{spec.venue} recording has no {spec.symbol!r}; it holds {sorted(loaded.symbols)}"
                )
            if not loaded.records:
                raise BacktestError(f"{spec.venue} recording has no messages")
            self._loaded[spec.venue] = loaded
        self.model: DislocationModel | None = None
        self.window: ReplayWindow | None = None

    def frames(self) -> Iterator[MarketFrame]:
        """Replay every venue through its own session and yield one frame per ``tick_ms``."""
        sources: dict[str, ReplaySource] = {}
        origin: dict[str, float] = {}
        spans: dict[str, tuple[float, float]] = {}
        for spec in self.venues:
            loaded = self._loaded[spec.venue]
            sources[spec.venue] = loaded.open(trades=False)
            origin[spec.venue] = loaded.records[0].ts
            spans[spec.venue] = (loaded.records[0].ts, loaded.records[-1].ts)
            start(sources[spec.venue].session)
        end_ms = int(min(last - first for first, last in spans.values()) * 1000)
        cursor = dict.fromkeys(origin, 0)
        changes = {v: _Changes() for v in origin}
        self.model = (
            DislocationModel([v.venue for v in self.venues], self.dislocations, self.tick_ms)
            if self.dislocations is not None
            else None
        )
        anchors: dict[str, float] = {}
        index = 0
        first_ms: int | None = None
        for time_ms in range(0, end_ms + 1, self.tick_ms):
            for spec in self.venues:
                source = sources[spec.venue]
                limit = origin[spec.venue] + time_ms / 1000.0
                records = source.records
                i = cursor[spec.venue]
                while i < len(records) and records[i].ts <= limit:
                    changes[spec.venue].observe(spec.symbol, step(source.session, records[i]))
                    i += 1
                cursor[spec.venue] = i
            books = {s.venue: sources[s.venue].session.book(s.symbol) for s in self.venues}
            live = {v: b for v, b in books.items() if b is not None and b.mid() is not None}
            if first_ms is None and len(live) < len(books):
                continue  # wait until every book has had its snapshot
            if first_ms is None:
                first_ms = time_ms
                for c in changes.values():
                    c.clear()
            offsets = self.model.step() if self.model is not None else dict.fromkeys(books, 0.0)
            venues: dict[str, VenueFrame | None] = {}
            for venue, book in books.items():
                change = changes[venue]
                mid = book.mid() if book is not None else None
                if book is None or mid is None:
                    venues[venue] = None
                    change.clear()
                    continue
                if self.anchor == "tick" or venue not in anchors:
                    anchors[venue] = mid
                scale = self.reference_price * (1.0 + offsets[venue]) / anchors[venue]
                asks, bids = book.curve_levels(self.levels)
                venues[venue] = VenueFrame(
                    tuple(bids),
                    tuple(asks),
                    scale,
                    frozenset(change.bids),
                    frozenset(change.asks),
                    change.reset,
                )
                change.clear()
            self.window = ReplayWindow(spans, first_ms, time_ms)
            yield MarketFrame(index, time_ms, venues)
            index += 1
            if self.max_frames is not None and index >= self.max_frames:
                return


@dataclass(slots=True)
class _Changes:
    """Levels one venue reported since the last frame (what resets a strategy's consumed liquidity)."""

    bids: set[float] = field(default_factory=set)
    asks: set[float] = field(default_factory=set)
    reset: bool = False

    def observe(self, symbol: str, events: Iterable[FeedEvent]) -> None:
        for event in events:
            if isinstance(event, BookUpdate) and event.symbol == symbol:
                self.bids.update(p for p, _ in event.bids)
                self.asks.update(p for p, _ in event.asks)
            elif isinstance(event, BookSnapshot | Resync) and event.symbol == symbol:
                self.reset = True

    def clear(self) -> None:
        self.bids.clear()
        self.asks.clear()
        self.reset = False


# ---- paper worlds ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VenueBook:
    """What a strategy sees of one venue at one tick: the common-instrument book its world can trade,
    best first, after the liquidity it took earlier is removed."""

    bids: tuple[Level, ...]
    asks: tuple[Level, ...]
    mid: float
    """Displayed mid of the frame's book (before our consumption): the public reference price."""


@dataclass(frozen=True, slots=True)
class VenueSpec:
    """Public trading rules of one venue in the backtest (fee in bps, lot and tick of the common asset)."""

    venue: str
    taker_fee_bps: float
    lot_size: Decimal = DEFAULT_LOT
    tick_size: Decimal = DEFAULT_TICK

    def __post_init__(self) -> None:
        if not isinstance(self.venue, str) or not self.venue:
            raise BacktestError(f"VenueSpec.venue must be a non-empty string, got {self.venue!r}")
        fee = check_finite(f"VenueSpec({self.venue}).taker_fee_bps", self.taker_fee_bps, non_negative=True)
        if fee >= 10_000:
            raise BacktestError(f"VenueSpec({self.venue}).taker_fee_bps must be < 10000, got {fee!r}")
        _positive_decimal(f"VenueSpec({self.venue}).lot_size", self.lot_size)
        _positive_decimal(f"VenueSpec({self.venue}).tick_size", self.tick_size)


def venue_specs(venues: Iterable[str], fees: Mapping[str, float] = TAKER_FEE_BPS) -> tuple[VenueSpec, ...]:
    """Specs for ``venues`` with fees from ``fees`` (the public schedules by default)."""
    out = []
    for venue in venues:
        if venue not in fees:
            raise BacktestError(f"no taker fee for venue {venue!r}; fees cover {sorted(fees)}")
        out.append(VenueSpec(venue, fees[venue]))
    return tuple(out)


@dataclass(slots=True)
class _Depletion:
    """Liquidity this world took per raw price level, until the venue reports the level again."""

    bids: dict[float, float] = field(default_factory=dict)
    asks: dict[float, float] = field(default_factory=dict)

    def refresh(self, frame: VenueFrame | None) -> None:
        if frame is None or frame.reset:
            self.bids.clear()
            self.asks.clear()
            return
        for price in frame.changed_bids:
            self.bids.pop(price, None)
        for price in frame.changed_asks:
            self.asks.pop(price, None)


def _common_side(
    levels: Sequence[Level],
    taken: Mapping[float, float],
    *,
    scale: float,
    depth: int,
    lot: Decimal,
    bids: bool,
) -> list[tuple[Decimal, Decimal, float]]:
    """The best ``depth`` levels of one side on the common instrument, after what this world ``taken``:
    ``(price, size, raw price)``.

    Prices go onto the ``PRICE_QUANTUM`` grid (bids down, asks up: never better than displayed) and sizes
    onto ``SIZE_QUANTUM`` (down), so every fill's cash flow is exact in Decimal arithmetic. Levels under one
    ``lot`` are skipped (no lot-rounded order can take them; remnants of our own fills are not liquidity),
    and so is a level that lands on the price of a better one (understates depth, never invents it).
    """
    rounding = ROUND_FLOOR if bids else ROUND_CEILING
    out: list[tuple[Decimal, Decimal, float]] = []
    for raw, size in levels:
        left = size - taken.get(raw, 0.0)
        if left <= 0.0:
            continue
        amount = _dec(left / scale).quantize(SIZE_QUANTUM, rounding=ROUND_FLOOR)
        if amount < lot:
            continue
        price = _dec(raw * scale).quantize(PRICE_QUANTUM, rounding=rounding)
        if price <= 0 or (out and price == out[-1][0]):
            continue
        out.append((price, amount, raw))
        if len(out) == depth:
            break
    return out


@dataclass(frozen=True, slots=True)
class FillRecord:
    tick: int
    venue: str
    plan_id: str
    side: Side
    price: Decimal
    size: Decimal
    fee: Decimal


class PaperWorld:
    """One strategy's paper venues, plan runner and portfolio, fed the same frames as every other world."""

    def __init__(
        self,
        specs: Sequence[VenueSpec],
        *,
        depth: int = DEFAULT_DEPTH,
        starting_cash: Decimal = Decimal(10**6),
    ) -> None:
        if isinstance(depth, bool) or not isinstance(depth, int) or depth <= 0:
            raise BacktestError(f"depth must be an int > 0, got {depth!r}")
        if not isinstance(starting_cash, Decimal) or not starting_cash.is_finite() or starting_cash < 0:
            raise BacktestError(f"starting_cash must be a finite Decimal >= 0, got {starting_cash!r}")
        self.specs = {s.venue: s for s in specs}
        if len(self.specs) != len(specs):
            raise BacktestError(f"venue specs must not repeat a venue, got {[s.venue for s in specs]}")
        self.depth = depth
        self.time = VirtualTime(0)
        self.sink = InMemorySink()
        self.portfolio = Portfolio.starting_with(dict.fromkeys(self.specs, starting_cash))
        self.runner = PlanRunner(
            clock=self.time,
            monitor=LegOutMonitor(LegOutPolicy(), self.sink),
            sink=self.sink,
            portfolio=self.portfolio,
        )
        self.venues: dict[str, PaperVenue] = {}
        for venue, spec in self.specs.items():
            paper = PaperVenue(
                PaperConfig(venue, taker_fee_bps=_dec(spec.taker_fee_bps)), self.time, self._on_event
            )
            self.venues[venue] = paper
            self.runner.add_venue(venue, paper)
        self._depletion = {v: _Depletion() for v in self.specs}
        self._raw: dict[str, tuple[dict[Decimal, float], dict[Decimal, float], float]] = {}
        self.fills: list[FillRecord] = []
        self.leg_outs = 0
        self.marks: dict[str, float] = {}
        self._tick = 0

    def _on_event(self, event: ExecutionEvent) -> None:
        if isinstance(event, FillEvent):
            bids, asks, scale = self._raw[event.venue]
            raw = (asks if event.side is Side.BUY else bids)[event.price]
            taken = (
                self._depletion[event.venue].asks
                if event.side is Side.BUY
                else self._depletion[event.venue].bids
            )
            taken[raw] = taken.get(raw, 0.0) + float(event.size) * scale
            self.fills.append(
                FillRecord(
                    self._tick, event.venue, event.plan_id, event.side, event.price, event.size, event.fee
                )
            )
        self.runner.on_event(event)

    def observe(self, frame: MarketFrame) -> dict[str, VenueBook]:
        """Install the frame's books (minus what this world took and the venue has not refilled)."""
        self._tick = frame.index
        self.time.advance_to(max(frame.time_ms, self.time.now_ms()))
        books: dict[str, VenueBook] = {}
        for venue in self.specs:
            venue_frame = frame.venues.get(venue)
            depletion = self._depletion[venue]
            depletion.refresh(venue_frame)
            if venue_frame is None:
                self._raw.pop(venue, None)
                continue
            s = venue_frame.scale
            lot = self.specs[venue].lot_size
            bid_side = _common_side(
                venue_frame.bids, depletion.bids, scale=s, depth=self.depth, lot=lot, bids=True
            )
            ask_side = _common_side(
                venue_frame.asks, depletion.asks, scale=s, depth=self.depth, lot=lot, bids=False
            )
            if not bid_side or not ask_side:
                self._raw.pop(venue, None)
                continue
            self._raw[venue] = ({p: raw for p, _, raw in bid_side}, {p: raw for p, _, raw in ask_side}, s)
            mid = 0.5 * (venue_frame.bids[0][0] + venue_frame.asks[0][0]) * s
            self.marks[venue] = mid
            self.venues[venue].update_book(
                INSTRUMENT,
                BookSnapshot(
                    venue,
                    INSTRUMENT,
                    tuple((p, q) for p, q, _ in bid_side),
                    tuple((p, q) for p, q, _ in ask_side),
                    frame.time_ms / 1000,
                ),
            )
            bids = tuple((float(p), float(q)) for p, q, _ in bid_side)
            asks = tuple((float(p), float(q)) for p, q, _ in ask_side)
            books[venue] = VenueBook(bids, asks, mid)
        return books

    def execute(self, plans: Sequence[ExecPlan]) -> None:
        """Send every plan's legs now, let them fill, and hedge any leg-out on the same books."""
        now = self.time.now_ms()
        for plan in plans:
            self.runner.submit_plan(plan, MarketState())
        self.time.advance_to(now)
        for _ in range(LegOutPolicy().max_hedge_rounds + 1):
            decision = self.runner.tick(self._quotes())
            self.leg_outs += len(decision.events)
            self.time.advance_to(now)
            if not decision.hedges:
                break

    def _quotes(self) -> list[HedgeQuote]:
        quotes = []
        for venue, paper in self.venues.items():
            book = paper.book(INSTRUMENT)
            if book is not None and venue in self._raw:
                spec = self.specs[venue]
                quotes.append(HedgeQuote(venue, INSTRUMENT, ASSET, book, spec.lot_size, spec.tick_size))
        return quotes

    # -- results -------------------------------------------------------------------------------------
    def exposure(self) -> Decimal:
        return self.portfolio.exposure(ASSET)

    def profit(self) -> Decimal:
        """Cash gained across venues plus any residual net position marked at the median venue mid."""
        cash = sum(self.portfolio.cash.values(), Decimal(0)) - sum(
            self.portfolio.starting_cash.values(), Decimal(0)
        )
        exposure = self.exposure()
        if exposure == 0 or not self.marks:
            return cash
        return cash + exposure * _dec(statistics.median(self.marks.values()))


# ---- strategies -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TickDecision:
    """A strategy's plans for one tick, the profit it expects from them and (ArbSphere) solve diagnostics."""

    plans: tuple[ExecPlan, ...]
    planned_usd: float
    optimum_usd: float | None = None
    rounds: int | None = None
    solve_ms: float | None = None
    failed: bool = False


class Strategy(Protocol):
    name: str

    def decide(self, tick: int, now_ms: int, books: Mapping[str, VenueBook]) -> TickDecision: ...


class FixedSizeBaseline:
    """The common open-source cross-exchange bot, one instance per venue pair.

    Each tick, for every pair (sorted), compare A's best bid with B's best ask and B's best bid with A's best
    ask; when the spread after both taker fees exceeds ``threshold_bps`` (of the buy price), buy ``size`` at
    the cheap venue's best ask and sell it at the other's best bid, capped by both top-of-book sizes and
    rounded down to the lot. Pairs later in the order see the top levels earlier pairs took this tick.
    """

    def __init__(
        self,
        specs: Sequence[VenueSpec],
        size: Decimal,
        *,
        name: str = "baseline",
        threshold_bps: float = 0.0,
        leg_deadline_ms: int = 2_000,
    ) -> None:
        self.name = name
        self.specs = {s.venue: s for s in specs}
        self.size = _positive_decimal("size", size)
        self.threshold_bps = check_finite("threshold_bps", threshold_bps, non_negative=True)
        if isinstance(leg_deadline_ms, bool) or not isinstance(leg_deadline_ms, int) or leg_deadline_ms <= 0:
            raise BacktestError(f"leg_deadline_ms must be an int > 0, got {leg_deadline_ms!r}")
        self.leg_deadline_ms = leg_deadline_ms

    def decide(self, tick: int, now_ms: int, books: Mapping[str, VenueBook]) -> TickDecision:
        tops = {
            v: ([*b.bids[:1]], [*b.asks[:1]], list(b.bids[1:]), list(b.asks[1:])) for v, b in books.items()
        }
        plans: list[ExecPlan] = []
        planned = 0.0
        for a, b in combinations(sorted(v for v in self.specs if v in books), 2):
            for buy, sell in ((b, a), (a, b)):
                trade = self._trade(tick, now_ms, buy, sell, tops)
                if trade is not None:
                    plans.extend(trade[0])
                    planned += trade[1]
                    break
        return TickDecision(tuple(plans), planned)

    def _trade(
        self,
        tick: int,
        now_ms: int,
        buy: str,
        sell: str,
        tops: dict[str, tuple[list[Level], list[Level], list[Level], list[Level]]],
    ) -> tuple[list[ExecPlan], float] | None:
        ask_side, bid_side = tops[buy][1], tops[sell][0]
        if not ask_side or not bid_side:
            return None
        (ask, ask_size), (bid, bid_size) = ask_side[0], bid_side[0]
        buy_fee = self.specs[buy].taker_fee_bps / 1e4
        sell_fee = self.specs[sell].taker_fee_bps / 1e4
        edge = bid * (1.0 - sell_fee) - ask * (1.0 + buy_fee)
        if edge <= 0 or edge / ask * 1e4 <= self.threshold_bps:
            return None
        lot = max(self.specs[buy].lot_size, self.specs[sell].lot_size)
        size = min(self.size, _dec(ask_size), _dec(bid_size))
        size = (size / lot).to_integral_value(rounding=ROUND_FLOOR) * lot
        if size <= 0:
            return None
        plan_id = f"{self.name}/{tick}/{buy}>{sell}"
        deadline = now_ms + self.leg_deadline_ms
        plans = []
        for venue, side, price in ((buy, Side.BUY, ask), (sell, Side.SELL, bid)):
            leg = ExecLeg(
                plan_id=plan_id,
                venue=venue,
                index=0,
                instrument=INSTRUMENT,
                asset=ASSET,
                side=side,
                size=size,
                limit_price=_dec(price),
                deadline_ms=deadline,
                idempotency_key=derive_key(plan_id, venue, side.value),
            )
            expected = _dec(edge) * size if side is Side.BUY else Decimal(0)
            plans.append(ExecPlan(plan_id, f"{self.name}/{tick}", venue, tick + 1, (leg,), expected))
        _take(tops[buy], 1, float(size))
        _take(tops[sell], 0, float(size))
        return plans, edge * float(size)


def _take(top: tuple[list[Level], list[Level], list[Level], list[Level]], side: int, size: float) -> None:
    """Remove ``size`` from the best level of ``side`` (0 bids, 1 asks); the next level moves up."""
    best, rest = top[side], top[side + 2]
    price, available = best[0]
    left = available - size
    if left > available * 1e-9:
        best[0] = (price, left)
    elif rest:
        best[0] = rest.pop(0)
    else:
        best.clear()


# ---- the harness ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TickRecord:
    index: int
    time_ms: int
    realised_usd: float
    planned_usd: float
    optimum_usd: float | None
    rounds: int | None
    solve_ms: float | None
    plans: int
    failed: bool = False


@dataclass(frozen=True, slots=True)
class StrategyResult:
    """One strategy's run: exact money from its portfolio, per-tick records and every fill."""

    name: str
    profit_usd: Decimal
    fees_usd: Decimal
    notional_usd: Decimal
    trades: int
    """Executed arbitrage plans (plan groups with at least one fill)."""
    fills: int
    exposure: Decimal
    """Net position in the common asset left at the end (0 when every plan stayed delta-neutral)."""
    conservation_gap: Decimal
    """``cash + positions at cost - (start + realised)``: exactly 0 unless accounting broke."""
    leg_outs: int
    ticks: tuple[TickRecord, ...]
    fill_log: tuple[FillRecord, ...]

    @property
    def profit_per_trade_usd(self) -> Decimal | None:
        return self.profit_usd / self.trades if self.trades else None

    def optimality(self, min_optimum_usd: float = 0.01) -> list[float]:
        """Per tick: planned profit / centralised optimum, on ticks whose optimum exceeds the floor."""
        return [
            t.planned_usd / t.optimum_usd
            for t in self.ticks
            if t.optimum_usd is not None and t.optimum_usd > min_optimum_usd
        ]


@dataclass(frozen=True, slots=True)
class BacktestResult:
    frames: int
    strategies: Mapping[str, StrategyResult]


def run_backtest(
    frames: Iterable[MarketFrame],
    strategies: Sequence[Strategy],
    specs: Sequence[VenueSpec],
    *,
    depth: int = DEFAULT_DEPTH,
) -> BacktestResult:
    """Feed every frame to every strategy, each trading in its own paper world on the same books."""
    names = [s.name for s in strategies]
    if not strategies or len(set(names)) != len(names):
        raise BacktestError(f"strategies must be non-empty with unique names, got {names}")
    worlds = {s.name: PaperWorld(specs, depth=depth) for s in strategies}
    records: dict[str, list[TickRecord]] = {s.name: [] for s in strategies}
    count = 0
    for frame in frames:
        count += 1
        for strategy in strategies:
            world = worlds[strategy.name]
            books = world.observe(frame)
            before = world.profit()
            decision = strategy.decide(frame.index, frame.time_ms, books)
            world.execute(decision.plans)
            records[strategy.name].append(
                TickRecord(
                    frame.index,
                    frame.time_ms,
                    float(world.profit() - before),
                    decision.planned_usd,
                    decision.optimum_usd,
                    decision.rounds,
                    decision.solve_ms,
                    len(decision.plans),
                    decision.failed,
                )
            )
    results = {}
    for strategy in strategies:
        world = worlds[strategy.name]
        fills = tuple(world.fills)
        results[strategy.name] = StrategyResult(
            name=strategy.name,
            profit_usd=world.profit(),
            fees_usd=sum((f.fee for f in fills), Decimal(0)),
            notional_usd=sum((f.price * f.size for f in fills), Decimal(0)),
            trades=len({f.plan_id for f in fills}),
            fills=len(fills),
            exposure=world.exposure(),
            conservation_gap=world.portfolio.conservation_gap(),
            leg_outs=world.leg_outs,
            ticks=tuple(records[strategy.name]),
            fill_log=fills,
        )
    return BacktestResult(count, results)
