"""L2Book fast paths: bulk snapshot install equals the per-level semantics; top_version never misses a change
of the watched levels and ignores changes below them."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.feeds.book import BookSide, BookValueError, L2Book, truncate_side

prices = st.integers(min_value=1, max_value=300).map(lambda i: i / 8)
sizes = st.one_of(st.just(0.0), st.floats(min_value=1e-8, max_value=1e6, allow_nan=False))


def _naive(levels: list[tuple[float, float]], best_first_desc: bool) -> list[tuple[float, float]]:
    """The per-level semantics: later duplicates win, zero sizes are skipped (never delete)."""
    kept: dict[float, float] = {}
    for price, size in levels:
        if size > 0.0:
            kept[price] = size
    return sorted(kept.items(), reverse=best_first_desc)


@settings(max_examples=200, deadline=None)
@given(
    levels=st.lists(st.tuples(prices, sizes), max_size=60),
    order=st.sampled_from(["best_first", "worst_first", "shuffled", "as_drawn"]),
    is_bid=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_replace_equals_the_per_level_semantics_in_any_order(levels, order, is_bid, seed):
    if order == "best_first":
        levels = sorted(levels, reverse=is_bid)
    elif order == "worst_first":
        levels = sorted(levels, reverse=not is_bid)
    elif order == "shuffled":
        random.Random(seed).shuffle(levels)
    side = BookSide("bid" if is_bid else "ask", 1 if is_bid else -1)
    side.set(1000.0, 5.0)  # replaced, not merged
    installed = side.replace(levels)
    want = _naive(levels, is_bid)
    assert side.levels(10**6) == want
    assert list(installed) == want and installed == side.all_levels()
    assert len(side) == len(want) and side.best() == (want[0][0] if want else None)


def test_a_clean_best_first_snapshot_is_installed_as_given():
    levels = tuple((100.0 - i / 100, 1.0 + i) for i in range(1000))
    side = BookSide("bid", 1)
    assert side.replace(levels) is levels
    assert side.prices(3) == [100.0, 99.99, 99.98]


@pytest.mark.parametrize(
    ("level", "match"),
    [
        ((99.5, math.nan), r"bid size at 99\.5 must be finite and >= 0, got nan"),
        ((99.5, math.inf), r"bid size at 99\.5 must be finite and >= 0, got inf"),
        ((99.5, -1.0), r"bid size at 99\.5 must be finite and >= 0, got -1\.0"),
        ((math.nan, 1.0), r"bid price must be finite and > 0, got nan"),
        ((math.inf, 1.0), r"bid price must be finite and > 0, got inf"),
        ((0.0, 1.0), r"bid price must be finite and > 0, got 0\.0"),
    ],
)
def test_a_bad_level_inside_a_large_sorted_snapshot_is_named(level, match):
    levels = [(100.0 - i / 100, 1.0) for i in range(1000)]
    levels[500] = level
    side = BookSide("bid", 1)
    side.replace([(50.0, 2.0)])
    with pytest.raises(BookValueError, match=match):
        side.replace(levels)
    assert side.levels(10) == [(50.0, 2.0)]  # a refused snapshot leaves the side as it was


dense_prices = st.integers(min_value=1, max_value=40).map(lambda i: i / 4)


@settings(max_examples=200, deadline=None)
@given(
    depth=st.integers(1, 8),
    snapshot=st.lists(st.tuples(st.booleans(), dense_prices, sizes), min_size=10, max_size=60),
    ops=st.lists(
        st.one_of(
            st.tuples(st.just("set"), st.booleans(), dense_prices, sizes),
            st.tuples(st.just("truncate"), st.booleans(), st.integers(1, 30), st.just(0.0)),
        ),
        max_size=80,
    ),
)
def test_top_version_moves_whenever_the_watched_levels_change(depth, snapshot, ops):
    book = L2Book("v", "X-Y")
    book.apply_snapshot(
        [(p, s) for is_bid, p, s in snapshot if is_bid],
        [(p + 100.0, s) for is_bid, p, s in snapshot if not is_bid],
        0.0,
    )
    book.watch(depth)
    version, top = book.top_version, book.curve_levels(depth)
    for kind, is_bid, value, size in ops:
        side = book.bids if is_bid else book.asks
        if kind == "set":
            side.set(value if is_bid else value + 100.0, size)
        else:
            truncate_side(side, int(value))
        now = book.curve_levels(depth)
        if book.top_version == version:
            assert now == top, "the watched levels changed but top_version did not move"
        assert book.top_version >= version
        version, top = book.top_version, now


def test_changes_below_the_watched_levels_leave_top_version_alone():
    book = L2Book("v", "X-Y")
    book.apply_snapshot([(100.0 - i, 1.0) for i in range(50)], [(101.0 + i, 1.0) for i in range(50)], 0.0)
    book.watch(5)
    v = book.top_version
    book.apply_update([(90.0, 3.0)], [(111.0, 0.0)], 1.0)  # rank 10 resized, ask rank 10 deleted
    book.apply_update([(94.5, 1.0)], [(105.5, 1.0)], 1.0)  # inserted behind the 5th level
    book.apply_update([(100.0, 1.0)], [], 1.0)  # same size re-sent: no change at all
    truncate_side(book.bids, 30)
    assert book.top_version == v
    book.apply_update([(96.0, 2.0)], [], 1.0)  # 5th best bid resized
    assert book.top_version == v + 1
    book.apply_update([(96.5, 1.0)], [], 1.0)  # new 5th best bid, just above the old one
    book.apply_update([], [(104.5, 1.0)], 1.0)  # new 5th best ask
    book.apply_update([(99.0, 0.0)], [], 1.0)  # second-best bid deleted
    truncate_side(book.asks, 3)  # cuts into the watched five
    assert book.top_version == v + 5


def test_watch_depth_only_widens_and_is_validated():
    book = L2Book("v", "X-Y")
    book.watch(10)
    book.watch(5)
    assert book.bids.watch_depth == book.asks.watch_depth == 10
    for bad in (0, -3, True, 2.5):
        with pytest.raises(BookValueError, match="watch depth must be an int > 0"):
            book.watch(bad)
