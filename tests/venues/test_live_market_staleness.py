"""The staleness guard on real message arrival, per venue: a fake that goes silent for longer than the limit
pauses trading on that venue (the agent says so), and fresh messages resume it; a dropped socket pauses
nothing wrong: the book is void until the venue's snapshot rebuilds it."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from agents.market.live import CurveRules, LiveMarket
from agents.venues import venue_spec
from tests.fakevenues.catalog import FAKES

pytestmark = pytest.mark.timeout(120)

STALE_S = 0.8


def wait(condition: object, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("name", sorted(FAKES))
def test_silence_pauses_the_venue_and_fresh_messages_resume_it(name: str, tmp_path: Path) -> None:
    cls, symbol = FAKES[name]
    fake = cls(tick_s=0.1)
    statuses: list[dict[str, object]] = []
    with fake:
        fake.ladder(symbol, 60_000.0, levels=10, size=0.5)
        market = LiveMarket(
            venue_spec(name),
            [CurveRules("BTC", symbol, 10.0, 0.3, 0.0001, 0.0)],
            ws_base=fake.ws_url,
            rest_base=fake.rest_url,
            stale_after_s=STALE_S,
            on_status=statuses.append,
        )
        market.start()
        try:
            view = market.wait_ready(30)
            assert not view.paused, view.paused
            assert "BTC" in view.curves and view.mids["BTC"] == pytest.approx(60_000.0, rel=1e-3)

            fake.silence(STALE_S * 4)
            assert wait(lambda: "BTC" in market.refresh().paused, STALE_S * 3), (
                "silence did not pause trading"
            )
            reason = str(market.refresh().paused["BTC"])
            assert "silent" in reason, reason
            assert any(s["event"] == "trading_paused" for s in statuses)

            assert wait(lambda: not market.refresh().paused, STALE_S * 8), "fresh messages did not resume"
            assert any(s["event"] == "trading_resumed" for s in statuses)

            fake.drop_ws()
            assert wait(lambda: market.feed is not None and market.feed.reconnects >= 1, 10)
            assert wait(lambda: not market.refresh().paused, 20), "the book did not come back after a drop"
            bids, asks = fake.book(symbol)
            book = market.session.book(symbol) if market.session is not None else None
            assert book is not None and book.best_bid() == pytest.approx(float(bids[0][0]))
            assert book.best_ask() == pytest.approx(float(asks[0][0]))
        finally:
            market.close()
