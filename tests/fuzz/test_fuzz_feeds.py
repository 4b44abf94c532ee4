"""Every venue parser over mutated real recordings: 0 crashes, 0 wrong books kept live, 0 silent skips.

Each example replays a venue's real recording (``../shared/data/recordings``) through the same session the
live feed uses and swaps one to three messages for mutated copies (byte flips, lost or repeated stretches,
truncation, nesting up to 600,000 levels, huge and tiny numbers, wrong types, removed fields). After every
mutated message:

- nothing escapes the session (an exception is a crash);
- every book is either void or equal to a reference rebuilt from the events the session emitted;
- a book that went void was announced (``Resync``), and a venue that can only rebuild by resubscribing
  (Gemini, Kraken, Coinbase) asked for it (``reconnect_requested``);
- a message that carried book changes in the clean replay, for a book that was live, produced book events
  or voided the book: never nothing at all (a silent skip), except where the venue's documented procedure
  drops it (an update already in a fresh snapshot, an update for a book awaiting its snapshot).

Coinbase Advanced Trade has no recording of its own: its stream is the legacy Coinbase recording's
snapshots, level2 updates and matches re-enveloped as ``l2_data``/``market_trades`` messages with a
``sequence_num`` per message (the values are the venue's real ones).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agents.feeds.recording import LineKind, RecordedLine
from agents.feeds.replay import LoadedRecording, load_recording, start, step
from agents.feeds.session import VenueSession
from agents.feeds.venues.coinbase import CoinbaseSession
from sdk.adapters.conformance import BookModel
from sdk.adapters.events import BookSnapshot, BookUpdate, FeedError, FeedErrorKind, FeedEvent, Resync
from tests.fakevenues.coinbase import advanced_trade
from tests.fuzz.fuzz_support import Tally, fuzz_settings, mutated_json

pytestmark = [pytest.mark.shared, pytest.mark.timeout(600)]

VENUES = ("binance", "bitstamp", "gemini", "kraken", "coinbase_legacy", "coinbase")
RESUBSCRIBE = frozenset({"gemini", "kraken", "coinbase", "coinbase_legacy"})
"""Venues whose books are rebuilt only by a fresh subscription."""
WINDOW = 1_500
"""Mutations land within the first records of a recording (past every initial snapshot): the replay
before them is the cost of an example."""
TAIL = 25
"""Clean records replayed after the last mutation: a wrong book would show up on them."""
DEPTH = 200
"""Levels per side compared (Kraken's books are truncated to 1,000 levels the events do not describe)."""
EXAMPLES = {
    "binance": 150,
    "bitstamp": 100,
    "gemini": 200,
    "kraken": 120,
    "coinbase_legacy": 120,
    "coinbase": 120,
}
"""Examples per venue in CI (derandomized); ``ARBSPHERE_FUZZ_EXAMPLES`` overrides them all."""
VIOLATIONS = ("crash", "wrong book kept live", "silent skip", "unannounced void", "no resubscription")
TALLIES = {venue: Tally(f"feeds/{venue}", VIOLATIONS) for venue in VENUES}


@dataclass
class Corpus:
    """One venue's messages, how to open a fresh session on them, and what the clean replay did."""

    venue: str
    records: list[RecordedLine]
    open: Callable[[Sequence[tuple[str, str]] | None], VenueSession]
    rest: list[tuple[str, str]]
    """REST answers served on request (Binance snapshots); mutated ones replace them."""
    touched: list[frozenset[str]]
    """Symbols whose book each record changed in the clean replay."""
    positions: list[int]
    """Records that may be mutated: received messages (and in-stream REST answers) within the window."""
    book_positions: list[int]


def _clean_touches(session: VenueSession, records: Sequence[RecordedLine]) -> list[frozenset[str]]:
    start(session)
    touched = []
    for record in records:
        events = step(session, record)
        touched.append(frozenset(e.symbol for e in events if isinstance(e, BookSnapshot | BookUpdate)))
        assert not [e for e in events if isinstance(e, FeedError)], f"clean replay errs at {record.source}"
    return touched


def _corpus(
    venue: str, records: list[RecordedLine], opener: Callable[..., VenueSession], rest: Any
) -> Corpus:
    touched = _clean_touches(opener(None), records)
    positions = [
        i
        for i, r in enumerate(records[:WINDOW])
        if r.kind in (LineKind.RECEIVED, LineKind.REST) and r.payload
    ]
    book = [i for i in positions if touched[i]]
    return Corpus(venue, records, opener, list(rest), touched, positions, book)


def _recording_corpus(venue: str, directory: Path) -> Corpus:
    loaded = load_recording("coinbase" if venue == "coinbase_legacy" else venue, directory)

    def opener(rest: Sequence[tuple[str, str]] | None) -> VenueSession:
        chosen = loaded if rest is None else dataclasses.replace(loaded, rest=tuple(rest))
        return chosen.open().session

    return _corpus(venue, list(loaded.records), opener, loaded.rest)


def _advanced_trade(legacy: LoadedRecording) -> tuple[list[RecordedLine], str]:
    """The legacy recording's book and trade messages in the Advanced Trade envelope, and a product list."""
    out: list[RecordedLine] = []
    sequence = 0

    def envelope(channel: str, events: list[dict[str, Any]], time: str, record: RecordedLine) -> None:
        nonlocal sequence
        message = {"channel": channel, "client_id": "", "timestamp": time, "sequence_num": sequence}
        message["events"] = events
        sequence += 1
        out.append(dataclasses.replace(record, payload=json.dumps(message, separators=(",", ":"))))

    for record in legacy.records:
        if record.kind is not LineKind.RECEIVED:
            continue
        time = json.loads(record.payload).get("time") or "2021-04-17T00:00:00.000000Z"
        for channel, event in advanced_trade([record.payload]):
            envelope(channel, [event], time, record)
    products = [
        {
            "product_id": s,
            "base_currency_id": s.split("-")[0],
            "quote_currency_id": s.split("-")[1],
            "quote_increment": "0.00000001",
            "product_type": "SPOT",
        }
        for s in legacy.symbols
    ]
    return out, json.dumps({"products": products})


def _coinbase_corpus(directory: Path) -> Corpus:
    legacy = load_recording("coinbase", directory)
    records, products = _advanced_trade(legacy)
    symbols = list(legacy.symbols)

    def opener(rest: Sequence[tuple[str, str]] | None) -> VenueSession:
        CoinbaseSession.load_symbols([products])
        session = CoinbaseSession(symbols)
        return session

    return _corpus("coinbase", records, opener, ())


@pytest.fixture(scope="module")
def corpora(shared_data: Path) -> dict[str, Corpus]:
    directory = shared_data / "recordings" / "cryptofeed"
    out = {v: _recording_corpus(v, directory) for v in VENUES if v != "coinbase"}
    out["coinbase"] = _coinbase_corpus(directory)
    return out


def _discards(session: VenueSession) -> int:
    """Updates the venue's documented procedure drops: already in a fresh snapshot, or awaiting one."""
    return (
        getattr(session, "stale", 0) + getattr(session, "discarded", 0) + session.maintainer.dropped_updates
    )


def _wrong_book(session: VenueSession, model: BookModel, symbol: str) -> str | None:
    book = session.book(symbol)
    if book is None:
        return None
    if symbol not in model.books:
        return "book served although no snapshot of it was emitted since its last Resync"
    asks, bids = book.curve_levels(DEPTH)
    want_asks, want_bids = model.top(symbol, DEPTH)
    if (asks, bids) != (want_asks, want_bids):
        ours, theirs = f"{asks[:2]}/{bids[:2]}", f"{want_asks[:2]}/{want_bids[:2]}"
        return f"top {DEPTH} levels differ from the events: {ours} vs {theirs}"
    if book.is_crossed():
        return f"crossed: {book.best_bid()} >= {book.best_ask()}"
    return None


def _voided(events: Sequence[FeedEvent]) -> bool:
    return any(
        isinstance(e, Resync)
        or (isinstance(e, FeedError) and e.kind is not FeedErrorKind.SNAPSHOT_UNAVAILABLE)
        for e in events
    )


def _run(corpus: Corpus, mutations: dict[int, tuple[str, str]], tally: Tally) -> None:
    """Replay ``corpus`` with ``mutations`` (record index -> (kind, text)) and check every invariant."""
    rest = list(corpus.rest)
    for index, (_kind, text) in list(mutations.items()):
        if index < 0:  # a REST answer served on request (Binance): mutate the served copy
            url, _ = rest[-index - 1]
            rest[-index - 1] = (url, text)
    session = corpus.open(rest)
    symbols = session.symbols()
    model = BookModel()
    for event in start(session):
        model.apply(event)
    stream = {i: t for i, t in mutations.items() if i >= 0}
    last = max(stream, default=min(len(corpus.records), 60)) + TAIL
    for index, record in enumerate(corpus.records[:last]):
        if index not in stream:
            for event in step(session, record):
                model.apply(event)
            continue
        kind, text = stream[index]
        tally.attempt(kind)
        live_before = {s for s in symbols if session.book(s) is not None}
        discards = _discards(session)
        session.reconnect_requested = False
        try:
            events = step(session, dataclasses.replace(record, payload=text))
        except Exception as exc:  # anything escaping a session is the crash we count
            tally.fail("crash", f"{type(exc).__name__}: {exc!s:.200} on a {kind} of {record.source}")
        for event in events:
            model.apply(event)
        for symbol in symbols:
            problem = _wrong_book(session, model, symbol)
            if problem is not None:
                tally.fail("wrong book kept live", f"{symbol} after a {kind} of {record.source}: {problem}")
        resynced = {e.symbol for e in events if isinstance(e, Resync)}
        live_after = {s for s in symbols if session.book(s) is not None}
        if not (live_before - live_after) <= resynced:
            tally.fail(
                "unannounced void", f"{sorted(live_before - live_after - resynced)} at {record.source}"
            )
        read = any(isinstance(e, BookSnapshot | BookUpdate) for e in events)
        if _voided(events):
            tally.outcome("voided")
            if corpus.venue in RESUBSCRIBE and not session.reconnect_requested:
                tally.fail("no resubscription", f"a void on {corpus.venue} did not ask to resubscribe")
            if corpus.venue in RESUBSCRIBE:
                return  # the live feed reconnects here; the replay has no fresh subscription to follow
        elif read:
            tally.outcome("read as valid")
        elif corpus.touched[index] & live_before:
            if _discards(session) > discards:
                tally.outcome("dropped by the venue's procedure")
            else:
                tally.fail("silent skip", f"a {kind} of {record.source} changed nothing and voided nothing")
        else:
            tally.outcome("no book content")
    for symbol in symbols:
        problem = _wrong_book(session, model, symbol)
        if problem is not None:
            tally.fail("wrong book kept live", f"{symbol} at the end: {problem}")


@st.composite
def _mutations(draw: st.DrawFn, corpus: Corpus) -> dict[int, tuple[str, str]]:
    count = draw(st.integers(1, 3))
    out: dict[int, tuple[str, str]] = {}
    for _ in range(count):
        if corpus.rest and draw(st.integers(0, 9)) == 0:
            index = -1 - draw(st.integers(0, len(corpus.rest) - 1))
            text = corpus.rest[-index - 1][1]
        else:
            pool = corpus.book_positions if draw(st.integers(0, 4)) else corpus.positions
            index = draw(st.sampled_from(pool))
            text = corpus.records[index].payload
        out[index] = draw(mutated_json(text))
    return out


@pytest.mark.parametrize("venue", VENUES)
def test_feed_parser_survives_mutated_recordings(corpora: dict[str, Corpus], venue: str) -> None:
    corpus = corpora[venue]
    tally = TALLIES[venue]

    @fuzz_settings(EXAMPLES[venue])
    @given(st.data())
    def explore(data: st.DataObject) -> None:
        _run(corpus, data.draw(_mutations(corpus)), tally)

    try:
        explore()
    finally:
        tally.print()
    assert not tally.failures, tally.report()
