"""Replay recorded venue messages through the same sessions the live feeds use.

``replay_events`` yields normalized events as fast as possible; ``replay_paced`` keeps the recorded spacing
(scaled by ``speed``). Unreadable lines become ``FeedError`` + ``Resync`` events through the session, never an
exception and never a wrong book.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from agents.feeds.recording import LineKind, RecordedLine, Recording, configuration, merge, rest_bodies
from agents.feeds.session import RecordedRest, VenueSession
from agents.feeds.venues import CRYPTOFEED_SESSIONS, CoinbaseLegacySession
from agents.feeds.venues.cryptofeed_bridge import CryptofeedSession
from sdk.adapters.events import FeedEvent

RECORDING_PREFIX = {
    "binance": "BINANCE",
    "binance_futures": "BINANCE_FUTURES",
    "bitstamp": "BITSTAMP",
    "coinbase": "COINBASE",
    "gemini": "GEMINI",
    "kraken": "KRAKEN",
}


@dataclass
class ReplaySource:
    """A venue session wired to one recording, plus the merged records to push through it."""

    session: VenueSession
    records: list[RecordedLine]
    symbols: list[str]
    counts: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class LoadedRecording:
    """One venue's recording read and merged once; ``open()`` wires a fresh session to it as often as
    needed (benchmarks and tests replay the same messages many times)."""

    venue: str
    symbols: tuple[str, ...]
    records: tuple[RecordedLine, ...]
    """Received messages, in-stream REST answers and corrupt lines, merged by time."""
    rest: tuple[tuple[str, str], ...]
    """REST answers the parser fetches on request (served in recorded order per URL)."""

    def open(self, *, trades: bool = True, cross_check: bool = True) -> ReplaySource:
        symbols = list(self.symbols)
        session: VenueSession
        if self.venue == "coinbase":
            session = CoinbaseLegacySession(symbols, cross_check=cross_check)
        else:
            cls = CRYPTOFEED_SESSIONS[self.venue]
            session = cls(symbols, rest=RecordedRest(self.rest), trades=trades, cross_check=cross_check)
        return ReplaySource(session, list(self.records), symbols)


def load_recording(venue: str, directory: Path) -> LoadedRecording:
    """Read ``directory``'s recording of ``venue`` (symbols, REST answers, messages) and install the venue's
    recorded symbol map in cryptofeed (no network)."""
    if venue not in RECORDING_PREFIX:
        raise ValueError(f"venue must be one of {sorted(RECORDING_PREFIX)}, got {venue!r}")
    recording = Recording.find(directory, RECORDING_PREFIX[venue])
    symbols = configuration(recording.venue_file)["l2_book"]
    rest: list[tuple[str, str]] = []
    if venue == "coinbase":
        files = list(recording.ws_files)
    else:
        cls = CRYPTOFEED_SESSIONS[venue]
        cls.load_symbols([body for _, body in rest_bodies(recording.venue_file)])
        if not cls.rest_in_stream:
            for path in recording.http_files:
                rest.extend(rest_bodies(path))
        files = list(recording.ws_files) + (list(recording.http_files) if cls.rest_in_stream else [])
    records = [r for r in merge(files) if r.kind in (LineKind.RECEIVED, LineKind.REST, LineKind.CORRUPT)]
    return LoadedRecording(venue, tuple(symbols), tuple(records), tuple(rest))


def open_recording(
    venue: str, directory: Path, *, trades: bool = True, cross_check: bool = True
) -> ReplaySource:
    """Build the session for ``venue`` from ``directory``'s recording (symbols, REST answers, messages)."""
    return load_recording(venue, directory).open(trades=trades, cross_check=cross_check)


def start(session: VenueSession) -> list[FeedEvent]:
    """Run the session's subscribe step (cryptofeed sessions reset their books there)."""
    if isinstance(session, CryptofeedSession):
        return session.start()
    return []


def step(session: VenueSession, record: RecordedLine) -> list[FeedEvent]:
    """Push one record through ``session``."""
    if record.kind is LineKind.RECEIVED:
        return session.on_message(record.payload, record.ts)
    if record.kind is LineKind.REST:
        return session.on_rest(record.url or "", record.payload, record.ts)
    if record.kind is LineKind.CORRUPT:
        return session.on_corrupt(f"{record.source}: {record.payload}", record.ts)
    return []


def replay_events(session: VenueSession, records: Iterable[RecordedLine]) -> Iterator[FeedEvent]:
    """Every event of the replay, as fast as possible."""
    yield from start(session)
    for record in records:
        yield from step(session, record)


async def replay_paced(
    session: VenueSession,
    records: Iterable[RecordedLine],
    *,
    speed: float = 1.0,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> AsyncIterator[FeedEvent]:
    """Events at the recorded pace divided by ``speed`` (``speed=2`` plays twice as fast)."""
    if not 0.0 < speed < float("inf"):
        raise ValueError(f"speed must be finite and > 0, got {speed!r}")
    for event in start(session):
        yield event
    first_ts: float | None = None
    started = clock()
    for record in records:
        if first_ts is None:
            first_ts = record.ts
        due = (record.ts - first_ts) / speed - (clock() - started)
        if due > 0:
            await sleep(due)
        for event in step(session, record):
            yield event
