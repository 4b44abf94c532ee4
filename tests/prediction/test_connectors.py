"""Kalshi and Polymarket connectors: recorded messages through the feed sessions, the signed REST client and
the live market source against the loopback fakes (real sockets, real signatures)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from agents.feeds.venues.kalshi import KalshiSession
from agents.feeds.venues.polymarket import PolymarketSession
from agents.feeds.venues.prediction import PredictionMarket, PredictionRules
from agents.venues.kalshi import KalshiError, KalshiRest, KalshiSigner, handshake
from agents.venues.polymarket import PolymarketRest, l2_headers
from sdk.curves.prediction import KalshiFees, PolymarketFees, PredictionMarketCurve
from sdk.fees.kalshi import trading_fee
from tests.fakevenues.kalshi import FakeKalshi
from tests.fakevenues.polymarket import FakePolymarket

DATA = Path(__file__).resolve().parents[3] / "shared/data/recordings/prediction_markets"
KALSHI = DATA / "kalshi/nautilus_trader_unmerged_pr"
POLY = DATA / "polymarket/nautilus_trader"
TICKER = "KXBTC-25MAR15-B100000"
D = Decimal


def recorded(path: Path) -> str:
    return path.read_text()


def wait_until(check: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


# -- sessions on recorded messages ---------------------------------------------------------------------------
def test_kalshi_session_applies_recorded_snapshot_and_delta() -> None:
    session = KalshiSession([TICKER])
    assert session.book(TICKER) is None
    assert session.on_message(recorded(KALSHI / "ws_orderbook_snapshot.json"), 0.0) == {TICKER}
    assert session.on_message(recorded(KALSHI / "ws_orderbook_delta.json"), 0.0) == {TICKER}
    book = session.book(TICKER)
    assert book is not None
    bids, asks = book
    assert bids == [(D("0.4200"), D("63.00")), (D("0.3500"), D("200.00"))]  # 13 + 50, as the README says
    assert asks == [(D("0.44"), D("17.00")), (D("0.46"), D("400.00"))]  # NO bids reflected
    no = session.book(TICKER, "no")
    assert no is not None and no[0][0] == (D("0.5600"), D("17.00")) and no[1][0] == (D("0.58"), D("63.00"))


def test_kalshi_sequence_gap_voids_the_book_and_asks_for_a_fresh_subscription() -> None:
    session = KalshiSession([TICKER])
    session.on_message(recorded(KALSHI / "ws_orderbook_snapshot.json"), 0.0)
    delta = json.loads(recorded(KALSHI / "ws_orderbook_delta.json"))
    delta["seq"] = 5
    session.on_message(json.dumps(delta), 0.0)
    assert session.book(TICKER) is None and session.reconnect_requested and session.gaps == 1
    assert "sequence gap" in session.void[TICKER]


def test_kalshi_malformed_delta_names_the_field_and_voids() -> None:
    session = KalshiSession([TICKER])
    session.on_message(recorded(KALSHI / "ws_orderbook_snapshot.json"), 0.0)
    delta = json.loads(recorded(KALSHI / "ws_orderbook_delta.json"))
    delta["msg"]["price_dollars"] = "1.2"
    session.on_message(json.dumps(delta), 0.0)
    assert session.book(TICKER) is None
    assert "orderbook_delta.msg.price_dollars" in session.void[TICKER]


def test_polymarket_session_applies_recorded_book_price_change_and_resolution() -> None:
    book = json.loads(recorded(POLY / "tests__ws_messages__book.json"))
    token = book["asset_id"]
    session = PolymarketSession([token])
    session.on_message(json.dumps(book), 0.0)
    got = session.book(token)
    assert got is not None
    assert got[0][0] == (D("0.511"), D("1304.72")) and got[1][0] == (D("0.514"), D("20230.87"))
    session.on_message(recorded(POLY / "tests__ws_messages__price_change.json"), 0.0)
    got = session.book(token)
    assert got is not None and got[1][0] == (D("0.514"), D("21574.08"))
    resolved = json.loads(recorded(POLY / "crates__ws_market_resolved_msg.json"))
    resolved["assets_ids"][0] = resolved["winning_asset_id"] = token
    session.on_message(json.dumps(resolved), 0.0)
    assert session.resolved == {token: "yes"}


def test_polymarket_corrupt_message_voids_and_resubscribes() -> None:
    book = json.loads(recorded(POLY / "tests__ws_messages__book.json"))
    session = PolymarketSession([book["asset_id"]])
    session.on_message(json.dumps(book), 0.0)
    session.on_message('{"event_type": "book", "asset_id": ', 0.0)
    assert session.book(book["asset_id"]) is None and session.reconnect_requested


# -- Kalshi REST against the fake --------------------------------------------------------------------------
@pytest.fixture
def kalshi() -> Iterator[FakeKalshi]:
    venue = FakeKalshi()
    venue.start()
    venue.load_recorded_book(TICKER)
    try:
        yield venue
    finally:
        venue.stop()


def client(venue: FakeKalshi) -> KalshiRest:
    signer = KalshiSigner.from_pem(venue.key_id, venue.private_key_pem)
    return KalshiRest(venue.rest_url + "/trade-api/v2", signer, timeout_s=2.0)


def test_kalshi_rest_signed_order_fill_fee_position_and_settlement(kalshi: FakeKalshi) -> None:
    rest = client(kalshi)
    assert [m["ticker"] for m in rest.markets()] == [TICKER]
    assert rest.orderbook(TICKER)["orderbook_fp"]["no_dollars"][-1] == ["0.5600", "17.00"]
    order = rest.submit(
        ticker=TICKER, client_order_id="c-1", side="yes", action="buy", count=D(10), price=D("0.44")
    )
    assert order["status"] == "executed" and order["fill_count_fp"] == "10.00"
    fills = rest.fills(order_id=order["order_id"])
    assert [(f["count_fp"], f["yes_price_dollars"]) for f in fills] == [("10.00", "0.4400")]
    assert D(fills[0]["fee_cost"]) == trading_fee(10, D("0.44")) == D("0.18")
    assert rest.positions() == [{"ticker": TICKER, "position_fp": "10.00"}]
    with pytest.raises(KalshiError) as refused:
        rest.create_order(
            ticker=TICKER, client_order_id="c-1", side="yes", action="buy", count=D(1), price=D("0.46")
        )
    assert refused.value.status == 409
    before = rest.balance()
    kalshi.resolve(TICKER, "yes")
    assert rest.settlements()[0]["revenue"] == 1000 and rest.balance() == before + 10


def test_kalshi_rest_lost_ack_and_5xx_never_place_twice(kalshi: FakeKalshi) -> None:
    rest = client(kalshi)
    kalshi.faults.lose_ack = 1
    order = rest.submit(
        ticker=TICKER, client_order_id="c-lost", side="no", action="buy", count=D(5), price=D("0.58")
    )
    assert order["client_order_id"] == "c-lost" and order["fill_count_fp"] == "5.00"
    kalshi.faults.fail_5xx = 1
    rest.submit(
        ticker=TICKER, client_order_id="c-5xx", side="yes", action="sell", count=D(2), price=D("0.40")
    )
    # the lost ack was found by client id (one request); the 5xx placed nothing, so it was sent again
    assert [r["client_order_id"] for r in kalshi.create_requests] == ["c-lost", "c-5xx", "c-5xx"]
    assert sorted(o.client_order_id for o in kalshi.orders.values()) == ["c-5xx", "c-lost"]
    assert kalshi.positions[TICKER] == D(-7)


def test_kalshi_rejects_a_bad_signature(kalshi: FakeKalshi) -> None:
    other = FakeKalshi()  # its own key: the signature does not verify here
    rest = KalshiRest(
        kalshi.rest_url + "/trade-api/v2", KalshiSigner.from_pem(kalshi.key_id, other.private_key_pem)
    )
    with pytest.raises(KalshiError) as refused:
        rest.positions()
    assert refused.value.status == 401 and kalshi.unauthorized == 1


# -- live market sources: books -> exact-fee curves ----------------------------------------------------------
def kalshi_market(venue: FakeKalshi, signed: bool = True) -> PredictionMarket:
    signer = KalshiSigner.from_pem(venue.key_id, venue.private_key_pem) if signed else None
    rule = PredictionRules("BTCYES", TICKER, "yes", KalshiFees(), book_usage=0.3)
    return PredictionMarket(
        "kalshi-a", KalshiSession([TICKER]), [rule], ws_base=venue.ws_url, handshake=handshake(signer)
    )


def test_kalshi_market_serves_exact_fee_curves_and_recovers_from_a_drop(kalshi: FakeKalshi) -> None:
    market = kalshi_market(kalshi)
    market.start()
    try:
        view = market.wait_ready(10)
        assert not view.paused
        curve = view.curves["BTCYES"]
        assert isinstance(curve, PredictionMarketCurve) and isinstance(curve.fees, KalshiFees)
        assert curve.asks[0] == (0.44, 17.0) and curve.bids[0] == (0.42, 13.0)
        assert curve.exact_cost(5.0) == pytest.approx(5 * 0.44 + float(trading_fee(5, D("0.44"))))
        kalshi.change(TICKER, "sell", D("0.44"), D(40))  # a delta on the wire
        wait_until(lambda: market.refresh().curves["BTCYES"].asks[0] == (0.44, 40.0))  # type: ignore[attr-defined]
        kalshi.drop_ws()
        wait_until(lambda: market.connects >= 2 and not market.refresh().paused)
        kalshi.gap_ws()
        kalshi.change(TICKER, "buy", D("0.42"), D(30))
        wait_until(lambda: market.session.gaps == 1 and market.connects >= 3 and not market.refresh().paused)
        assert market.refresh().curves["BTCYES"].bids[0] == (0.42, 30.0)  # type: ignore[attr-defined]
    finally:
        market.close()


def test_kalshi_orderbook_channel_needs_a_signed_handshake(kalshi: FakeKalshi) -> None:
    market = kalshi_market(kalshi, signed=False)
    market.start()
    try:
        wait_until(lambda: kalshi.unauthorized >= 1)
        assert "BTCYES" in market.refresh().paused
    finally:
        market.close()


def test_polymarket_market_serves_curves_and_pauses_at_resolution() -> None:
    venue = FakePolymarket(fee_rate_bps=0)
    venue.start()
    (condition, (token,)) = next(iter(venue.conditions.items()))
    venue.load_recorded_book(token)
    rule = PredictionRules("TRUMP", token, "yes", PolymarketFees(0.02), book_usage=0.5)
    market = PredictionMarket("poly-a", PolymarketSession([token]), [rule], ws_base=venue.ws_url)
    market.start()
    try:
        view = market.wait_ready(10)
        curve = view.curves["TRUMP"]
        assert isinstance(curve, PredictionMarketCurve) and curve.asks[0] == (0.14, 705.0)
        assert curve.bids[0] == (0.1, 125.0)
        assert PolymarketRest(venue.rest_url).book(token)["asks"][-1] == {"price": "0.14", "size": "705"}
        venue.change(token, "sell", D("0.14"), D(0))
        wait_until(lambda: market.refresh().curves["TRUMP"].asks[0][0] == 0.2)  # type: ignore[attr-defined]
        venue.resolve(condition, token)
        wait_until(lambda: "TRUMP" in market.refresh().paused)
        assert "resolved yes" in market.refresh().paused["TRUMP"]
    finally:
        market.close()
        venue.stop()


def test_polymarket_l2_headers_are_the_documented_hmac() -> None:
    import base64
    import hashlib
    import hmac

    secret = base64.urlsafe_b64encode(b"k" * 32).decode()
    headers = l2_headers(
        address="0xabc", api_key="key", secret=secret, passphrase="pp", method="get", path="/data/orders",
        timestamp_s=1700000000,
    )  # fmt: skip
    expected = hmac.new(b"k" * 32, b"1700000000GET/data/orders", hashlib.sha256).digest()
    assert headers["POLY_SIGNATURE"] == base64.urlsafe_b64encode(expected).decode()
    assert headers["POLY_TIMESTAMP"] == "1700000000"
