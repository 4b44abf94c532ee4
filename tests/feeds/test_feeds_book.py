"""L2Book: sorted access equals a naive dict model; bad values are refused; crossing and staleness."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.feeds.book import BookValueError, L2Book, truncate_side
from agents.feeds.checksum import checksum_of_texts, level_text
from agents.feeds.maintainer import BookMaintainer
from sdk.adapters.events import BookSnapshot, BookUpdate, FeedError, FeedErrorKind, Resync

prices = st.integers(min_value=1, max_value=400).map(lambda i: i / 4)
sizes = st.one_of(st.just(0.0), st.floats(min_value=1e-8, max_value=1e6, allow_nan=False))
changes = st.lists(st.tuples(st.booleans(), prices, sizes), max_size=200)


@settings(max_examples=150, deadline=None)
@given(
    snapshot=st.lists(st.tuples(st.booleans(), prices, sizes), max_size=50),
    updates=changes,
    n=st.integers(1, 30),
)
def test_top_n_equals_naive_dict_model(snapshot, updates, n):
    book = L2Book("v", "X-Y")
    bids = {p: s for is_bid, p, s in snapshot if is_bid}
    asks = {p: s for is_bid, p, s in snapshot if not is_bid}
    book.apply_snapshot(list(bids.items()), list(asks.items()), 0.0)
    model = {True: {p: s for p, s in bids.items() if s > 0}, False: {p: s for p, s in asks.items() if s > 0}}
    for is_bid, price, size in updates:
        book.apply_update([(price, size)] if is_bid else [], [] if is_bid else [(price, size)], 1.0)
        if size == 0:
            model[is_bid].pop(price, None)
        else:
            model[is_bid][price] = size
    asks_top, bids_top = book.curve_levels(n)
    assert bids_top == sorted(model[True].items(), reverse=True)[:n]
    assert asks_top == sorted(model[False].items())[:n]
    assert len(book.bids) == len(model[True]) and len(book.asks) == len(model[False])
    assert book.best_bid() == (max(model[True]) if model[True] else None)
    assert book.best_ask() == (min(model[False]) if model[False] else None)


@pytest.mark.parametrize("size", [math.nan, -1.0, math.inf])
def test_bad_sizes_are_refused_with_the_field_named(size):
    book = L2Book("v", "X-Y")
    with pytest.raises(BookValueError, match=r"bid size at 10\.0"):
        book.apply_update([(10.0, size)], [], 0.0)
    with pytest.raises(BookValueError, match="ask size"):
        book.apply_snapshot([], [(10.0, size)], 0.0)


@pytest.mark.parametrize("price", [math.nan, 0.0, -5.0, math.inf])
def test_bad_prices_are_refused(price):
    with pytest.raises(BookValueError, match="ask price must be finite and > 0"):
        L2Book("v", "X-Y").apply_update([], [(price, 1.0)], 0.0)


def test_crossed_and_stale():
    book = L2Book("v", "X-Y")
    assert book.age(5.0) == math.inf and book.is_stale(5.0, 10.0)
    book.apply_snapshot([(99.0, 1.0)], [(101.0, 1.0)], 100.0)
    assert not book.is_crossed() and book.mid() == 100.0
    assert book.is_stale(111.0, 10.0) and not book.is_stale(109.0, 10.0)
    book.apply_update([(101.0, 2.0)], [], 101.0)
    assert book.is_crossed()
    with pytest.raises(BookValueError, match="max_age_s"):
        book.is_stale(1.0, 0.0)


def test_truncate_keeps_the_best_levels():
    book = L2Book("v", "X-Y")
    book.apply_snapshot(
        [(float(p), 1.0) for p in range(1, 11)], [(float(p), 1.0) for p in range(11, 21)], 0.0
    )
    truncate_side(book.bids, 3)
    truncate_side(book.asks, 2)
    assert book.bids.prices(10) == [10.0, 9.0, 8.0]
    assert book.asks.prices(10) == [11.0, 12.0]
    assert 1.0 not in book.bids


def test_maintainer_voids_a_crossed_book_and_drops_updates_until_a_snapshot():
    m = BookMaintainer("v")
    m.snapshot("X-Y", [(99.0, 1.0)], [(101.0, 1.0)], 1.0)
    assert m.update("X-Y", [(102.0, 1.0)], [], 2.0) is False
    events = m.drain()
    assert isinstance(events[0], BookSnapshot)
    assert isinstance(events[1], FeedError) and events[1].kind is FeedErrorKind.CROSSED_BOOK
    assert "best bid 102.0 >= best ask 101.0" in events[1].detail
    assert isinstance(events[2], Resync) and m.book("X-Y") is None
    assert m.update("X-Y", [(98.0, 1.0)], [], 3.0) is False and m.dropped_updates == 1
    m.snapshot("X-Y", [(98.0, 1.0)], [(100.0, 1.0)], 4.0)
    assert m.update("X-Y", [(99.0, 2.0)], [], 5.0)
    assert isinstance(m.drain()[-1], BookUpdate)


def test_maintainer_rejects_nan_in_an_update():
    m = BookMaintainer("v")
    m.snapshot("X-Y", [(99.0, 1.0)], [(101.0, 1.0)], 1.0)
    assert not m.update("X-Y", [(98.0, math.nan)], [], 2.0)
    errors = [e for e in m.drain() if isinstance(e, FeedError)]
    assert errors[0].kind is FeedErrorKind.INVALID_VALUE and "nan" in errors[0].detail


def test_kraken_checksum_docs_vector(shared_data):
    import json

    vectors = json.loads(
        (shared_data / "recordings/docs_examples/kraken_book_checksum_vectors.json").read_text()
    )
    vector = vectors["v1_concatenated_string_vector"]
    # the docs book: asks 0.05005 .. 0.05050, bids 0.05000 .. 0.04950 without 0.04985, all 0.00000500
    asks = [level_text(f"{0.05005 + 0.00005 * i:.5f}", "0.00000500") for i in range(10)]
    bid_prices = ["0.05000", "0.04995", "0.04990", "0.04980", "0.04975", "0.04970", "0.04965", "0.04960"]
    bids = [level_text(p, "0.00000500") for p in [*bid_prices, "0.04955", "0.04950"]]
    assert "".join(asks + bids) == vector["input_string"]
    assert checksum_of_texts(asks, bids) == vector["crc32_unsigned"]
