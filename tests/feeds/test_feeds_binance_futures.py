"""Binance USD-M futures depth chain (issue 13): ``pu == previous u`` links events, not ``U == prev u + 1``.

The rule (USDⓈ-M futures websocket market streams, "How to manage a local order book correctly"): drop events
with ``u < lastUpdateId``; the first processed event has ``U <= lastUpdateId <= u``; after that each event's
``pu`` equals the previous event's ``u``, otherwise resynchronise from a snapshot. Futures update ids are
shared by all symbols, so ``U`` of the next event usually lies far past the previous ``u``. Spot keeps its
own rule.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.feeds.recording import LineKind, RecordedLine, Recording, configuration, merge, rest_bodies
from agents.feeds.replay import replay_events
from agents.feeds.sequence import SPOT_CHAIN, USDM_FUTURES_CHAIN, ChainRule, UpdateIdChain, Verdict
from agents.feeds.session import RecordedRest
from agents.feeds.venues.binance import BinanceFuturesSession, BinanceSession
from sdk.adapters.events import BookSnapshot, BookUpdate, FeedError, FeedErrorKind, FeedEvent, Resync
from tests.feeds.helpers_feeds import model_of, received_indices, recordings

Event = tuple[int, int, int]
"""``(U, u, pu)`` of one depth event."""


def _verdicts(chain: UpdateIdChain, events: Iterable[Event]) -> list[Verdict]:
    return [chain.accept(first, last, previous) for first, last, previous in events]


# -- the rule ------------------------------------------------------------------------------------------------
def test_futures_chain_follows_pu_where_u_skips_ahead():
    """The issue's case: the second event does not start at ``previous u + 1`` but names it as ``pu``."""
    chain = UpdateIdChain(1000, USDM_FUTURES_CHAIN)
    assert chain.accept(980, 995, 970) is Verdict.STALE  # u < lastUpdateId: in the snapshot
    assert chain.accept(990, 1005, 995) is Verdict.APPLY  # bridges the snapshot
    assert chain.accept(1017, 1030, 1005) is Verdict.APPLY  # U != 1006, pu == previous u
    assert chain.accept(1100, 1100, 1030) is Verdict.APPLY
    assert chain.last_id == 1100
    # the same events under the spot rule: the false gap of the issue, on the second update
    spot = UpdateIdChain(1000, SPOT_CHAIN)
    assert _verdicts(spot, [(980, 995, 970), (990, 1005, 995), (1017, 1030, 1005)]) == [
        Verdict.STALE,
        Verdict.APPLY,
        Verdict.GAP,
    ]


def test_futures_chain_gaps_when_pu_is_not_the_previous_u():
    chain = UpdateIdChain(1000, USDM_FUTURES_CHAIN)
    assert chain.accept(990, 1005, 980) is Verdict.APPLY
    assert chain.accept(1006, 1010, 1004) is Verdict.GAP  # U == previous u + 1 is no excuse: pu decides
    chain = UpdateIdChain(1000, USDM_FUTURES_CHAIN)
    assert chain.accept(990, 1005, 980) is Verdict.APPLY
    assert chain.accept(1020, 1030, 1012) is Verdict.GAP  # a missed event ended at 1012
    chain = UpdateIdChain(1000, USDM_FUTURES_CHAIN)
    assert chain.accept(990, 1005, 980) is Verdict.APPLY
    assert chain.accept(1020, 1030, None) is Verdict.GAP  # no pu: cannot be linked
    assert "(previous 1012)" in chain.gap_detail(1020, 1030, 1012)


def test_futures_chain_snapshot_bridging_rule():
    """First event: ``U <= lastUpdateId <= u`` (spot: ``U <= lastUpdateId + 1 <= u``); ``u < lastUpdateId`` is
    stale (spot: ``u <= lastUpdateId``); pu is not checked on the first event."""
    assert UpdateIdChain(1000, USDM_FUTURES_CHAIN).accept(999, 999, 1) is Verdict.STALE
    assert UpdateIdChain(1000, USDM_FUTURES_CHAIN).accept(995, 1000, 7) is Verdict.APPLY  # u == lastUpdateId
    assert UpdateIdChain(1000, USDM_FUTURES_CHAIN).accept(1000, 1003, 7) is Verdict.APPLY  # U == lastUpdateId
    assert UpdateIdChain(1000, USDM_FUTURES_CHAIN).accept(1001, 1003, 1000) is Verdict.GAP  # 1000 not covered
    assert UpdateIdChain(1000, USDM_FUTURES_CHAIN).accept(1010, 1003, 7) is Verdict.GAP  # u < U
    # spot differs exactly at the edges
    assert UpdateIdChain(1000, SPOT_CHAIN).accept(995, 1000) is Verdict.STALE
    assert UpdateIdChain(1000, SPOT_CHAIN).accept(1001, 1003) is Verdict.APPLY
    assert UpdateIdChain(1000).rule is SPOT_CHAIN  # the default stays spot
    # a stale run before the bridge, then the chain
    chain = UpdateIdChain(1000, USDM_FUTURES_CHAIN)
    assert _verdicts(chain, [(900, 950, 800), (960, 990, 950), (991, 1004, 990), (1009, 1012, 1004)]) == [
        Verdict.STALE,
        Verdict.STALE,
        Verdict.APPLY,
        Verdict.APPLY,
    ]


def test_futures_chain_refuses_an_event_from_the_past_once_running():
    chain = UpdateIdChain(1000, USDM_FUTURES_CHAIN)
    assert chain.accept(990, 1005, 980) is Verdict.APPLY
    assert chain.accept(1001, 1005, 1005) is Verdict.GAP  # pu matches, yet it ends where the chain is


# -- properties ----------------------------------------------------------------------------------------------
@st.composite
def futures_streams(draw: st.DrawFn) -> tuple[int, list[Event], int]:
    """A valid futures stream around a snapshot: ``(lastUpdateId, events, number of stale events)``.

    Ids are global across symbols, so an event's ``U`` lies any distance past the previous ``u``."""
    start = draw(st.integers(0, 10**12))
    steps = draw(st.lists(st.tuples(st.integers(0, 50), st.integers(0, 20)), min_size=2, max_size=40))
    events: list[Event] = []
    previous = start
    for skip, length in steps:
        first = previous + 1 + skip
        last = first + length
        events.append((first, last, previous))
        previous = last
    # the snapshot lies within some event's [U, u]: the events ending before it are stale
    bridge = draw(st.integers(0, len(events) - 1))
    snapshot = draw(st.integers(events[bridge][0], events[bridge][1]))
    stale = sum(1 for _, last, _ in events if last < snapshot)
    assert stale == bridge
    return snapshot, events, stale


@settings(max_examples=300, deadline=None)
@given(futures_streams())
def test_property_a_valid_futures_stream_never_gaps(stream):
    snapshot, events, stale = stream
    verdicts = _verdicts(UpdateIdChain(snapshot, USDM_FUTURES_CHAIN), events)
    assert verdicts == [Verdict.STALE] * stale + [Verdict.APPLY] * (len(events) - stale)


@settings(max_examples=300, deadline=None)
@given(futures_streams(), st.data())
def test_property_a_missed_futures_event_is_always_detected(stream, data):
    """Drop one applied event (a missed message): the next event is a gap, everything before is unchanged."""
    snapshot, events, stale = stream
    if len(events) - stale < 2:
        return
    dropped = data.draw(st.integers(stale, len(events) - 2))
    kept = events[:dropped] + events[dropped + 1 :]
    verdicts = _verdicts(UpdateIdChain(snapshot, USDM_FUTURES_CHAIN), kept[: dropped + 1])
    assert verdicts == [Verdict.STALE] * stale + [Verdict.APPLY] * (dropped - stale) + [Verdict.GAP]


@settings(max_examples=300, deadline=None)
@given(futures_streams(), st.data())
def test_property_a_broken_pu_is_always_detected(stream, data):
    """Change one running event's ``pu`` to anything but the previous ``u``: that event is a gap."""
    snapshot, events, stale = stream
    if len(events) - stale < 2:
        return
    broken = data.draw(st.integers(stale + 1, len(events) - 1))
    first, last, previous = events[broken]
    wrong = data.draw(st.integers(0, 2 * last + 10).filter(lambda pu: pu != previous))
    mangled = [*events[:broken], (first, last, wrong)]
    verdicts = _verdicts(UpdateIdChain(snapshot, USDM_FUTURES_CHAIN), mangled)
    assert verdicts == [Verdict.STALE] * stale + [Verdict.APPLY] * (broken - stale) + [Verdict.GAP]


def _spot_reference(snapshot: int, events: Iterable[tuple[int, int]]) -> list[Verdict]:
    """The spot chain as it was before the rule became data (the code of ``UpdateIdChain.accept``)."""
    last_id, running, out = snapshot, False, []
    for first, last in events:
        expected = last_id + 1
        if last < first:
            out.append(Verdict.GAP)
        elif last < expected:
            out.append(Verdict.GAP if running else Verdict.STALE)
        elif (running and first != expected) or (not running and first > expected):
            out.append(Verdict.GAP)
        else:
            last_id, running = last, True
            out.append(Verdict.APPLY)
    return out


@settings(max_examples=300, deadline=None)
@given(
    st.integers(0, 200),
    st.lists(st.tuples(st.integers(0, 220), st.integers(0, 220)), max_size=30),
    st.integers(0, 220),
)
def test_property_spot_verdicts_are_unchanged(snapshot, events, previous):
    """Spot ignores ``pu`` and judges every event exactly as before."""
    chain = UpdateIdChain(snapshot, SPOT_CHAIN)
    assert [chain.accept(f, u, previous) for f, u in events] == _spot_reference(snapshot, events)


def test_the_rules_are_data():
    assert ChainRule("spot", bridge=1, links_previous_id=False) == SPOT_CHAIN
    assert ChainRule("usd-m futures", bridge=0, links_previous_id=True) == USDM_FUTURES_CHAIN
    assert BinanceSession.chain_rule is SPOT_CHAIN
    assert BinanceFuturesSession.chain_rule is USDM_FUTURES_CHAIN


# -- the session (the live parsing path) ---------------------------------------------------------------------
FUTURES_INFO = {
    "symbols": [
        {
            "symbol": "BTCUSDT",
            "status": "TRADING",
            "contractType": "PERPETUAL",
            "baseAsset": "BTC",
            "quoteAsset": "USDT",
            "filters": [{"filterType": "PRICE_FILTER", "tickSize": "0.10"}],
        }
    ]
}
FUTURES_SNAPSHOT_URL = "https://fapi.binance.com/fapi/v1/depth?symbol=BTCUSDT&limit=1000"
PERP = "BTC-USDT-PERP"


def _snapshot(last_id: int, bid: str = "100.0", ask: str = "100.5") -> str:
    body = {"lastUpdateId": last_id, "E": 1700000000000, "bids": [[bid, "1"]], "asks": [[ask, "1"]]}
    return json.dumps(body)


def _depth(first: int, last: int, previous: int, bid: str = "100.1") -> str:
    data = {
        "e": "depthUpdate",
        "E": 1700000000100,
        "T": 1700000000090,
        "s": "BTCUSDT",
        "U": first,
        "u": last,
        "pu": previous,
        "b": [[bid, "2"]],
        "a": [],
    }
    return json.dumps({"stream": "btcusdt@depth@100ms", "data": data})


def _futures_session(*snapshots: str) -> BinanceFuturesSession:
    BinanceFuturesSession.load_symbols([json.dumps(FUTURES_INFO)])
    rest = RecordedRest([(FUTURES_SNAPSHOT_URL, body) for body in snapshots])
    session = BinanceFuturesSession([PERP], rest=rest, trades=False, cross_check=False)
    session.start()
    return session


def test_futures_session_second_update_is_no_gap():
    session = _futures_session(_snapshot(1000))
    first = session.on_message(_depth(990, 1005, 980), 1.0)
    assert [type(e) for e in first] == [BookSnapshot, BookUpdate]
    second = session.on_message(_depth(1017, 1030, 1005, bid="100.2"), 2.0)
    assert [type(e) for e in second] == [BookUpdate] and second[0].sequence == 1030
    assert session.gaps == 0 and session.chains[PERP].last_id == 1030
    book = session.book(PERP)
    assert book is not None and book.best_bid() == 100.2


def test_futures_session_broken_pu_voids_the_book_and_resyncs():
    session = _futures_session(_snapshot(1000), _snapshot(1200, bid="99.0"))
    session.on_message(_depth(990, 1005, 980), 1.0)
    events = session.on_message(_depth(1040, 1050, 1030), 2.0)  # the event ending at 1030 was missed
    assert [type(e) for e in events] == [FeedError, Resync]
    assert isinstance(events[0], FeedError) and events[0].kind is FeedErrorKind.SEQUENCE_GAP
    assert "previous 1030" in events[0].detail and "chain at 1005" in events[0].detail
    assert session.gaps == 1 and session.book(PERP) is None and PERP not in session.chains
    # the symbol's next message fetches a fresh snapshot; the chain restarts on the futures rule
    events = session.on_message(_depth(1190, 1210, 1180, bid="99.5"), 3.0)
    assert [type(e) for e in events] == [BookSnapshot, BookUpdate]
    assert session.chains[PERP].rule is USDM_FUTURES_CHAIN and session.chains[PERP].last_id == 1210
    book = session.book(PERP)
    assert book is not None and book.best_bid() == 99.5


def test_futures_session_reads_futures_book_tickers():
    """Futures name ``bookTicker`` in ``e`` (spot does not): read, not refused."""
    session = _futures_session(_snapshot(1000))
    session.on_message(_depth(990, 1005, 980), 1.0)
    data = {"e": "bookTicker", "u": 1006, "s": "BTCUSDT", "b": "100.1", "B": "2", "a": "100.5", "A": "1"}
    data |= {"T": 1700000000200, "E": 1700000000201}
    ticker = json.dumps({"stream": "btcusdt@bookTicker", "data": data})
    assert session.on_message(ticker, 2.0) == [] and session.book(PERP) is not None


def test_futures_depth_without_pu_is_refused():
    session = _futures_session(_snapshot(1000))
    message = json.loads(_depth(990, 1005, 980))
    del message["data"]["pu"]
    events = session.on_message(json.dumps(message), 1.0)
    assert any(isinstance(e, FeedError) and e.kind is FeedErrorKind.MALFORMED for e in events)
    assert session.book(PERP) is None


# -- the recording (cryptofeed's BINANCE_FUTURES sample) -----------------------------------------------------
def _open_futures(shared_data: Path, cls: type[BinanceFuturesSession] = BinanceFuturesSession):
    """``agents.feeds.replay.load_recording`` for the futures recording (not in its venue table)."""
    recording = Recording.find(recordings(shared_data), "BINANCE_FUTURES")
    symbols = configuration(recording.venue_file)["l2_book"]
    cls.load_symbols([body for _, body in rest_bodies(recording.venue_file)])
    rest = [answer for path in recording.http_files for answer in rest_bodies(path)]
    records = [r for r in merge(recording.ws_files) if r.kind in (LineKind.RECEIVED, LineKind.CORRUPT)]
    session = cls(symbols, rest=RecordedRest(rest))
    return session, records, symbols


def _errors(events: list[FeedEvent]) -> list[FeedEvent]:
    return [e for e in events if isinstance(e, FeedError | Resync)]


@pytest.mark.shared
def test_futures_recording_follows_the_pu_chain_with_no_gap(shared_data):
    session, records, symbols = _open_futures(shared_data)
    events = list(replay_events(session, records))
    assert _errors(events) == []
    assert session.gaps == 0 and session.errors == 0
    snapshots = [e for e in events if isinstance(e, BookSnapshot)]
    updates = [e for e in events if isinstance(e, BookUpdate)]
    # cryptofeed's playback counts 756 book callbacks: 4 snapshots + 752 updates (12 events were stale)
    assert len(snapshots) == 4 and len(updates) == 752 and session.stale == 12
    for symbol in symbols:
        pair = symbol.removesuffix("-PERP").replace("-", "")
        depth = [
            json.loads(r.payload)["data"]
            for r in records
            if f'"s":"{pair}"' in r.payload and "depthUpdate" in r.payload
        ]
        assert session.chains[symbol].last_id == depth[-1]["u"]
        # the recording really is a futures chain: U skips ahead, pu links
        assert sum(b["U"] != a["u"] + 1 for a, b in itertools.pairwise(depth)) > len(depth) // 2
        assert all(b["pu"] == a["u"] for a, b in itertools.pairwise(depth))
    model = model_of(events)
    for symbol in symbols:
        book = session.book(symbol)
        assert book is not None and not book.is_crossed(), symbol
        assert book.curve_levels(10**6) == model.top(symbol, 10**6), symbol


@pytest.mark.shared
def test_futures_recording_under_the_spot_rule_shows_the_issue(shared_data):
    class SpotRuled(BinanceFuturesSession):
        chain_rule = SPOT_CHAIN

    session, records, _ = _open_futures(shared_data, SpotRuled)
    events = list(replay_events(session, records))
    gaps = [e for e in events if isinstance(e, FeedError) and e.kind is FeedErrorKind.SEQUENCE_GAP]
    assert gaps and session.gaps == len(gaps)


@pytest.mark.shared
def test_futures_recording_missed_message_is_a_gap(shared_data):
    session, records, _ = _open_futures(shared_data)
    depth = [i for i in received_indices(records, '"s":"SUSHIUSDT"') if "depthUpdate" in records[i].payload]
    cut = depth[20]
    kept: list[RecordedLine] = records[:cut] + records[cut + 1 :]
    events = list(replay_events(session, kept))
    kinds = [(e.kind, e.symbol) for e in events if isinstance(e, FeedError)]
    # one gap, then no recorded snapshot is left to resynchronise from
    assert kinds == [
        (FeedErrorKind.SEQUENCE_GAP, "SUSHI-USDT-PERP"),
        (FeedErrorKind.SNAPSHOT_UNAVAILABLE, None),
    ]
    assert session.gaps == 1 and session.book("SUSHI-USDT-PERP") is None
    assert all(session.book(s) is not None for s in ("AKRO-USDT-PERP", "KEEP-USDT-PERP", "CTK-USDT-PERP"))
