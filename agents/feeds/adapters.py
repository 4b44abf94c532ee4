"""DataFeedAdapter implementations that need no network: recorded replay and the synthetic simulator.

Both run the same checks as live feeds (``BookMaintainer``), so the agent, the conformance kit and the demo
consume them exactly as they would a venue.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import ClassVar

from agents.feeds.book import L2Book
from agents.feeds.maintainer import BookMaintainer
from agents.feeds.recording import RecordedLine
from agents.feeds.replay import open_recording, start, step
from agents.feeds.session import VenueSession
from agents.feeds.simulator import MarketSimulator, SimConfig
from sdk.adapters.events import BookSnapshot, BookUpdate, FeedErrorKind, FeedEvent
from sdk.adapters.interfaces import LatencyStats
from sdk.adapters.manifest import DEFAULT_IR_RANGE, AdapterKind, AdapterManifest, Capability, VenueKind

LATENCY_WINDOW = 1024


class _LatencyWindow:
    def __init__(self) -> None:
        self._samples: deque[float] = deque(maxlen=LATENCY_WINDOW)

    def observe(self, event: FeedEvent) -> None:
        exchange_ts = getattr(event, "exchange_ts", None)
        receipt_ts = getattr(event, "receipt_ts", None)
        if exchange_ts is not None and receipt_ts is not None:
            self._samples.append(receipt_ts - exchange_ts)

    def stats(self) -> LatencyStats:
        if not self._samples:
            return LatencyStats(0, None, None, None)
        ordered = sorted(self._samples)
        n = len(ordered)
        return LatencyStats(
            n, ordered[(n - 1) // 2], ordered[min(n - 1, math.ceil(0.99 * n) - 1)], ordered[-1]
        )


class ReplayFeedAdapter:
    """Replays one venue's recording through its live parsing session.

    ``speed=None`` replays as fast as possible; otherwise at the recorded pace divided by ``speed``.
    ``disconnect()`` mid-stream voids every book (as a dropped connection does); ``connect()`` resumes the
    recording, and books come back only with a fresh snapshot, if the recording holds one.
    """

    manifest: ClassVar[AdapterManifest] = AdapterManifest(
        ir_range=DEFAULT_IR_RANGE,
        name="recorded-replay",
        version="0.1.0",
        venue="replay",
        kind=AdapterKind.DATA_FEED,
        venue_kind=VenueKind.ORDER_BOOK,
        symbols=(),
        capabilities=frozenset({Capability.BOOKS, Capability.TRADES, Capability.SERVER_TIME}),
        library="cryptofeed==2.4.1",
    )

    def __init__(self, venue: str, directory: Path, *, speed: float | None = None) -> None:
        if speed is not None and not (math.isfinite(speed) and speed > 0):
            raise ValueError(f"speed must be finite and > 0 or None, got {speed!r}")
        source = open_recording(venue, directory)
        self.venue = venue
        self.session: VenueSession = source.session
        self._records: list[RecordedLine] = source.records
        self._position = 0
        self._speed = speed
        self._connected = False
        self._started = False
        self._wanted: set[str] = set()
        self._pending: list[FeedEvent] = []
        self._latency = _LatencyWindow()
        self._last_ts = self._records[0].ts if self._records else 0.0

    async def connect(self) -> None:
        if self._connected:
            return
        self._connected = True
        if not self._started:
            self._started = True
            self._pending.extend(start(self.session))

    async def disconnect(self) -> None:
        if not self._connected:
            return
        self._connected = False
        self._pending.extend(self.session.on_disconnect(self._last_ts))

    async def subscribe_books(self, symbols: Sequence[str]) -> None:
        unknown = set(symbols) - set(self.session.symbols())
        if unknown:
            raise ValueError(
                f"symbols not in the recording: {sorted(unknown)}; it has {self.session.symbols()}"
            )
        self._wanted.update(symbols)

    async def subscribe_trades(self, symbols: Sequence[str]) -> None:
        await self.subscribe_books(symbols)

    async def subscribe_funding(self, symbols: Sequence[str]) -> None:
        raise NotImplementedError("the recorded spot venues publish no funding")

    def _keep(self, event: FeedEvent) -> bool:
        symbol = getattr(event, "symbol", None)
        return symbol is None or not self._wanted or symbol in self._wanted

    async def events(self) -> AsyncIterator[FeedEvent]:
        previous_ts: float | None = None
        while True:
            while self._pending:
                event = self._pending.pop(0)
                if self._keep(event):
                    yield event
            if not self._connected or self._position >= len(self._records):
                return
            record = self._records[self._position]
            self._position += 1
            if self._speed is not None and previous_ts is not None and record.ts > previous_ts:
                await asyncio.sleep((record.ts - previous_ts) / self._speed)
            previous_ts = record.ts
            self._last_ts = record.ts
            for event in step(self.session, record):
                self._latency.observe(event)
                if self._keep(event):
                    yield event

    def book(self, symbol: str) -> L2Book | None:
        return self.session.book(symbol)

    async def server_time(self) -> float:
        """The recording's clock: the receipt time of the last replayed message."""
        return self._last_ts

    def latency(self) -> LatencyStats:
        return self._latency.stats()


class SimulatedFeedAdapter:
    """One venue of a ``MarketSimulator``. Adapters built from equal configs see the same market (same seed,
    same common walk), so several of them form a correlated multi-venue demo without sharing state."""

    manifest: ClassVar[AdapterManifest] = AdapterManifest(
        ir_range=DEFAULT_IR_RANGE,
        name="synthetic-market",
        version="0.1.0",
        venue="simulator",
        kind=AdapterKind.DATA_FEED,
        venue_kind=VenueKind.ORDER_BOOK,
        symbols=(),
        capabilities=frozenset(
            {Capability.BOOKS, Capability.SEQUENCE_NUMBERS, Capability.SERVER_TIME, Capability.REST_SNAPSHOTS}
        ),
    )

    def __init__(self, config: SimConfig, venue: str, *, steps: int, speed: float | None = None) -> None:
        if venue not in {v.venue for v in config.venues}:
            raise ValueError(f"venue must be one of {[v.venue for v in config.venues]}, got {venue!r}")
        if steps < 0:
            raise ValueError(f"steps must be >= 0, got {steps!r}")
        if speed is not None and not (math.isfinite(speed) and speed > 0):
            raise ValueError(f"speed must be finite and > 0 or None, got {speed!r}")
        self.venue = venue
        self.simulator = MarketSimulator(config)
        self.maintainer = BookMaintainer(venue)
        self._steps = steps
        self._speed = speed
        self._connected = False
        self._needs_snapshot = True
        self._wanted: set[str] = set()
        self._latency = _LatencyWindow()

    async def connect(self) -> None:
        if not self._connected:
            self._connected = True
            self._needs_snapshot = True

    async def disconnect(self) -> None:
        if self._connected:
            self._connected = False
            self.maintainer.invalidate_all(FeedErrorKind.DISCONNECTED, "disconnected", self.simulator.now)

    async def subscribe_books(self, symbols: Sequence[str]) -> None:
        self._wanted.update(symbols)

    async def subscribe_trades(self, symbols: Sequence[str]) -> None:
        """The simulator prints no trades; subscribing is accepted and yields nothing."""

    async def subscribe_funding(self, symbols: Sequence[str]) -> None:
        raise NotImplementedError("the simulated venues are spot order books")

    def _apply(self, event: FeedEvent) -> None:
        if event.venue != self.venue or (self._wanted and getattr(event, "symbol", None) not in self._wanted):
            return
        self._latency.observe(event)
        if isinstance(event, BookSnapshot):
            self.maintainer.snapshot(
                event.symbol,
                event.bids,
                event.asks,
                event.receipt_ts,
                exchange_ts=event.exchange_ts,
                sequence=event.sequence,
            )
        elif isinstance(event, BookUpdate):
            self.maintainer.update(
                event.symbol,
                event.bids,
                event.asks,
                event.receipt_ts,
                exchange_ts=event.exchange_ts,
                sequence=event.sequence,
            )

    async def events(self) -> AsyncIterator[FeedEvent]:
        sim = self.simulator
        for event in self.maintainer.drain():
            yield event
        while self._connected and sim.step_index < self._steps:
            if self._needs_snapshot:
                self._needs_snapshot = False
                for snap in sim.snapshots():
                    self._apply(snap)
            else:
                if self._speed is not None:
                    await asyncio.sleep(sim.config.step_s / self._speed)
                for update in sim.step():
                    self._apply(update)
            for event in self.maintainer.drain():
                yield event
        for event in self.maintainer.drain():
            yield event

    def book(self, symbol: str) -> L2Book | None:
        return self.maintainer.book(symbol)

    async def server_time(self) -> float:
        return self.simulator.now

    def latency(self) -> LatencyStats:
        return self._latency.stats()
