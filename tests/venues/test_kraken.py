"""Kraken end to end against the loopback fake: orders through ccxt with ``cl_ord_id`` UUIDs, restarts and
REST faults without duplicates, the WebSocket v1 book through ``LiveFeed`` with its CRC32 checksum catching a
lost update, drops and unreadable messages, the recordings and the docs' checksum example through the same
session, and the SDK conformance kits."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import ccxt
import pytest

from agents.execution.client_ids import RULES, client_order_id
from agents.execution.clock import ManualClock, SystemClock
from agents.execution.live import CcxtVenue, LiveInstrument, execution_adapter_class, make_exchange
from agents.execution.outbox import Outbox, OutboxState
from agents.feeds.live import HttpRest, LiveFeed, load_live_symbols
from agents.feeds.live_adapter import feed_adapter
from agents.feeds.replay import open_recording
from agents.feeds.venues import CRYPTOFEED_SESSIONS
from agents.feeds.venues.cryptofeed_bridge import CryptofeedSession
from agents.feeds.venues.kraken import KrakenSession
from agents.retry import Backoff
from agents.venues import venue_spec
from agents.venues.kraken import SPEC, KrakenOrders
from sdk.adapters.conformance import DataFeedConformance, ExecutionConformance, ioc_order
from sdk.adapters.events import BookSnapshot, BookUpdate, FeedError, FeedErrorKind, FeedEvent, Resync
from sdk.adapters.execution import (
    AdapterError,
    ExecutionEvent,
    FillEvent,
    InsufficientFunds,
    InvalidOrder,
    OrderEvent,
    OrderRequest,
    OrderStatus,
    Side,
    TimeInForce,
)
from sdk.adapters.interfaces import DataFeedAdapter, ExecutionAdapter, ExecutionListener
from tests.fakevenues.base import API_KEY, SymbolInfo
from tests.fakevenues.kraken import KRAKEN_SECRET, FakeKraken

pytestmark = pytest.mark.timeout(60)

D = Decimal
NOW = 1_800_000_000_000
SYMBOLS = {"BTC-USD": SymbolInfo("BTC", "USD"), "ETH-USD": SymbolInfo("ETH", "USD")}
INSTRUMENTS = {
    "BTC-USD": LiveInstrument("BTC/USD", "BTC", D("0.0001"), D("0.01")),
    "ETH-USD": LiveInstrument("ETH/USD", "ETH", D("0.0001"), D("0.01")),
}


@pytest.fixture
def fake() -> Iterator[FakeKraken]:
    venue = FakeKraken(SYMBOLS)
    venue.heartbeat_s = 0.2
    with venue:
        venue.ladder("BTC-USD", 100.0, levels=12)
        venue.ladder("ETH-USD", 50.0, levels=12)
        yield venue


def exchange_for(fake: FakeKraken) -> Any:
    exchange = make_exchange("kraken", base_url=fake.rest_url, api_key=API_KEY, secret=KRAKEN_SECRET)
    exchange.load_markets()
    return exchange


def make_venue(fake: FakeKraken, outbox: Outbox, events: list[ExecutionEvent]) -> CcxtVenue:
    return CcxtVenue(
        "kraken-a",
        exchange_for(fake),
        outbox=outbox,
        clock=ManualClock(NOW),
        listener=events.append,
        instruments=INSTRUMENTS,
    )


def order(key: str, side: Side, size: str, cap: str, tif: TimeInForce = TimeInForce.IOC) -> OrderRequest:
    return OrderRequest(
        client_order_id=client_order_id(key, SPEC.client_ids),
        idempotency_key=key,
        plan_id="plan/1",
        venue="kraken-a",
        instrument="BTC-USD",
        asset="BTC",
        side=side,
        size=D(size),
        limit_price=D(cap),
        deadline_ms=NOW + 10_000,
        time_in_force=tif,
        quote="USD",
    )


def requests_for(fake: FakeKraken, cid: str) -> int:
    return sum(1 for r in fake.create_requests if r.get("cl_ord_id") == cid)


# -- facts -------------------------------------------------------------------------------------------------
def test_spec_facts_are_consistent() -> None:
    assert venue_spec("kraken") is SPEC and SPEC.ccxt_id == "kraken"
    assert RULES["kraken"] == SPEC.client_ids
    assert SPEC.feed_session is CRYPTOFEED_SESSIONS["kraken"] is KrakenSession
    cid = client_order_id("plan/1/leg/0", SPEC.client_ids)
    assert str(uuid.UUID(cid)) == cid and len(cid) == 36  # a long UUID, never the 32-bit userref
    assert KrakenOrders.client_id_param == "cl_ord_id"
    assert dict(KrakenOrders.ioc_params) == {"timeinforce": "IOC"}


# -- orders ------------------------------------------------------------------------------------------------
def test_ioc_carries_cl_ord_id_and_returns_fills_fee_and_status(fake: FakeKraken) -> None:
    events: list[ExecutionEvent] = []
    venue = make_venue(fake, Outbox.sqlite(), events)
    o = order("k1", Side.BUY, "0.7", "100.03")
    venue.submit(o)
    (sent,) = fake.create_requests
    assert sent["cl_ord_id"] == client_order_id("k1", SPEC.client_ids) == o.client_order_id
    assert "userref" not in sent and sent["timeinforce"] == "IOC" and sent["ordertype"] == "limit"
    assert (sent["pair"], sent["type"], sent["volume"], sent["price"]) == ("XXBTZUSD", "buy", "0.7", "100.03")
    fills = [e for e in events if isinstance(e, FillEvent)]
    assert sorted((f.price, f.size, f.fee) for f in fills) == [
        (D("100.01"), D("0.5"), D("0.050005")),
        (D("100.02"), D("0.2"), D("0.020004")),
    ]
    assert {f.fill_id for f in fills} == {f"kraken-a:{fake.trade_ids[t.trade_id]}" for t in fake.trades}
    final = [e for e in events if isinstance(e, OrderEvent)][-1]
    assert (final.status, final.filled) == (OrderStatus.FILLED, D("0.7"))
    assert final.exchange_order_id == fake.txids[fake.by_client_id[o.client_order_id].order_id]
    record = venue.outbox.get(o.client_order_id)
    assert record is not None and record.state is OutboxState.DONE
    remote = venue.lookup(o)
    assert (
        remote is not None and remote["clientOrderId"] == o.client_order_id and remote["status"] == "closed"
    )
    assert venue.lookup(order("never-sent", Side.BUY, "1", "1")) is None


@pytest.mark.parametrize("reported", ["canceled", "closed"])
def test_ioc_remainder_is_cancelled_however_the_venue_spells_it(fake: FakeKraken, reported: str) -> None:
    fake.partial_ioc_status = reported
    events: list[ExecutionEvent] = []
    venue = make_venue(fake, Outbox.sqlite(), events)
    venue.submit(order("k2", Side.SELL, "0.8", "99.99"))  # best bid 99.99 holds 0.5
    final = [e for e in events if isinstance(e, OrderEvent)][-1]
    assert (final.status, final.filled) == (OrderStatus.CANCELLED, D("0.5"))


def test_resting_order_is_cancelled_by_cl_ord_id(fake: FakeKraken) -> None:
    events: list[ExecutionEvent] = []
    venue = make_venue(fake, Outbox.sqlite(), events)
    o = order("k3", Side.BUY, "0.3", "90.00", TimeInForce.GTC)
    venue.submit(o)
    assert "timeinforce" not in fake.create_requests[-1]
    assert [e.status for e in events if isinstance(e, OrderEvent)] == [OrderStatus.ACCEPTED]
    venue.cancel(o.client_order_id)
    assert [e.status for e in events if isinstance(e, OrderEvent)][-1] is OrderStatus.CANCELLED
    assert fake.by_client_id[o.client_order_id].status == "canceled"
    KrakenOrders().cancel_by_client_id(venue.exchange, "BTC/USD", o.client_order_id, "")  # closed: no error


def test_lost_acknowledgement_is_adopted_by_a_restarted_process(fake: FakeKraken, tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    o = order("k5", Side.BUY, "0.6", "100.02")
    fake.faults.lose_ack = 1
    first = make_venue(fake, Outbox.sqlite(path), [])
    first.submit(o)  # processed and filled by the venue; the answer never arrives
    assert isinstance(first.errors[o.client_order_id], ccxt.NetworkError)
    record = first.outbox.get(o.client_order_id)
    assert record is not None and record.state is OutboxState.PENDING
    events: list[ExecutionEvent] = []
    restarted = make_venue(fake, Outbox.sqlite(path), events)  # a new process on the same outbox file
    restarted.recover()
    restarted.submit(o)
    assert requests_for(fake, o.client_order_id) == 1
    assert fake.duplicate_client_ids("cl_ord_id") == 0
    assert sorted((f.price, f.size) for f in events if isinstance(f, FillEvent)) == [
        (D("100.01"), D("0.5")),
        (D("100.02"), D("0.1")),
    ]
    assert [e.status for e in events if isinstance(e, OrderEvent)][-1] is OrderStatus.FILLED
    assert ("POST", "/0/private/ClosedOrders") in fake.requests  # found among the closed orders


def test_kraken_refuses_an_open_duplicate_only_so_we_look_up_before_resending(fake: FakeKraken) -> None:
    raw = exchange_for(fake)
    # the venue's own rule: uniqueness among open orders only (a closed IOC's id would be accepted again)
    for _ in range(2):
        raw.create_order(
            "BTC/USD", "limit", "buy", "0.1", "90.00", {"cl_ord_id": "ioc-again", "timeinforce": "IOC"}
        )
    assert len([o for o in fake.orders.values() if o.client_order_id == "ioc-again"]) == 2
    # an open one is refused; CcxtVenue reads the refusal as "already there" and adopts the original
    o = order("k8", Side.BUY, "0.2", "90.00", TimeInForce.GTC)
    raw.create_order("BTC/USD", "limit", "buy", "0.2", "90.00", {"cl_ord_id": o.client_order_id})
    events: list[ExecutionEvent] = []
    venue = make_venue(fake, Outbox.sqlite(), events)
    venue.submit(o)
    assert requests_for(fake, o.client_order_id) == 2  # the refused second request reached the venue ...
    assert next(x for x in fake.orders.values() if x.client_order_id == o.client_order_id).status == "open"
    assert (
        len([x for x in fake.orders.values() if x.client_order_id == o.client_order_id]) == 1
    )  # ... no order
    assert [e.status for e in events if isinstance(e, OrderEvent)] == [OrderStatus.ACCEPTED]
    assert o.client_order_id not in venue.errors


@pytest.mark.parametrize("fault", ["fail_5xx", "rate_limit"])
def test_503_and_429_leave_a_pending_order_that_is_sent_once(fake: FakeKraken, fault: str) -> None:
    events: list[ExecutionEvent] = []
    venue = make_venue(fake, Outbox.sqlite(), events)
    o = order(f"k6-{fault}", Side.BUY, "0.2", "100.01")
    setattr(fake.faults, fault, 1)
    venue.submit(o)
    error = venue.errors[o.client_order_id]
    expected = ccxt.ExchangeNotAvailable if fault == "fail_5xx" else ccxt.DDoSProtection
    assert isinstance(error, expected) and isinstance(error, ccxt.NetworkError)
    if fault == "rate_limit":
        assert venue.exchange.last_response_headers.get("Retry-After") == "1"
    record = venue.outbox.get(o.client_order_id)
    assert record is not None and record.state is OutboxState.PENDING
    assert requests_for(fake, o.client_order_id) == 0
    venue.poll()  # looked up first (open, then closed orders): never arrived, so sent now, once
    venue.poll()
    assert requests_for(fake, o.client_order_id) == 1
    assert [e.status for e in events if isinstance(e, OrderEvent)][-1] is OrderStatus.FILLED


def test_venue_refusals_and_signatures(fake: FakeKraken) -> None:
    events: list[ExecutionEvent] = []
    venue = make_venue(fake, Outbox.sqlite(), events)
    o = order("k7", Side.BUY, "50000", "100.05")
    venue.submit(o)
    assert isinstance(venue.errors[o.client_order_id], ccxt.InsufficientFunds)
    (event,) = events
    assert isinstance(event, OrderEvent) and event.status is OrderStatus.REJECTED
    assert "EOrder:Insufficient funds" in event.reason
    balances = venue.exchange.fetch_balance()
    assert D(balances["USD"]["free"]) == D(1_000_000) and D(balances["BTC"]["total"]) == D(100)
    wrong = make_exchange("kraken", base_url=fake.rest_url, api_key=API_KEY, secret="d3Jvbmc=")
    with pytest.raises(ccxt.ExchangeError, match="Invalid signature"):
        wrong.fetch_balance()


# -- market data -------------------------------------------------------------------------------------------
def same_book(session: CryptofeedSession, fake: FakeKraken, symbol: str) -> bool:
    book = session.book(symbol)
    if book is None:
        return False
    bids, asks = fake.book(symbol)
    got_asks, got_bids = book.curve_levels(10**6)
    return got_asks == [(float(p), float(s)) for p, s in asks] and got_bids == [
        (float(p), float(s)) for p, s in bids
    ]


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


def resubscribed(feed: LiveFeed, connects: int, session: CryptofeedSession, fake: Any) -> Callable[[], bool]:
    """A fresh connection after ``connects`` and its snapshot applied."""
    return lambda: feed.connects == connects + 1 and same_book(session, fake, "BTC-USD")


def since(events: list[FeedEvent], start: int, kind: type) -> list[Any]:
    return [e for e in events[start:] if isinstance(e, kind)]


def test_live_feed_checks_every_update_and_resyncs_after_gap_drop_and_unreadable(fake: FakeKraken) -> None:
    async def scenario() -> None:
        rest = HttpRest(fake.rest_url)
        await load_live_symbols(KrakenSession, rest)  # /0/public/AssetPairs from the fake
        session = KrakenSession(["BTC-USD", "ETH-USD"], rest=rest)
        events: list[FeedEvent] = []
        feed = LiveFeed(session, ws_base=fake.ws_url, on_events=events.extend, backoff=Backoff(0.05, 0.2))
        stop = asyncio.Event()
        task = asyncio.ensure_future(feed.run(stop))
        try:
            await until(lambda: same_book(session, fake, "BTC-USD") and same_book(session, fake, "ETH-USD"))

            # updates (asks and bids in one message, a deletion, a fill): every one checksummed
            fake.set_book(
                "BTC-USD", [("99.99", "1.25"), ("99.97", "0.5")], [("100.01", "0.4"), ("100.04", "2")]
            )
            fake.change("BTC-USD", "sell", D("100.04"), D(0))
            fake.place("x-1", "BTC-USD", "buy", D("100.01"), D("0.1"), "IOC")
            await until(lambda: same_book(session, fake, "BTC-USD"))
            updates = [e for e in events if isinstance(e, BookUpdate) and e.symbol == "BTC-USD"]
            assert updates and all(u.checksum is not None for u in updates)
            assert session.maintainer.checksums_verified >= len(updates) and session.errors == 0

            # a lost update: the next update's checksum reveals it, the book is voided and resubscribed
            mark = len(events)
            fake.gap_ws()
            fake.change("BTC-USD", "buy", D("99.99"), D("3"))  # lost on the way
            fake.change("BTC-USD", "sell", D("100.01"), D("0.9"))
            await until(lambda: feed.connects == 2 and same_book(session, fake, "BTC-USD"))
            errors = since(events, mark, FeedError)
            assert errors[0].kind is FeedErrorKind.CHECKSUM_MISMATCH and errors[0].symbol == "BTC-USD"
            first_resync = events.index(since(events, mark, Resync)[0])
            assert not any(  # never an update on the voided book before its fresh snapshot
                isinstance(e, BookUpdate) and e.symbol == "BTC-USD"
                for e in events[first_resync : events.index(since(events, first_resync, BookSnapshot)[0])]
            )

            # drop: every book void at once, rebuilt from the new subscription's snapshot
            mark = len(events)
            fake.drop_ws()
            fake.change("ETH-USD", "buy", D("49.99"), D("7"))  # while nobody listens
            await until(lambda: feed.connects == 3 and same_book(session, fake, "ETH-USD"))
            resyncs = since(events, mark, Resync)
            assert {r.symbol for r in resyncs} == {"BTC-USD", "ETH-USD"}
            assert all(r.reason is FeedErrorKind.DISCONNECTED for r in resyncs)

            # unreadable messages: void + resubscribe, never a silent skip
            for corrupt in (
                None,
                '{"event": "subscriptionStatus", "status": "error", "errorMessage": "depth invalid"}',
                '[101, {"x": [["1", "1", "1"]]}, "book-1000", "XBT/USD"]',
                '[101, [], "spread", "XBT/USD"]',
            ):
                mark = len(events)
                connects = feed.connects
                if corrupt is None:
                    fake.corrupt_ws()
                    fake.change("BTC-USD", "buy", D("99.98"), D("2"))
                else:
                    fake.send_raw(corrupt)
                await until(resubscribed(feed, connects, session, fake))
                errors = since(events, mark, FeedError)
                assert errors and errors[0].kind is FeedErrorKind.MALFORMED, corrupt
                await until(lambda: same_book(session, fake, "ETH-USD"))

            # silence: no message (heartbeats included) for a while, then the stream comes back
            fake.silence(1.0)
            await until(lambda: feed.age() > 0.6, timeout=3)
            await until(lambda: feed.age() < 0.5, timeout=3)
        finally:
            stop.set()
            await feed.drop()
            await asyncio.wait_for(task, 5)
            await rest.close()

    asyncio.run(scenario())


# -- recordings and the docs' example ----------------------------------------------------------------------
def test_recording_parses_through_the_live_session_with_every_checksum(shared_data: Path) -> None:
    source = open_recording("kraken", shared_data / "recordings" / "cryptofeed")
    session = source.session
    assert type(session) is SPEC.feed_session and isinstance(session, CryptofeedSession)

    async def live_path() -> list[FeedEvent]:
        events = session.start()
        for record in source.records:
            if record.kind.value == "received":
                events += await session.on_message_async(record.payload, record.ts)
        return events

    events = asyncio.run(live_path())
    assert not [e for e in events if isinstance(e, FeedError | Resync)]
    assert session.maintainer.checksums_verified == 4269
    assert session.reconnect_requested is False


def test_docs_checksum_example_through_the_session(shared_data: Path) -> None:
    vectors = json.loads(
        (shared_data / "recordings" / "docs_examples" / "kraken_book_checksum_vectors.json").read_text()
    )
    levels = re.findall(r"\d+?500", vectors["v1_concatenated_string_vector"]["input_string"])
    assert len(levels) == 20  # ten asks then ten bids, each price digits + "500" (volume 0.00000500)
    as_level = [[f"0.0{chunk[:4]}", "0.00000500", "1582905486.000000"] for chunk in levels]
    message = vectors["v1_docs_update_example"]["message"]
    pair = message[-1]
    KrakenSession.load_symbols([json.dumps({"error": [], "result": {"XXBTZUSD": {"wsname": pair}}})])
    session = KrakenSession(["BTC-USD"])
    session.start()
    snapshot = [0, {"as": as_level[:10], "bs": as_level[10:]}, "book-1000", pair]
    events = session.on_message(json.dumps(snapshot), 1.0) + session.on_message(json.dumps(message), 2.0)
    assert not [e for e in events if isinstance(e, FeedError | Resync)]
    (update,) = [e for e in events if isinstance(e, BookUpdate)]
    assert update.checksum == vectors["v1_concatenated_string_vector"]["crc32_unsigned"] == 974947235
    assert session.maintainer.checksums_verified == 1
    altered = [1, {"a": [["0.05005", "0.00000600", "1582905487.0"]], "c": "974947235"}, "book-1000", pair]
    events = session.on_message(json.dumps(altered), 3.0)
    assert [e.kind for e in events if isinstance(e, FeedError)] == [FeedErrorKind.CHECKSUM_MISMATCH]
    assert session.book("BTC-USD") is None and session.reconnect_requested


# -- conformance kits --------------------------------------------------------------------------------------
KrakenExecution = execution_adapter_class(SPEC)


class TestKrakenExecutionConformance(ExecutionConformance):
    @pytest.fixture(autouse=True)
    def _venue(self, fake: FakeKraken) -> None:
        self.fake = fake

    def make_execution(self, listener: ExecutionListener) -> ExecutionAdapter:
        return KrakenExecution(
            "kraken",
            exchange_for(self.fake),
            outbox=Outbox.sqlite(),
            clock=SystemClock(),
            listener=listener,
            instruments=INSTRUMENTS,
        )

    def marketable_order(self, client_order_id: str) -> OrderRequest:
        return ioc_order(
            "kraken", "BTC-USD", Side.BUY, D("0.5"), D("100.01"), client_order_id=client_order_id
        )

    def unmarketable_order(self, client_order_id: str) -> OrderRequest:
        return ioc_order("kraken", "BTC-USD", Side.BUY, D("0.5"), D("90"), client_order_id=client_order_id)

    def error_cases(self) -> list[tuple[OrderRequest, type[AdapterError]]]:
        return [
            (
                ioc_order("kraken", "XRP-USD", Side.BUY, D(1), D(1), client_order_id="unknown-symbol"),
                InvalidOrder,
            ),
            (
                ioc_order("kraken", "BTC-USD", Side.BUY, D(50000), D("100.05"), client_order_id="too-big"),
                InsufficientFunds,
            ),
        ]


class TestKrakenFeedConformance(DataFeedConformance):
    symbols = ("BTC-USD", "ETH-USD")
    max_events = 300

    @pytest.fixture(autouse=True)
    def _venue(self) -> Iterator[None]:
        venue = FakeKraken(SYMBOLS, tick_s=0.005)
        venue.heartbeat_s = 0.2
        with venue:
            venue.ladder("BTC-USD", 100.0, levels=15)
            venue.ladder("ETH-USD", 50.0, levels=15)
            self.fake = venue
            yield

    def make_feed(self) -> DataFeedAdapter:
        return feed_adapter(SPEC, self.symbols, ws_base=self.fake.ws_url, rest_base=self.fake.rest_url)
