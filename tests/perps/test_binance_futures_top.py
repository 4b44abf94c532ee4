"""Binance USD-M: the book the ``pu`` chain maintains has, at every ``bookTicker``, the venue's top of book
(issue 13's held-out check on cryptofeed's BINANCE_FUTURES recording, 764 depth events, 613 book tickers).

A ``bookTicker`` carries the update id ``u`` of the book state it shows. Update ids are shared by every
symbol, so between two depth events of one symbol (``prev.u`` and ``next.U``) the symbol's book does not
change: a ticker with ``prev.u <= u < next.U`` must show exactly the book after ``prev``, prices and sizes.
Tickers whose ``u`` falls inside a depth event's own range ``[U, u)`` show a state within a 100 ms batch
that the diff stream never exposes; for those the check runs the other way: the book after each depth event
shows the latest ticker at or before its ``u`` (the ticker stream pushes every change of the best levels).
"""

from __future__ import annotations

import bisect
import json
from pathlib import Path

import pytest

from agents.feeds.recording import LineKind, Recording, configuration, merge, rest_bodies
from agents.feeds.replay import start, step
from agents.feeds.session import RecordedRest
from agents.feeds.venues.binance import BinanceFuturesSession
from sdk.adapters.events import FeedError, Resync
from tests.feeds.helpers_feeds import recordings

Top = tuple[float, float, float, float]


@pytest.mark.shared
def test_top_of_book_equals_the_book_ticker(shared_data: Path) -> None:
    recording = Recording.find(recordings(shared_data), "BINANCE_FUTURES")
    symbols = configuration(recording.venue_file)["l2_book"]
    BinanceFuturesSession.load_symbols([body for _, body in rest_bodies(recording.venue_file)])
    rest = [answer for path in recording.http_files for answer in rest_bodies(path)]
    records = [r for r in merge(recording.ws_files) if r.kind in (LineKind.RECEIVED, LineKind.CORRUPT)]
    session = BinanceFuturesSession(symbols, rest=RecordedRest(rest))
    # per symbol: (U, u, top of book after the event) of each applied depth event, and the tickers
    states: dict[str, list[tuple[int, int, Top]]] = {s: [] for s in symbols}
    tickers: dict[str, list[tuple[int, Top]]] = {s: [] for s in symbols}
    assert not [e for e in start(session) if isinstance(e, FeedError | Resync)]
    for record in records:
        events = step(session, record)
        assert not [e for e in events if isinstance(e, FeedError | Resync)]
        data = json.loads(record.payload)["data"]
        symbol = session.feed.exchange_symbol_to_std_symbol(data["s"])
        if data["e"] == "depthUpdate":
            book = session.book(symbol)
            chain = session.chains.get(symbol)
            if book is not None and chain is not None and chain.last_id == data["u"]:
                (bid,) = book.bids.levels(1)
                (ask,) = book.asks.levels(1)
                states[symbol].append((data["U"], data["u"], (bid[0], bid[1], ask[0], ask[1])))
        elif data["e"] == "bookTicker":
            top = (float(data["b"]), float(data["B"]), float(data["a"]), float(data["A"]))
            tickers[symbol].append((data["u"], top))
    compared = inside = 0
    for symbol in symbols:
        applied = states[symbol]
        assert applied, symbol
        lasts = [u for _, u, _ in applied]
        for update_id, top in tickers[symbol]:
            i = bisect.bisect_right(lasts, update_id) - 1
            if i < 0:
                continue  # before the first synchronised book
            following_first = applied[i + 1][0] if i + 1 < len(applied) else None
            if following_first is not None and update_id >= following_first:
                inside += 1  # within the next event's own batch
                continue
            if following_first is None and update_id > lasts[i]:
                continue  # past the recording's last depth event
            assert applied[i][2] == top, f"{symbol}: ticker u={update_id} {top} vs book {applied[i][2]}"
            compared += 1
    total = sum(len(t) for t in tickers.values())
    assert total == 613 and compared + inside >= 600 and compared >= 40
    # the other way round: the book after every depth event shows the latest ticker at or before its ``u``
    # (the ticker stream pushes every change of the best prices or sizes, so none came later in the batch)
    checked = 0
    for symbol in symbols:
        ticker_ids = [u for u, _ in tickers[symbol]]
        for _, last_id, top in states[symbol]:
            j = bisect.bisect_right(ticker_ids, last_id) - 1
            if j < 0:
                continue  # no ticker recorded yet
            assert tickers[symbol][j][1] == top, f"{symbol}: book at u={last_id} {top}"
            checked += 1
    assert checked >= 700, checked


def test_mark_price_stream_gives_funding_settled_at_its_time() -> None:
    """``markPrice@1s`` (USD-M docs "Mark Price Stream"): ``r`` is the rate settled at ``T``."""
    from agents.perps.streams import FundingClock
    from sdk.adapters.events import Funding
    from tests.feeds.test_feeds_binance_futures import _futures_session

    session = _futures_session()
    clock = FundingClock()
    settled = []
    due = 1_700_006_400_000
    for n, (event_ms, rate, mark, next_ms) in enumerate(
        [
            (due - 2_000, "0.00010000", "37000.10", due),
            (due - 1_000, "0.00012000", "37001.20", due),
            (due + 1_000, "0.00003000", "37010.00", due + 8 * 3_600_000),
        ]
    ):
        data = {"e": "markPriceUpdate", "E": event_ms, "s": "BTCUSDT", "p": mark, "i": "36990.0"}
        data |= {"P": "37005.0", "r": rate, "T": next_ms}
        events = session.on_message(json.dumps({"stream": "btcusdt@markPrice@1s", "data": data}), float(n))
        assert len(events) == 1 and isinstance(events[0], Funding)
        assert events[0].symbol == "BTC-USDT-PERP" and events[0].interval_s == 8 * 3600
        settled += clock.observe(events[0])
    assert [(e.time_ms, str(e.rate), str(e.mark)) for e in settled] == [(due, "0.00012", "37001.2")]
    bad = {"e": "markPriceUpdate", "E": due, "s": "BTCUSDT", "p": "-1", "r": "0.0001", "T": due}
    events = session.on_message(json.dumps({"stream": "btcusdt@markPrice@1s", "data": bad}), 9.0)
    assert any(isinstance(e, FeedError) and "p:" in e.detail for e in events)
