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


def open_recording(
    venue: str, directory: Path, *, trades: bool = True, cross_check: bool = True
) -> ReplaySource:
    """Build the session for ``venue`` from ``directory``'s recording (symbols, REST answers, messages)."""
    if venue not in RECORDING_PREFIX:
        raise ValueError(f"venue must be one of {sorted(RECORDING_PREFIX)}, got {venue!r}")
    recording = Recording.find(directory, RECORDING_PREFIX[venue])
    symbols = configuration(recording.venue_file)["l2_book"]
    session: VenueSession
    if venue == "coinbase":
        session = CoinbaseLegacySession(symbols, cross_check=cross_check)
        files = list(recording.ws_files)
    else:
        cls = CRYPTOFEED_SESSIONS[venue]
        cls.load_symbols([body for _, body in rest_bodies(recording.venue_file)])
        rest = RecordedRest()
        if not cls.rest_in_stream:
            for path in recording.http_files:
                for url, body in rest_bodies(path):
                    rest.add(url, body)
        session = cls(symbols, rest=rest, trades=trades, cross_check=cross_check)
        files = list(recording.ws_files) + (list(recording.http_files) if cls.rest_in_stream else [])
    records = [r for r in merge(files) if r.kind in (LineKind.RECEIVED, LineKind.REST, LineKind.CORRUPT)]
    return ReplaySource(session, records, symbols)


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
