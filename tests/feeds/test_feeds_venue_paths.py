"""Venues whose levels go from cryptofeed's decoded messages straight into our book: one book, exact ids."""

from __future__ import annotations

import json

import pytest

from sdk.adapters.events import BookSnapshot, BookUpdate
from tests.feeds.helpers_feeds import replay


def test_binance_updates_carry_their_own_last_update_id(shared_data):
    source, events = replay(shared_data, "binance")
    depth = {}
    for record in source.records:
        if record.kind.value == "received" and "depthUpdate" in record.payload:
            data = json.loads(record.payload)["data"]
            depth.setdefault(data["s"], set()).add(data["u"])
    last: dict[str, int] = {}
    for event in events:
        if isinstance(event, BookSnapshot):
            last[event.symbol] = event.sequence
        elif isinstance(event, BookUpdate):
            assert event.sequence in depth[event.symbol.replace("-", "")]
            assert event.sequence > last[event.symbol]
            last[event.symbol] = event.sequence


def test_binance_snapshot_address_is_cryptofeeds(shared_data):
    source, _ = replay(shared_data, "binance")
    feed = source.session.feed
    assert (
        feed.snapshot_address("NKNUSDT") == "https://api.binance.com/api/v3/depth?symbol=NKNUSDT&limit=1000"
    )


@pytest.mark.parametrize("venue", ["binance", "bitstamp", "gemini", "kraken"])
def test_only_our_book_is_maintained(shared_data, venue):
    source, events = replay(shared_data, venue)
    library_books = source.session.feed._l2_book.values()  # Gemini's subscribe creates empty ones
    assert all(len(b.book.bids) == 0 and len(b.book.asks) == 0 for b in library_books)
    assert {e.symbol for e in events if isinstance(e, BookSnapshot)} == set(source.symbols)
