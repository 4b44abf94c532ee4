"""CcxtVenue in-process against the fake Binance venue: fills, idempotent re-sends, crash windows."""

from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import Decimal

import pytest

from agents.execution.client_ids import RULES, client_order_id
from agents.execution.clock import ManualClock
from agents.execution.live import CcxtVenue, LiveInstrument, make_exchange, redirect_api_urls
from agents.execution.outbox import Outbox, OutboxState
from sdk.adapters.execution import (
    ExecutionEvent,
    FillEvent,
    OrderEvent,
    OrderRequest,
    OrderStatus,
    Side,
    TimeInForce,
)
from tests.execution.fake_binance import API_KEY, SECRET, FakeBinance

D = Decimal
NOW = 1_800_000_000_000
SDK_CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{1,36}$")


@pytest.fixture
def fake() -> Iterator[FakeBinance]:
    with FakeBinance() as venue:
        venue.add_symbol(
            "SOLUSDT", "SOL", "USDT", [("99.5", "2"), ("99", "5")], [("100.1", "0.3"), ("100.2", "1")]
        )
        yield venue


def make_venue(fake: FakeBinance, outbox: Outbox, events: list[ExecutionEvent]) -> CcxtVenue:
    exchange = make_exchange("binance", base_url=fake.url, api_key=API_KEY, secret=SECRET)
    exchange.load_markets()
    return CcxtVenue(
        "A",
        exchange,
        outbox=outbox,
        clock=ManualClock(NOW),
        listener=events.append,
        instruments={"SOL-USDT": LiveInstrument("SOL/USDT", "SOL", D("0.001"), D("0.01"))},
    )


def order(key: str, side: Side, size: str, cap: str, deadline: int = NOW + 10_000) -> OrderRequest:
    return OrderRequest(
        client_order_id=client_order_id(key, "binance"),
        idempotency_key=key,
        plan_id="s/1",
        venue="A",
        instrument="SOL-USDT",
        asset="SOL",
        side=side,
        size=D(size),
        limit_price=D(cap),
        deadline_ms=deadline,
        time_in_force=TimeInForce.IOC,
        quote="USDT",
    )


def test_ioc_fills_exact_decimals_and_status(fake: FakeBinance) -> None:
    events: list[ExecutionEvent] = []
    venue = make_venue(fake, Outbox.sqlite(), events)
    venue.submit(order("k1", Side.BUY, "0.5", "100.15"))
    fills = [e for e in events if isinstance(e, FillEvent)]
    assert [(f.price, f.size, f.fee) for f in fills] == [(D("100.1"), D("0.3"), D("0.03003"))]
    final = [e for e in events if isinstance(e, OrderEvent)][-1]
    assert (final.status, final.filled) == (OrderStatus.CANCELLED, D("0.3"))  # IOC remainder cancelled
    record = venue.outbox.get(client_order_id("k1", "binance"))
    assert record is not None and record.state is OutboxState.DONE


def test_same_order_twice_reaches_venue_once(fake: FakeBinance) -> None:
    events: list[ExecutionEvent] = []
    outbox = Outbox.sqlite()
    venue = make_venue(fake, outbox, events)
    o = order("k2", Side.SELL, "1", "99.5")
    venue.submit(o)
    venue.submit(o)
    make_venue(fake, outbox, []).submit(o)  # a "restarted" process with the same outbox
    assert fake.client_order_ids() == [o.client_order_id]
    assert sum(1 for e in events if isinstance(e, FillEvent)) == 1


def test_crash_after_send_before_ack_is_adopted_not_resent(fake: FakeBinance) -> None:
    outbox = Outbox.sqlite()
    o = order("k3", Side.BUY, "0.3", "100.1")
    outbox.claim(o, "leg", NOW)  # intent committed ...
    raw = make_exchange("binance", base_url=fake.url, api_key=API_KEY, secret=SECRET)
    raw.create_order(
        "SOL/USDT",
        "limit",
        "buy",
        "0.3",
        "100.1",
        {"timeInForce": "IOC", "newClientOrderId": o.client_order_id},
    )
    # ... sent, then the process died before recording the answer. A new process recovers:
    events: list[ExecutionEvent] = []
    venue = make_venue(fake, outbox, events)
    venue.recover()
    venue.submit(o)
    assert fake.client_order_ids() == [o.client_order_id]
    assert [e.size for e in events if isinstance(e, FillEvent)] == [D("0.3")]
    assert [e.status for e in events if isinstance(e, OrderEvent)] == [OrderStatus.FILLED]


def test_crash_before_send_is_sent_once_on_recovery(fake: FakeBinance) -> None:
    outbox = Outbox.sqlite()
    o = order("k4", Side.BUY, "0.1", "100.1")
    outbox.claim(o, "leg", NOW)  # died right after committing the intent
    events: list[ExecutionEvent] = []
    venue = make_venue(fake, outbox, events)
    venue.recover()
    venue.recover()
    assert fake.client_order_ids() == [o.client_order_id]
    assert events[-1].status is OrderStatus.FILLED  # type: ignore[union-attr]


def test_pending_past_deadline_is_not_sent(fake: FakeBinance) -> None:
    outbox = Outbox.sqlite()
    o = order("k5", Side.BUY, "0.1", "100.1", deadline=NOW - 1)
    outbox.claim(o, "leg", NOW - 5)
    events: list[ExecutionEvent] = []
    make_venue(fake, outbox, events).recover()
    assert fake.client_order_ids() == []
    assert [e.status for e in events if isinstance(e, OrderEvent)] == [OrderStatus.EXPIRED]
    record = outbox.get(o.client_order_id)
    assert record is not None and record.state is OutboxState.NOT_SENT


def test_rejection_is_reported(fake: FakeBinance) -> None:
    events: list[ExecutionEvent] = []
    venue = make_venue(fake, Outbox.sqlite(), events)
    fake.add_symbol("XRPUSDT", "XRP", "USDT", [("1", "1")], [("2", "1")])
    venue.exchange.load_markets(reload=True)
    del fake.state.symbols["XRPUSDT"]  # the venue delisted it after we loaded markets
    venue.instruments["XRP-USDT"] = LiveInstrument("XRP/USDT", "XRP", D(1), D("0.01"))
    bad = OrderRequest("asbad", "kb", "s/1", "A", "XRP-USDT", "XRP", Side.BUY, D(1), D(2), NOW + 10)
    venue.submit(bad)
    (event,) = events
    assert isinstance(event, OrderEvent) and event.status is OrderStatus.REJECTED
    assert "Invalid symbol" in event.reason
    record = venue.outbox.get("asbad")
    assert record is not None and record.state is OutboxState.DONE


def test_book_and_url_redirect(fake: FakeBinance) -> None:
    venue = make_venue(fake, Outbox.sqlite(), [])
    book = venue.book("SOL-USDT")
    assert book.asks[0] == (D("100.1"), D("0.3")) and book.bids[0] == (D("99.5"), D(2))
    exchange = make_exchange("binance", base_url=None, api_key="", secret="")
    redirect_api_urls(exchange, "http://127.0.0.1:9")
    assert all(str(u).startswith("http://127.0.0.1:9/") for u in exchange.urls["api"].values())


def test_client_ids_fit_every_venue_and_are_deterministic() -> None:
    key = "session-with-a-long-name/123456/binance-spot/7"
    for venue, rule in RULES.items():
        cid = client_order_id(key, venue)
        assert cid == client_order_id(key, venue)
        assert cid != client_order_id(key + "x", venue)
        if rule.style == "token":
            assert len(cid) <= rule.max_length and SDK_CLIENT_ID.match(cid), (venue, cid)
        elif rule.style == "uuid":
            assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", cid)
        else:
            assert re.fullmatch(r"0x[0-9a-f]{32}", cid)
    assert SDK_CLIENT_ID.match(client_order_id(key, "unknown-venue"))
    assert client_order_id(key, "okx").isalnum()
