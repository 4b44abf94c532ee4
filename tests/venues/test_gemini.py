"""Gemini end to end against the loopback fake: orders through ccxt with Gemini's own client-id field,
restarts and REST faults without duplicates, the v2 market-data stream through ``LiveFeed`` with drops and
unreadable messages, the recorded messages through the same session, and the SDK conformance kits."""

from __future__ import annotations

import asyncio
import json
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
from agents.feeds.venues.gemini import GeminiSession
from agents.retry import Backoff
from agents.venues import venue_spec
from agents.venues.gemini import SPEC, GeminiOrders
from sdk.adapters.conformance import DataFeedConformance, ExecutionConformance, ioc_order
from sdk.adapters.events import BookSnapshot, FeedError, FeedErrorKind, FeedEvent, Resync
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
from sdk.adapters.manifest import AdapterManifest
from tests.fakevenues.base import SECRET, SymbolInfo
from tests.fakevenues.gemini import GEMINI_API_KEY, FakeGemini

pytestmark = pytest.mark.timeout(60)

D = Decimal
NOW = 1_800_000_000_000
SYMBOLS = {"BTC-USD": SymbolInfo("BTC", "USD"), "ETH-USD": SymbolInfo("ETH", "USD")}
INSTRUMENTS = {
    "BTC-USD": LiveInstrument("BTC/USD", "BTC", D("0.0001"), D("0.01")),
    "ETH-USD": LiveInstrument("ETH/USD", "ETH", D("0.0001"), D("0.01")),
}


@pytest.fixture
def fake() -> Iterator[FakeGemini]:
    venue = FakeGemini(SYMBOLS)
    venue.heartbeat_s = 0.2
    with venue:
        venue.ladder("BTC-USD", 100.0, levels=5)
        venue.ladder("ETH-USD", 50.0, levels=5)
        yield venue


def exchange_for(fake: FakeGemini) -> Any:
    exchange = make_exchange("gemini", base_url=fake.rest_url, api_key=GEMINI_API_KEY, secret=SECRET)
    exchange.load_markets()
    return exchange


def make_venue(fake: FakeGemini, outbox: Outbox, events: list[ExecutionEvent]) -> CcxtVenue:
    return CcxtVenue(
        "gemini-a",
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
        venue="gemini-a",
        instrument="BTC-USD",
        asset="BTC",
        side=side,
        size=D(size),
        limit_price=D(cap),
        deadline_ms=NOW + 10_000,
        time_in_force=tif,
        quote="USD",
    )


def requests_for(fake: FakeGemini, cid: str) -> int:
    return sum(1 for r in fake.create_requests if r.get("client_order_id") == cid)


# -- facts -------------------------------------------------------------------------------------------------
def test_spec_facts_are_consistent() -> None:
    assert venue_spec("gemini") is SPEC and SPEC.ccxt_id == "gemini"
    assert RULES["gemini"] == SPEC.client_ids
    assert SPEC.feed_session is CRYPTOFEED_SESSIONS["gemini"] is GeminiSession
    cid = client_order_id("plan/1/leg/0", SPEC.client_ids)
    assert len(cid) == 36 and cid.isalnum()  # docs: [:\-_.#a-zA-Z0-9]{1,36}
    assert client_order_id("plan/1/leg/0", SPEC.client_ids) == cid
    exchange = make_exchange("gemini", base_url=None, api_key=GEMINI_API_KEY, secret=SECRET)
    assert exchange.options["fetchMarketsFromAPI"]["fetchDetailsForAllSymbols"] is True
    assert exchange.has["fetchCurrencies"] is False  # no scraping of the web exchange page


# -- orders ------------------------------------------------------------------------------------------------
def test_ioc_carries_our_client_order_id_and_returns_fills_fee_and_status(fake: FakeGemini) -> None:
    events: list[ExecutionEvent] = []
    venue = make_venue(fake, Outbox.sqlite(), events)
    o = order("k1", Side.BUY, "0.7", "100.03")
    venue.submit(o)
    (sent,) = fake.create_requests
    assert sent["client_order_id"] == client_order_id("k1", SPEC.client_ids) == o.client_order_id
    assert sent["options"] == ["immediate-or-cancel"] and sent["type"] == "exchange limit"
    assert (sent["symbol"], sent["side"], sent["amount"], sent["price"]) == ("btcusd", "buy", "0.7", "100.03")
    fills = [e for e in events if isinstance(e, FillEvent)]
    assert [(f.price, f.size) for f in fills] == [(D("100.01"), D("0.5")), (D("100.02"), D("0.2"))]
    assert [f.fee for f in fills] == [D("0.050005"), D("0.020004")]  # fee_amount in USD, 10 bps
    assert all(f.liquidity.value == "taker" for f in fills)  # from the venue's ``aggressor``
    final = [e for e in events if isinstance(e, OrderEvent)][-1]
    assert (final.status, final.filled) == (OrderStatus.FILLED, D("0.7"))
    record = venue.outbox.get(o.client_order_id)
    assert record is not None and record.state is OutboxState.DONE
    assert record.exchange_order_id == final.exchange_order_id
    remote = venue.lookup(o)
    assert (
        remote is not None and remote["clientOrderId"] == o.client_order_id and remote["status"] == "closed"
    )
    venue.cancel(o.client_order_id)  # already final: nothing to do, nothing sent
    assert fake.requests.count(("POST", "/v1/order/cancel")) == 0


def test_ioc_remainder_is_cancelled_and_unknown_id_is_not_found(fake: FakeGemini) -> None:
    events: list[ExecutionEvent] = []
    venue = make_venue(fake, Outbox.sqlite(), events)
    venue.submit(order("k2", Side.SELL, "0.8", "99.99"))  # best bid 99.99 holds 0.5
    final = [e for e in events if isinstance(e, OrderEvent)][-1]
    assert (final.status, final.filled) == (OrderStatus.CANCELLED, D("0.5"))
    assert venue.lookup(order("never-sent", Side.BUY, "1", "1")) is None


def test_resting_order_is_cancelled_by_client_id_even_without_its_order_id(fake: FakeGemini) -> None:
    events: list[ExecutionEvent] = []
    venue = make_venue(fake, Outbox.sqlite(), events)
    o = order("k3", Side.BUY, "0.3", "90.00", TimeInForce.GTC)
    venue.submit(o)
    assert fake.create_requests[-1].get("options", []) == []  # a plain limit rests
    assert [e.status for e in events if isinstance(e, OrderEvent)] == [OrderStatus.ACCEPTED]
    venue.cancel(o.client_order_id)
    assert [e.status for e in events if isinstance(e, OrderEvent)][-1] is OrderStatus.CANCELLED
    # the outbox lost the venue's order id (acknowledgement never read): the lookup finds it
    p = order("k4", Side.BUY, "0.3", "90.00", TimeInForce.GTC)
    venue.submit(p)
    GeminiOrders().cancel_by_client_id(venue.exchange, "BTC/USD", p.client_order_id, "")
    assert fake.by_client_id[p.client_order_id].status == "canceled"
    GeminiOrders().cancel_by_client_id(venue.exchange, "BTC/USD", "never-sent-0000", "")  # not an error


def test_lost_acknowledgement_is_adopted_by_a_restarted_process(fake: FakeGemini, tmp_path: Path) -> None:
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
    restarted.submit(o)  # the plan re-submits its legs: recognised, not re-sent
    assert requests_for(fake, o.client_order_id) == 1
    assert fake.duplicate_client_ids("client_order_id") == 0
    assert [(f.price, f.size) for f in events if isinstance(f, FillEvent)] == [
        (D("100.01"), D("0.5")),
        (D("100.02"), D("0.1")),
    ]
    assert [e.status for e in events if isinstance(e, OrderEvent)][-1] is OrderStatus.FILLED
    record = restarted.outbox.get(o.client_order_id)
    assert record is not None and record.state is OutboxState.DONE


def test_gemini_accepts_a_repeated_client_order_id_so_we_never_send_one(fake: FakeGemini) -> None:
    # The venue's own behaviour (ids are not unique there): a blind re-send would be a second order.
    raw = exchange_for(fake)
    for _ in range(2):
        raw.create_order("BTC/USD", "limit", "buy", "0.1", "90.00", {"client_order_id": "dup-1"})
    assert fake.duplicate_client_ids("client_order_id") == 1 and len(fake.orders) == 2
    found = GeminiOrders().fetch_by_client_id(raw, "BTC/USD", "dup-1")
    assert found is not None and found["id"] == min(fake.orders, key=int)  # the earliest is ours


@pytest.mark.parametrize("fault", ["fail_5xx", "rate_limit"])
def test_503_and_429_leave_a_pending_order_that_is_sent_once(fake: FakeGemini, fault: str) -> None:
    events: list[ExecutionEvent] = []
    venue = make_venue(fake, Outbox.sqlite(), events)
    o = order(f"k6-{fault}", Side.BUY, "0.2", "100.01")
    setattr(fake.faults, fault, 1)
    venue.submit(o)
    error = venue.errors[o.client_order_id]
    expected = ccxt.OnMaintenance if fault == "fail_5xx" else ccxt.RateLimitExceeded
    assert isinstance(error, expected) and isinstance(error, ccxt.NetworkError)
    if fault == "rate_limit":
        assert venue.exchange.last_response_headers.get("Retry-After") == "1"
    record = venue.outbox.get(o.client_order_id)
    assert record is not None and record.state is OutboxState.PENDING
    assert requests_for(fake, o.client_order_id) == 0  # refused in front of the matching engine
    venue.poll()  # looks the id up first: never arrived, so it is sent now, once
    venue.poll()
    assert requests_for(fake, o.client_order_id) == 1
    assert [e.status for e in events if isinstance(e, OrderEvent)][-1] is OrderStatus.FILLED


def test_venue_refusals_are_rejections_with_the_venue_reason(fake: FakeGemini) -> None:
    events: list[ExecutionEvent] = []
    venue = make_venue(fake, Outbox.sqlite(), events)
    o = order("k7", Side.BUY, "50000", "100.05")
    venue.submit(o)
    assert isinstance(venue.errors[o.client_order_id], ccxt.InsufficientFunds)
    (event,) = events
    assert isinstance(event, OrderEvent) and event.status is OrderStatus.REJECTED
    assert "insufficient funds" in event.reason
    balances = venue.exchange.fetch_balance()
    assert balances["USD"]["free"] == "1000000" and balances["BTC"]["total"] == "100"


def test_private_calls_are_signed_and_scoped_to_the_path(fake: FakeGemini) -> None:
    wrong = make_exchange("gemini", base_url=fake.rest_url, api_key=GEMINI_API_KEY, secret="not-the-secret")
    with pytest.raises(ccxt.AuthenticationError):
        wrong.fetch_balance()
    unscoped = make_exchange("gemini", base_url=fake.rest_url, api_key="master-key", secret=SECRET)
    with pytest.raises(ccxt.AuthenticationError):  # ccxt itself refuses non-account keys
        unscoped.fetch_balance()


# -- market data -------------------------------------------------------------------------------------------
def same_book(session: CryptofeedSession, fake: FakeGemini, symbol: str) -> bool:
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


def test_live_feed_follows_the_book_and_resyncs_after_drop_and_unreadable_messages(fake: FakeGemini) -> None:
    async def scenario() -> None:
        rest = HttpRest(fake.rest_url)
        await load_live_symbols(GeminiSession, rest)  # /v1/symbols + details, from the fake
        session = GeminiSession(["BTC-USD", "ETH-USD"], rest=rest)
        events: list[FeedEvent] = []
        feed = LiveFeed(session, ws_base=fake.ws_url, on_events=events.extend, backoff=Backoff(0.05, 0.2))
        stop = asyncio.Event()
        task = asyncio.ensure_future(feed.run(stop))
        try:
            await until(lambda: same_book(session, fake, "BTC-USD") and same_book(session, fake, "ETH-USD"))
            assert rest.requests == 3  # the symbol list, then one details answer per symbol

            # updates: absolute quantities, a deletion, a fill (trade message + book change)
            fake.change("BTC-USD", "buy", D("99.99"), D("1.25"))
            fake.change("BTC-USD", "sell", D("100.02"), D(0))
            fake.place("x-1", "BTC-USD", "buy", D("100.03"), D("0.2"), "IOC")
            await until(lambda: same_book(session, fake, "BTC-USD"))
            assert session.errors == 0

            # drop: every book void at once, rebuilt from the new subscription's full book
            mark = len(events)
            fake.drop_ws()
            await until(lambda: feed.connects == 2 and same_book(session, fake, "BTC-USD"))
            resyncs = since(events, mark, Resync)
            assert {r.symbol for r in resyncs} == {"BTC-USD", "ETH-USD"}
            assert all(r.reason is FeedErrorKind.DISCONNECTED for r in resyncs)
            first_resync = events.index(resyncs[0])
            assert any(isinstance(e, BookSnapshot) for e in events[first_resync:])

            # an unreadable message: void + resubscribe, never a silent skip
            for corrupt in (None, '{"type": "mystery"}', '{"result": "error", "reason": "InvalidJson"}'):
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
                assert {r.symbol for r in since(events, mark, Resync)} >= {"BTC-USD"}
                await until(lambda: same_book(session, fake, "ETH-USD"))

            # silence: no message (heartbeats included) for a while, then the stream comes back
            await asyncio.sleep(0.3)
            fake.silence(1.0)
            await until(lambda: feed.age() > 0.6, timeout=3)
            await until(lambda: feed.age() < 0.5, timeout=3)
        finally:
            stop.set()
            await feed.drop()
            await asyncio.wait_for(task, 5)
            await rest.close()

    asyncio.run(scenario())


def test_crossed_or_invalid_update_voids_and_resubscribes(fake: FakeGemini) -> None:
    async def scenario() -> None:
        rest = HttpRest(fake.rest_url)
        await load_live_symbols(GeminiSession, rest)
        session = GeminiSession(["BTC-USD"], rest=rest)
        events: list[FeedEvent] = []
        feed = LiveFeed(session, ws_base=fake.ws_url, on_events=events.extend, backoff=Backoff(0.05, 0.2))
        stop = asyncio.Event()
        task = asyncio.ensure_future(feed.run(stop))
        try:
            await until(lambda: same_book(session, fake, "BTC-USD"))
            bad = json.dumps({"type": "l2_updates", "symbol": "BTCUSD", "changes": [["hold", "1", "1"]]})
            fake.send_raw(bad)
            await until(lambda: feed.connects == 2 and same_book(session, fake, "BTC-USD"))
            assert since(events, 0, FeedError)[0].kind is FeedErrorKind.MALFORMED
        finally:
            stop.set()
            await feed.drop()
            await asyncio.wait_for(task, 5)
            await rest.close()

    asyncio.run(scenario())


# -- recordings --------------------------------------------------------------------------------------------
def test_recording_parses_through_the_live_session(shared_data: Path) -> None:
    source = open_recording("gemini", shared_data / "recordings" / "cryptofeed")
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
    assert sum(isinstance(e, BookSnapshot) for e in events) == 10  # first message per symbol = full book
    assert session.reconnect_requested is False
    for symbol in source.symbols:
        book = session.book(symbol)
        assert book is not None and not book.is_crossed()


# -- conformance kits --------------------------------------------------------------------------------------
GeminiExecution = execution_adapter_class(SPEC)


class TestGeminiExecutionConformance(ExecutionConformance):
    @pytest.fixture(autouse=True)
    def _venue(self, fake: FakeGemini) -> None:
        self.fake = fake

    def make_execution(self, listener: ExecutionListener) -> ExecutionAdapter:
        return GeminiExecution(
            "gemini",
            exchange_for(self.fake),
            outbox=Outbox.sqlite(),
            clock=SystemClock(),
            listener=listener,
            instruments=INSTRUMENTS,
        )

    def marketable_order(self, client_order_id: str) -> OrderRequest:
        return ioc_order(
            "gemini", "BTC-USD", Side.BUY, D("0.5"), D("100.01"), client_order_id=client_order_id
        )

    def unmarketable_order(self, client_order_id: str) -> OrderRequest:
        return ioc_order("gemini", "BTC-USD", Side.BUY, D("0.5"), D("90"), client_order_id=client_order_id)

    def error_cases(self) -> list[tuple[OrderRequest, type[AdapterError]]]:
        return [
            (
                ioc_order("gemini", "XRP-USD", Side.BUY, D(1), D(1), client_order_id="unknown-symbol"),
                InvalidOrder,
            ),
            (
                ioc_order("gemini", "BTC-USD", Side.BUY, D(50000), D("100.05"), client_order_id="too-big"),
                InsufficientFunds,
            ),
        ]

    def test_manifest_names_gemini(self) -> None:
        manifest = GeminiExecution.manifest
        assert isinstance(manifest, AdapterManifest) and manifest.venue == "gemini"


class TestGeminiFeedConformance(DataFeedConformance):
    symbols = ("BTC-USD", "ETH-USD")
    max_events = 300

    @pytest.fixture(autouse=True)
    def _venue(self) -> Iterator[None]:
        venue = FakeGemini(SYMBOLS, tick_s=0.005)
        venue.heartbeat_s = 0.2
        with venue:
            venue.ladder("BTC-USD", 100.0)
            venue.ladder("ETH-USD", 50.0)
            self.fake = venue
            yield

    def make_feed(self) -> DataFeedAdapter:
        return feed_adapter(SPEC, self.symbols, ws_base=self.fake.ws_url, rest_base=self.fake.rest_url)
