"""Federation defects the backtest ran into, kept as regression tests once fixed.

A crossing worth less than one lot used to leave the price-space bracket with undefined values and
broadcast non-finite duals; the session must instead end cleanly with nothing to trade.
"""

from __future__ import annotations

from decimal import Decimal

from agents.agent import EdgeAgent, InstrumentSpec, VenueConfig
from arbsphere.inprocess import InProcessLink
from coordinator.session import SessionDriver
from energibridge.protocol.venue import VenueInfo
from sdk.curves.order_book import OrderBookCurve

LOT = Decimal("0.0001")


def test_a_sub_lot_crossing_does_not_break_the_session() -> None:
    # binance's bid (net of 10 bps) is above kraken's ask (plus 26 bps) for 5e-5 units, half a lot.
    books = {
        "binance": ([(100.6453, 5e-5)], [(100.8456, 3.9254)], 10.0),
        "kraken": ([(99.9406, 4.9619)], [(100.2256, 67.8495)], 26.0),
    }
    agents, infos = {}, {}
    for venue, (bids, asks, fee) in books.items():
        curve = OrderBookCurve(bids, asks, taker_fee_bps=fee, book_usage=1.0)
        agent = EdgeAgent(VenueConfig(venue, {"X": InstrumentSpec("X-USD", LOT, LOT)}), {"X": curve})
        agent.reference_prices = {"X": curve.mid or 100.0}
        agents[venue] = agent
        infos[venue] = VenueInfo(venue, {"X": LOT}, {"X": curve.mid or 100.0}, 250)
    result = SessionDriver(InProcessLink(agents, secure=False), infos).run(deadline_s=60.0)
    assert result.profit == 0.0  # nothing tradable in whole lots
