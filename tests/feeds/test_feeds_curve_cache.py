"""CurveCache: a served curve always equals one built from the current book, it is rebuilt only when the
levels it uses changed, and a void book never has a curve."""

from __future__ import annotations

from functools import partial

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.feeds.curve_cache import CurveCache
from agents.feeds.maintainer import BookMaintainer
from agents.feeds.replay import load_recording, replay_events
from sdk.adapters.events import Level
from sdk.curves.order_book import OrderBookCurve
from tests.feeds.helpers_feeds import recordings

Top = tuple[tuple[Level, ...], tuple[Level, ...]]


def _top(bids: list[Level], asks: list[Level]) -> Top:
    """A stand-in curve: exactly the levels a curve is built from (cheap, comparable)."""
    return tuple(bids), tuple(asks)


def _maintainer() -> BookMaintainer:
    m = BookMaintainer("v")
    m.snapshot("X-Y", [(100.0 - i, 1.0) for i in range(30)], [(101.0 + i, 1.0) for i in range(30)], 0.0)
    m.drain()
    return m


def test_rebuilds_only_when_the_levels_it_uses_changed():
    m = _maintainer()
    cache = CurveCache(m.book, _top, depth=5)
    cache.mark("X-Y")
    first = cache.refresh()["X-Y"]
    assert first == ((tuple((100.0 - i, 1.0) for i in range(5))), tuple((101.0 + i, 1.0) for i in range(5)))
    m.update("X-Y", [(80.0, 7.0)], [(120.0, 0.0)], 1.0)  # far below the top five
    cache.observe(m.drain())
    assert cache.refresh() == {} and cache.builds == 1 and cache.reused == 1
    m.update("X-Y", [(99.0, 4.0)], [], 2.0)
    cache.observe(m.drain())
    assert cache.refresh() == {"X-Y": _top(*reversed(m.books["X-Y"].curve_levels(5)))}
    assert cache.builds == 2
    assert cache.refresh() == {}  # nothing marked: nothing to do


def test_a_void_book_has_no_curve_until_its_next_snapshot():
    m = _maintainer()
    cache = CurveCache(m.book, _top, depth=5)
    assert cache.curve("X-Y") is not None
    m.update("X-Y", [(102.0, 1.0)], [], 1.0)  # crosses the book: voided
    cache.observe(m.drain())
    assert cache.refresh() == {"X-Y": None}
    assert cache.curve("X-Y") is None and "X-Y" not in cache.curves()
    m.snapshot("X-Y", [(99.0, 1.0)], [(100.0, 2.0)], 2.0)
    cache.observe(m.drain())
    assert cache.refresh() == {"X-Y": (((99.0, 1.0),), ((100.0, 2.0),))}


def test_a_direct_pull_is_never_stale_even_when_nobody_marked_the_symbol():
    m = _maintainer()
    cache = CurveCache(m.book, _top, depth=3)
    assert cache.curve("X-Y") == _top(*reversed(m.books["X-Y"].curve_levels(3)))
    m.update("X-Y", [(100.5, 2.0)], [], 1.0)  # not observed
    assert cache.curve("X-Y") == _top(*reversed(m.books["X-Y"].curve_levels(3)))
    assert cache.curve("unknown") is None


def test_depth_is_validated():
    for bad in (0, -1, True, 2.0):
        with pytest.raises(ValueError, match="depth must be an int > 0"):
            CurveCache(_maintainer().book, _top, depth=bad)


price = st.integers(min_value=1, max_value=60).map(lambda i: i / 2)
size = st.one_of(st.just(0.0), st.floats(min_value=0.001, max_value=100.0, allow_nan=False))


@settings(max_examples=150, deadline=None)
@given(
    depth=st.integers(1, 6),
    steps=st.lists(
        st.one_of(
            st.tuples(st.just("bid"), price, size),
            st.tuples(st.just("ask"), price.map(lambda p: p + 30.0), size),
            st.tuples(st.just("refresh"), st.just(0.0), st.just(0.0)),
            st.tuples(st.just("snapshot"), st.just(0.0), st.just(0.0)),
        ),
        max_size=60,
    ),
)
def test_served_curves_always_match_the_current_book(depth, steps):
    m = _maintainer()
    cache = CurveCache(m.book, _top, depth=depth)
    book = m.books["X-Y"]
    for kind, p, s in steps:
        if kind == "bid":
            m.update("X-Y", [(p, s)], [], 1.0)
        elif kind == "ask":
            m.update("X-Y", [], [(p, s)], 1.0)
        elif kind == "snapshot":
            m.snapshot("X-Y", [(10.0, 1.0)], [(40.0, 1.0)], 1.0)
        cache.observe(m.drain())
        if kind == "refresh":
            cache.refresh()
            for symbol, curve in cache.curves().items():
                asks, bids = m.books[symbol].curve_levels(depth)
                assert curve == _top(bids, asks)
    live = m.book("X-Y")
    served = cache.curve("X-Y")
    if live is None:
        assert served is None
    else:
        assert served == _top(*reversed(book.curve_levels(depth)))


def test_kraken_replay_curves_equal_fresh_curves_with_fewer_builds(shared_data):
    source = load_recording("kraken", recordings(shared_data)).open()
    build = partial(OrderBookCurve, taker_fee_bps=10.0)
    cache = CurveCache(source.session.book, build, depth=20)
    book_events = 0
    for event in replay_events(source.session, source.records):
        cache.observe([event])
        book_events += event.__class__.__name__ in ("BookSnapshot", "BookUpdate")
        for symbol, curve in cache.refresh().items():
            book = source.session.book(symbol)
            assert curve is not None and book is not None
            asks, bids = book.curve_levels(20)
            fresh = build(bids, asks)
            assert curve.knots == fresh.knots and curve.slopes == fresh.slopes
    assert 0 < cache.builds < book_events and cache.reused == book_events - cache.builds
    for symbol in source.symbols:
        book = source.session.book(symbol)
        assert book is not None
        asks, bids = book.curve_levels(20)
        served = cache.curve(symbol)
        assert served is not None and served.knots == build(bids, asks).knots


def test_a_loaded_recording_opens_independent_sessions(shared_data):
    loaded = load_recording("gemini", recordings(shared_data))
    first = loaded.open()
    second = loaded.open()
    assert first.session is not second.session
    assert list(replay_events(first.session, first.records)) == list(
        replay_events(second.session, second.records)
    )
