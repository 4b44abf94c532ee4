"""Bybit v5 linear books and funding (issue 13), held out against the official documentation's examples.

The docs' snapshot example elides levels (``...``), so it is repaired only by dropping the elisions and the
trailing commas they leave; its levels are then the book. The delta example continues a book that is not
published: a snapshot one update earlier is built holding the levels the delta removes, and the book after
the delta must be exactly the model's. Properties: any valid stream keeps the model's book; a missed delta
is always a gap that voids the book and asks for a resubscription; a new snapshot resets the chain.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.feeds.venues.bybit import BybitSession
from agents.perps.streams import FundingClock
from sdk.adapters.events import BookSnapshot, BookUpdate, FeedError, FeedErrorKind, Funding, Resync

PERP = "BTC-USDT-PERP"
INSTRUMENTS = {
    "retCode": 0,
    "result": {
        "category": "linear",
        "list": [
            {
                "symbol": "BTCUSDT",
                "contractType": "LinearPerpetual",
                "baseCoin": "BTC",
                "quoteCoin": "USDT",
                "priceFilter": {"tickSize": "0.10"},
            },
            {
                "symbol": "BTC-26DEC25",
                "contractType": "LinearFutures",
                "baseCoin": "BTC",
                "quoteCoin": "USDT",
                "priceFilter": {"tickSize": "0.50"},
            },
        ],
    },
}


def _session() -> BybitSession:
    BybitSession.load_symbols([json.dumps(INSTRUMENTS)])
    session = BybitSession([PERP], trades=False, cross_check=False)
    session.start()
    return session


def _docs(shared_data: Path) -> dict[str, Any]:
    path = shared_data / "recordings" / "docs_examples" / "bybit_v5_doc_examples.json"
    files: dict[str, Any] = json.loads(path.read_text())["files"]
    return files


def _repair(text: str) -> str:
    """Drop the docs' ``...`` elisions and the trailing commas they leave behind."""
    text = re.sub(r"\.\.\.,?", "", text)
    return re.sub(r",(\s*[\]}])", r"\1", text)


def _book(session: BybitSession) -> tuple[dict[float, float], dict[float, float]]:
    book = session.book(PERP)
    assert book is not None
    return dict(book.bids.all_levels()), dict(book.asks.all_levels())


def _message(kind: str, u: int, seq: int, bids: list[list[str]], asks: list[list[str]], ts: int = 1) -> str:
    data = {"s": "BTCUSDT", "b": bids, "a": asks, "u": u, "seq": seq}
    return json.dumps({"topic": "orderbook.50.BTCUSDT", "type": kind, "ts": 1687940967000 + ts, "data": data})


@pytest.mark.shared
def test_docs_snapshot_example_builds_its_book(shared_data: Path) -> None:
    blocks = _docs(shared_data)["docs/v5/websocket/public/orderbook.mdx"]["blocks"]
    snapshot = next(b for b in blocks if b["tab"] == "snapshot")
    assert snapshot["parse_ok"] is False  # the elided example, as published
    session = _session()
    events = session.on_message(_repair(snapshot["text"]), 1.0)
    assert [type(e) for e in events] == [BookSnapshot]
    assert session.chains[PERP].update_id == 18521288 and session.chains[PERP].seq == 7961638724
    bids, asks = _book(session)
    assert bids == {16493.5: 0.006, 16493.0: 0.1}
    assert asks == {16611.0: 0.029, 16612.0: 0.213}


@pytest.mark.shared
def test_docs_delta_example_continues_a_book_exactly(shared_data: Path) -> None:
    blocks = _docs(shared_data)["docs/v5/websocket/public/orderbook.mdx"]["blocks"]
    delta_text = next(b for b in blocks if b["tab"] == "delta")["text"]
    delta = json.loads(delta_text)["data"]
    u, seq = delta["u"], delta["seq"]
    # the book one update earlier: it holds the levels the delta deletes, and others it leaves alone
    before_bids = [["30247.20", "1.000"], ["30240.00", "3.000"], ["30230.00", "2.000"]]
    before_asks = [["30248.70", "0.500"], ["30249.60", "0.700"], ["30260.00", "4.000"]]
    session = _session()
    session.on_message(_message("snapshot", u - 1, seq - 5, before_bids, before_asks), 1.0)
    events = session.on_message(delta_text, 2.0)
    assert [type(e) for e in events] == [BookUpdate] and session.gaps == 0
    model_bids = {float(p): float(s) for p, s in before_bids}
    model_asks = {float(p): float(s) for p, s in before_asks}
    for model, side in ((model_bids, delta["b"]), (model_asks, delta["a"])):
        for price, size in side:
            if float(size) == 0:
                model.pop(float(price), None)
            else:
                model[float(price)] = float(size)
    assert _book(session) == (model_bids, model_asks)
    assert 30240.0 not in model_bids and 30248.7 not in model_asks  # the deletions happened
    # the same delta again (or any delta off the chain) is a missed message: void and resubscribe
    events = session.on_message(delta_text, 3.0)
    gaps = [e for e in events if isinstance(e, FeedError)]
    assert gaps and gaps[0].kind is FeedErrorKind.SEQUENCE_GAP and f"u {u}" in gaps[0].detail
    assert any(isinstance(e, Resync) for e in events)
    assert session.book(PERP) is None and session.reconnect_requested


@pytest.mark.shared
def test_docs_ticker_examples_give_funding_and_mark(shared_data: Path) -> None:
    text = _docs(shared_data)["docs/v5/websocket/public/ticker.mdx"]["blocks"][0]["text"]
    perpetual, future = (
        json.loads(part) for part in re.split(r"^Linear(?:Perpetual|Futures)\n", text, flags=re.M)[1:]
    )
    session = _session()
    events = session.on_message(json.dumps(perpetual), 1.0)
    assert len(events) == 1 and isinstance(events[0], Funding)
    funding = events[0]
    assert funding.symbol == PERP and funding.rate == -0.005 and funding.mark_price == 66666.6
    assert funding.next_funding_ts == 1760342400.0 and funding.interval_s == 8 * 3600
    assert funding.exchange_ts == 1760325052.63
    # a dated future has no funding: its ticker gives no Funding event
    assert session.on_message(json.dumps(future), 2.0) == []
    # a delta carries only what changed: the merged state gives the next event; then the funding time
    # passes and the clock settles the rate announced before it, at the mark seen before it
    clock = FundingClock()
    assert clock.observe(funding) == []
    delta = {"topic": "tickers.BTCUSDT", "type": "delta", "ts": 1760342400500}
    delta["data"] = {"symbol": "BTCUSDT", "markPrice": "66700.00", "nextFundingTime": "1760371200000"}
    (after,) = session.on_message(json.dumps(delta), 3.0)
    assert isinstance(after, Funding) and after.rate == -0.005 and after.mark_price == 66700.0
    (settled,) = clock.observe(after)
    assert settled.time_ms == 1760342400000 and str(settled.rate) == "-0.005"
    assert str(settled.mark) == "66666.6"


def test_unknown_topics_and_refusals_void_the_books() -> None:
    session = _session()
    session.on_message(_message("snapshot", 10, 100, [["100.0", "1"]], [["101.0", "1"]]), 1.0)
    events = session.on_message(json.dumps({"topic": "kline.1.BTCUSDT", "data": []}), 2.0)
    assert any(isinstance(e, FeedError) and e.kind is FeedErrorKind.MALFORMED for e in events)
    assert session.book(PERP) is None
    session.on_message(_message("snapshot", 10, 100, [["100.0", "1"]], [["101.0", "1"]]), 3.0)
    events = session.on_message(json.dumps({"success": False, "ret_msg": "bad", "op": "subscribe"}), 4.0)
    assert any(isinstance(e, FeedError) for e in events) and session.book(PERP) is None
    # a book of another depth than the one subscribed is refused (its truncation differs)
    session.on_message(_message("snapshot", 10, 100, [["100.0", "1"]], [["101.0", "1"]]), 5.0)
    wrong = json.loads(_message("delta", 11, 101, [], []))
    wrong["topic"] = "orderbook.200.BTCUSDT"
    events = session.on_message(json.dumps(wrong), 6.0)
    assert any("orderbook.50" in e.detail for e in events if isinstance(e, FeedError))


# -- properties ----------------------------------------------------------------------------------------------
_PRICES = st.integers(1, 40)


@st.composite
def _streams(draw: st.DrawFn) -> list[tuple[str, list[list[str]], list[list[str]]]]:
    """A snapshot then deltas (and now and then a fresh snapshot); bids below 50, asks above."""
    out = []
    for n in range(draw(st.integers(1, 25))):
        kind = "snapshot" if n == 0 or draw(st.integers(0, 9)) == 0 else "delta"
        sizes = st.sampled_from(["0", "0.5", "1", "2.25"]) if kind == "delta" else st.sampled_from(["1", "3"])
        bids = [[f"{50 - p}.0", s] for p, s in draw(st.dictionaries(_PRICES, sizes, max_size=6)).items()]
        asks = [[f"{50 + p}.0", s] for p, s in draw(st.dictionaries(_PRICES, sizes, max_size=6)).items()]
        out.append((kind, bids, asks))
    return out


def _model(stream: list[tuple[str, list[list[str]], list[list[str]]]]) -> tuple[dict[float, float], ...]:
    bids: dict[float, float] = {}
    asks: dict[float, float] = {}
    for kind, b, a in stream:
        if kind == "snapshot":
            bids, asks = {}, {}
        for side, levels in ((bids, b), (asks, a)):
            for price, size in levels:
                if float(size) == 0:
                    side.pop(float(price), None)
                else:
                    side[float(price)] = float(size)
    return bids, asks


@settings(max_examples=150, deadline=None)
@given(_streams(), st.integers(1, 10**9), st.integers(1, 10**12))
def test_property_valid_streams_keep_the_models_book(stream, first_u, first_seq) -> None:
    session = _session()
    u, seq = first_u, first_seq
    for n, (kind, bids, asks) in enumerate(stream):
        if kind == "snapshot" and n:
            u = 1  # a service restart resets u; the snapshot overwrites the book
        events = session.on_message(_message(kind, u, seq, bids, asks, n), float(n))
        assert not [e for e in events if isinstance(e, FeedError | Resync)]
        u, seq = u + 1, seq + 1 + n % 7  # seq increases, not continuously
    bids, asks = _model(stream)
    book = session.book(PERP)
    if not bids and not asks:
        return
    assert book is not None
    assert (dict(book.bids.all_levels()), dict(book.asks.all_levels())) == (bids, asks)
    assert session.gaps == 0


@settings(max_examples=150, deadline=None)
@given(_streams(), st.data())
def test_property_a_missed_delta_is_always_a_gap(stream, data) -> None:
    if len(stream) < 3:
        return
    dropped = data.draw(st.integers(1, len(stream) - 2))
    following = dropped + 1
    session = _session()
    for n, (_, bids, asks) in enumerate(stream[: following + 1]):
        if n != dropped:  # only the first message is a snapshot here; u counts every message
            kind = "snapshot" if n == 0 else "delta"
            session.on_message(_message(kind, n + 1, 1000 + n, bids, asks, n), float(n))
    assert session.gaps == 1 and session.book(PERP) is None and session.reconnect_requested


def test_public_trades_are_read() -> None:
    """``publicTrade.{symbol}`` (docs ``websocket/public/trade``) through cryptofeed's parser."""
    from sdk.adapters.events import Side, Trade

    BybitSession.load_symbols([json.dumps(INSTRUMENTS)])
    session = BybitSession([PERP], cross_check=False)
    session.start()
    trade = {"T": 1672304486865, "s": "BTCUSDT", "S": "Buy", "v": "0.001", "p": "16578.50"}
    trade |= {"L": "PlusTick", "i": "20f43950-d8dd-5b31-9112-a178eb6023af", "BT": False}
    message = {"topic": "publicTrade.BTCUSDT", "type": "snapshot", "ts": 1672304486868, "data": [trade]}
    (event,) = session.on_message(json.dumps(message), 1.0)
    assert isinstance(event, Trade) and event.symbol == PERP and event.side is Side.BUY
    assert event.price == 16578.5 and event.size == 0.001 and event.exchange_ts == 1672304486.865
