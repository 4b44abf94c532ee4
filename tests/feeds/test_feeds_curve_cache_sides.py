"""The order-book curve cache (``order_book_curves``): one side rebuilt when only it moved, and every served
curve equal, float for float, to ``OrderBookCurve(...)`` built from the book's current levels."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.feeds.curve_cache import CurveCache, order_book_curves
from agents.feeds.maintainer import BookMaintainer
from agents.feeds.replay import load_recording, replay_events
from sdk.curves.order_book import OrderBookCurve
from tests.feeds.helpers_feeds import recordings

FEE_BPS = 10.0


def _maintainer() -> BookMaintainer:
    m = BookMaintainer("v")
    m.snapshot("X-Y", [(100.0 - i, 1.0) for i in range(30)], [(101.0 + i, 1.0) for i in range(30)], 0.0)
    m.drain()
    return m


def _bits(values: tuple[float, ...]) -> list[bytes]:
    return [struct.pack("<d", v) for v in values]


def _assert_fresh(curve: OrderBookCurve | None, m: BookMaintainer, symbol: str, depth: int) -> None:
    """``curve`` is exactly the validating constructor's curve of the book's current top levels."""
    book = m.book(symbol)
    if book is None:
        assert curve is None
        return
    asks, bids = book.curve_levels(depth)
    fresh = OrderBookCurve(bids, asks, taker_fee_bps=FEE_BPS)
    assert curve is not None
    assert _bits(curve.knots) == _bits(fresh.knots) and _bits(curve.slopes) == _bits(fresh.slopes)
    assert (curve.bids, curve.asks, curve.zero_index) == (fresh.bids, fresh.asks, fresh.zero_index)


def test_only_the_side_that_moved_is_rebuilt():
    m = _maintainer()
    cache = order_book_curves(m.book, depth=5, taker_fee_bps=FEE_BPS)
    first = cache.curve("X-Y")
    assert first is not None and (cache.builds, cache.side_builds) == (1, 0)
    m.update("X-Y", [], [(101.0, 3.0)], 1.0)
    cache.observe(m.drain())
    second = cache.refresh()["X-Y"]
    assert second is not None and second.bids is first.bids and second.asks != first.asks
    assert (cache.builds, cache.side_builds) == (2, 1)
    _assert_fresh(second, m, "X-Y", 5)
    m.update("X-Y", [(99.5, 2.0)], [(101.5, 2.0)], 2.0)  # both sides: a whole rebuild
    cache.observe(m.drain())
    _assert_fresh(cache.refresh()["X-Y"], m, "X-Y", 5)
    assert (cache.builds, cache.side_builds) == (3, 1)
    m.update("X-Y", [(50.0, 2.0)], [], 3.0)  # below the watched levels: nothing to do
    cache.observe(m.drain())
    assert cache.refresh() == {} and cache.builds == 3


def test_a_cache_without_an_update_hook_rebuilds_whole_curves():
    m = _maintainer()
    cache = CurveCache(m.book, OrderBookCurve.sorted_levels_builder(taker_fee_bps=FEE_BPS), depth=5)
    cache.curve("X-Y")
    m.update("X-Y", [], [(101.0, 3.0)], 1.0)
    _assert_fresh(cache.curve("X-Y"), m, "X-Y", 5)
    assert (cache.builds, cache.side_builds) == (2, 0)


def test_bad_parameters_are_refused_when_the_cache_is_made():
    with pytest.raises(ValueError, match="taker_fee_bps must be >= 0"):
        order_book_curves(_maintainer().book, taker_fee_bps=-1.0)


price = st.integers(min_value=1, max_value=60).map(lambda i: i / 2)
size = st.one_of(st.just(0.0), st.floats(min_value=1e-9, max_value=100.0, allow_nan=False))


@settings(max_examples=150, deadline=None)
@given(
    depth=st.integers(1, 6),
    steps=st.lists(
        st.one_of(
            st.tuples(st.just("bid"), price, size),
            st.tuples(st.just("ask"), price.map(lambda p: p + 30.0), size),
            st.tuples(st.just("both"), price, size),
            st.tuples(st.just("cross"), st.just(0.0), st.just(0.0)),
            st.tuples(st.just("refresh"), st.just(0.0), st.just(0.0)),
            st.tuples(st.just("snapshot"), st.just(0.0), st.just(0.0)),
        ),
        max_size=60,
    ),
)
def test_served_curves_always_equal_a_validated_build_of_the_current_book(depth, steps):
    m = _maintainer()
    cache = order_book_curves(m.book, depth=depth, taker_fee_bps=FEE_BPS)
    for kind, p, s in steps:
        if kind == "bid":
            m.update("X-Y", [(p, s)], [], 1.0)
        elif kind == "ask":
            m.update("X-Y", [], [(p, s)], 1.0)
        elif kind == "both":
            m.update("X-Y", [(p, s)], [(p + 30.0, s)], 1.0)
        elif kind == "cross":
            m.update("X-Y", [(45.0, 1.0)], [], 1.0)  # above every ask: the book is voided
        elif kind == "snapshot":
            m.snapshot("X-Y", [(10.0, 1.0)], [(40.0, 1.0)], 1.0)
        cache.observe(m.drain())
        if kind == "refresh":
            for symbol, curve in cache.refresh().items():
                _assert_fresh(curve, m, symbol, depth)
            for symbol, curve in cache.curves().items():
                _assert_fresh(curve, m, symbol, depth)
    _assert_fresh(cache.curve("X-Y"), m, "X-Y", depth)


@pytest.mark.parametrize("venue", ["kraken", "gemini", "bitstamp"])
def test_replayed_curves_equal_validated_builds_and_mostly_rebuild_one_side(shared_data, venue):
    source = load_recording(venue, recordings(shared_data)).open()
    cache = order_book_curves(source.session.book, depth=20, taker_fee_bps=FEE_BPS)
    for event in replay_events(source.session, source.records):
        cache.observe([event])
        for symbol, curve in cache.refresh().items():
            book = source.session.book(symbol)
            if book is None:
                assert curve is None
                continue
            asks, bids = book.curve_levels(20)
            fresh = OrderBookCurve(bids, asks, taker_fee_bps=FEE_BPS)
            assert curve is not None
            assert _bits(curve.knots) == _bits(fresh.knots) and _bits(curve.slopes) == _bits(fresh.slopes)
    assert 0 < cache.side_builds < cache.builds
    assert cache.side_builds > cache.builds // 2  # most updates move one side of a book
