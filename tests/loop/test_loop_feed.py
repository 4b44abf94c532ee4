"""The demo's order-book feed: the seeded simulator through BookMaintainer, L2Book and CurveCache."""

from __future__ import annotations

import pytest

from agents.market.simulated_books import SimulatedBookFeed, book_venues
from sdk.curves.order_book import OrderBookCurve
from sdk.scenarios import generate_scenario

SCENARIO = generate_scenario(5, 7, kinds=("order_book", "cpmm", "clmm"))


def test_every_process_derives_the_same_books_from_the_seed() -> None:
    venue = book_venues(SCENARIO)[0]
    one, two = SimulatedBookFeed(SCENARIO, venue, 7), SimulatedBookFeed(SCENARIO, venue, 7)
    assert one.steps == two.steps > 0
    for _ in range(3):
        a, b = one.curves(), two.curves()
        assert {k: (c.bids, c.asks) for k, c in a.items()} == {k: (c.bids, c.asks) for k, c in b.items()}
        one.step()
        two.step()


def test_the_first_session_meets_an_active_mispricing_and_ticks_move_the_books() -> None:
    venue = book_venues(SCENARIO)[0]
    feed = SimulatedBookFeed(SCENARIO, venue, 7)
    assert feed.mispriced()
    before = feed.curves()
    feed.step()
    after = feed.curves()
    assert any(before[a].bids != after[a].bids or before[a].asks != after[a].asks for a in before)
    template = SCENARIO.venues[venue].curves["BTC"]
    assert isinstance(template, OrderBookCurve)
    curve = after["BTC"]
    assert (curve.fee, curve.lot_size, curve.upper, curve.lower) == (
        template.fee,
        template.lot_size,
        template.upper,
        template.lower,
    )
    assert not any(b[0] >= a[0] for b, a in zip(curve.bids[:1], curve.asks[:1], strict=True))


def test_only_order_book_venues_have_a_simulated_feed() -> None:
    pool = next(v for v, s in SCENARIO.venues.items() if s.kind == "cpmm")
    with pytest.raises(ValueError, match="not an order-book venue"):
        SimulatedBookFeed(SCENARIO, pool, 7)
