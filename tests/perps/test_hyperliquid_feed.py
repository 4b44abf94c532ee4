"""Hyperliquid ``l2Book`` and funding (issue 13), held out against the official SDK's recorded answers.

The SDK's cassette holds a real ``l2Book`` answer (``POST /info``, DYDX, July 2023); the websocket pushes the
same ``L2BookData`` under ``{"channel": "l2Book", "data": ...}`` (SDK ``utils/types.py``). Each message is a
full book: the book after it must be exactly its levels, whatever came before.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.feeds.venues.hyperliquid import HyperliquidSession
from agents.perps.streams import FundingClock
from sdk.adapters.events import BookSnapshot, FeedError, FeedErrorKind, Funding

CASSETTES = Path("recordings") / "hyperliquid-python-sdk"
META = {"universe": [{"maxLeverage": 50, "name": "BTC", "szDecimals": 5}]}


def _answers(shared_data: Path, name: str) -> list[Any]:
    cassette = yaml.safe_load((shared_data / CASSETTES / name).read_text())
    return [json.loads(i["response"]["body"]["string"]) for i in cassette["interactions"]]


def _session(meta: Any, symbols: list[str]) -> HyperliquidSession:
    HyperliquidSession.load_symbols([json.dumps(meta)])
    session = HyperliquidSession(symbols, trades=False, cross_check=False)
    session.start()
    return session


def _push(channel: str, data: Any) -> str:
    return json.dumps({"channel": channel, "data": data})


@pytest.mark.shared
def test_recorded_l2_book_maintains_the_book(shared_data: Path) -> None:
    meta, book = _answers(shared_data, "test_get_l2_snapshot.yaml")
    assert book["coin"] == "DYDX" and len(book["levels"]) == 2
    session = _session(meta, ["DYDX-USD-PERP"])
    events = session.on_message(_push("subscriptionResponse", {"method": "subscribe"}), 0.5)
    assert events == []
    events = session.on_message(_push("l2Book", book), 1.0)
    assert [type(e) for e in events] == [BookSnapshot]
    held = session.book("DYDX-USD-PERP")
    assert held is not None and not held.is_crossed()
    bids = [(float(x["px"]), float(x["sz"])) for x in book["levels"][0]]
    asks = [(float(x["px"]), float(x["sz"])) for x in book["levels"][1]]
    assert list(held.bids.all_levels()) == bids and list(held.asks.all_levels()) == asks
    assert held.best_bid() == 2.111 and session.book_ms["DYDX-USD-PERP"] == book["time"]
    # the next full book replaces it entirely (a level absent from it is gone)
    later = dict(book, time=book["time"] + 500, levels=[book["levels"][0][2:], book["levels"][1][:3]])
    session.on_message(_push("l2Book", later), 2.0)
    held = session.book("DYDX-USD-PERP")
    assert held is not None and held.best_bid() == bids[2][0] and len(held.asks.all_levels()) == 3
    # an older snapshot than the book's is skipped, not applied
    session.on_message(_push("l2Book", book), 3.0)
    held = session.book("DYDX-USD-PERP")
    assert held is not None and held.best_bid() == bids[2][0] and session.stale == 1


@pytest.mark.shared
def test_recorded_meta_gives_the_symbol_map(shared_data: Path) -> None:
    meta, _ = _answers(shared_data, "test_get_l2_snapshot.yaml")
    session = _session(meta, ["BTC-USD-PERP", "ETH-USD-PERP"])
    assert session.feed.std_symbol_to_exchange_symbol("BTC-USD-PERP") == "BTC"
    sent: list[str] = []

    class Conn:
        def __init__(self) -> None:
            self.subscription = dict(session.feed.subscription)

        async def write(self, msg: str) -> None:
            sent.append(msg)

    coro = session.feed.subscribe(Conn())
    with pytest.raises(StopIteration):
        coro.send(None)
    kinds = sorted(
        (json.loads(m)["subscription"]["type"], json.loads(m)["subscription"]["coin"]) for m in sent
    )
    assert kinds == [
        ("activeAssetCtx", "BTC"),
        ("activeAssetCtx", "ETH"),
        ("l2Book", "BTC"),
        ("l2Book", "ETH"),
    ]


def test_asset_context_is_hourly_funding_settled_on_the_hour() -> None:
    session = _session(META, ["BTC-USD-PERP"])
    clock = FundingClock()
    hour = 1_689_631_200_000  # a whole hour (ms)
    settled = []
    for n, (offset_ms, rate, mark) in enumerate(
        [(-600_000, "0.0000125", "30100.5"), (-1_000, "0.0000130", "30101.0"), (2_000, "0.00002", "30200")]
    ):
        ctx = {"funding": rate, "markPx": mark, "oraclePx": mark, "openInterest": "1200.5"}
        events = session.on_message(
            _push("activeAssetCtx", {"coin": "BTC", "ctx": ctx}), (hour + offset_ms) / 1e3
        )
        assert len(events) == 1 and isinstance(events[0], Funding), n
        assert events[0].interval_s == 3600.0
        settled += clock.observe(events[0])
    # the hour passed once: settled at the rate and mark last seen before it
    assert [(e.time_ms, str(e.rate), str(e.mark)) for e in settled] == [(hour, "0.000013", "30101.0")]
    assert session.contexts["BTC-USD-PERP"]["openInterest"] == "1200.5"


def test_undocumented_or_mangled_messages_void_the_books() -> None:
    session = _session(META, ["BTC-USD-PERP"])
    good = {
        "coin": "BTC",
        "time": 1,
        "levels": [[{"px": "100", "sz": "1", "n": 1}], [{"px": "101", "sz": "2", "n": 1}]],
    }
    session.on_message(_push("l2Book", good), 1.0)
    assert session.book("BTC-USD-PERP") is not None
    for bad in (
        _push("candle", {}),
        _push("l2Book", dict(good, levels=[good["levels"][0]])),
        _push(
            "l2Book",
            dict(
                good,
                time=2,
                levels=[[{"px": "100", "sz": "1", "n": 1}, {"px": "100.5", "sz": "1", "n": 1}], []],
            ),
        ),
        _push("l2Book", dict(good, time=3, levels=[[{"px": "nan", "sz": "1", "n": 1}], []])),
    ):
        events = session.on_message(bad, 2.0)
        assert any(isinstance(e, FeedError) for e in events), bad
        assert session.book("BTC-USD-PERP") is None
        session.on_message(_push("l2Book", dict(good, time=10)), 3.0)
    errors = session.on_message(_push("error", "Invalid subscription"), 4.0)
    assert any(isinstance(e, FeedError) and e.kind is FeedErrorKind.MALFORMED for e in errors)


_SIDE = st.lists(
    st.tuples(st.integers(1, 500), st.sampled_from(["0.5", "1", "12.25"])),
    max_size=20,
    unique_by=lambda t: t[0],
)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(_SIDE, _SIDE), min_size=1, max_size=8))
def test_property_the_book_is_always_the_last_snapshot(books) -> None:
    session = _session(META, ["BTC-USD-PERP"])
    for n, (bid_ticks, ask_ticks) in enumerate(books):
        bids = [{"px": f"{1000 - t}", "sz": s, "n": 1} for t, s in sorted(bid_ticks)]
        asks = [{"px": f"{1000 + t}", "sz": s, "n": 1} for t, s in sorted(ask_ticks)]
        session.on_message(_push("l2Book", {"coin": "BTC", "time": n, "levels": [bids, asks]}), float(n))
    bid_ticks, ask_ticks = books[-1]
    held = session.book("BTC-USD-PERP")
    if held is None:
        assert not bid_ticks and not ask_ticks
        return
    assert list(held.bids.all_levels()) == [(1000.0 - t, float(s)) for t, s in sorted(bid_ticks)]
    assert list(held.asks.all_levels()) == [(1000.0 + t, float(s)) for t, s in sorted(ask_ticks)]
