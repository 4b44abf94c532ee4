"""Binance spot end to end against the loopback fake (``tests.fakevenues.binance``): orders through ccxt's
``binance`` module with our ``BinanceOrders``, market data through ``LiveFeed`` and ``BinanceSession`` (REST
snapshot + ``U``/``u`` chain), the recordings and the docs' examples through the same session, and the SDK
conformance kits. No mocks: real HTTP with HMAC-signed requests, real websockets."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

import ccxt
import pytest

from agents.execution.client_ids import RULES, client_order_id
from agents.execution.clock import ManualClock, SystemClock
from agents.execution.live import CcxtVenue, LiveInstrument, execution_adapter_class, make_exchange
from agents.execution.outbox import Outbox, OutboxState
from agents.feeds.live import HttpRest, LiveFeed, load_live_symbols
from agents.feeds.live_adapter import feed_adapter, feed_adapter_class
from agents.feeds.replay import open_recording, replay_events
from agents.feeds.session import RecordedRest
from agents.feeds.venues.binance import BinanceSession
from agents.retry import Backoff
from agents.venues import by_ccxt_id, venue_spec
from agents.venues.binance import SPEC, BinanceOrders
from sdk.adapters.conformance import (
    DataFeedConformance,
    ExecutionConformance,
    check_book_integrity,
    ioc_order,
)
from sdk.adapters.events import BookSnapshot, BookUpdate, FeedError, FeedErrorKind, FeedEvent, Resync, Trade
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
from tests.fakevenues.base import API_KEY, SECRET
from tests.fakevenues.binance import FakeBinance

pytestmark = pytest.mark.timeout(60)

D = Decimal
NOW = 1_800_000_000_000
SYMBOL = "BTC-USDT"
INSTRUMENTS = {SYMBOL: LiveInstrument("BTC/USDT", "BTC", D("0.00001"), D("0.01"))}
Levels = list[tuple[float, float]]


@pytest.fixture
def fake() -> Iterator[FakeBinance]:
    with FakeBinance() as venue:
        venue.ladder(SYMBOL, 50_000.0, levels=5)  # asks 50005, 50010, ..; bids 49995, 49990, .. (0.5 each)
        yield venue


def venue_for(fake: FakeBinance, outbox: Outbox, events: list[ExecutionEvent]) -> CcxtVenue:
    exchange = make_exchange("binance", base_url=fake.rest_url, api_key=API_KEY, secret=SECRET)
    exchange.load_markets()
    return CcxtVenue(
        "binance",
        exchange,
        outbox=outbox,
        clock=ManualClock(NOW),
        listener=events.append,
        instruments=INSTRUMENTS,
        orders=SPEC.orders(),
    )


def leg(
    key: str,
    side: Side,
    size: str,
    cap: str,
    tif: TimeInForce = TimeInForce.IOC,
    deadline: int = NOW + 60_000,
) -> OrderRequest:
    return OrderRequest(
        client_order_id=client_order_id(key, SPEC.client_ids),
        idempotency_key=key,
        plan_id="sess/1",
        venue="binance",
        instrument=SYMBOL,
        asset="BTC",
        side=side,
        size=D(size),
        limit_price=D(cap),
        deadline_ms=deadline,
        time_in_force=tif,
        quote="USDT",
    )


def requests_for(fake: FakeBinance, cid: str) -> list[dict[str, Any]]:
    return [r for r in fake.create_requests if r.get("newClientOrderId") == cid]


def statuses(events: list[ExecutionEvent]) -> list[OrderStatus]:
    return [e.status for e in events if isinstance(e, OrderEvent)]


# -- venue facts ------------------------------------------------------------------------------------------
def test_spec_is_registered_and_client_ids_fit_binance() -> None:
    assert venue_spec("binance") is SPEC and by_ccxt_id("binance") is SPEC
    assert RULES["binance"] == SPEC.client_ids
    assert isinstance(SPEC.orders(), BinanceOrders) and SPEC.feed_session is BinanceSession
    cid = client_order_id("sess/7/binance/0", SPEC.client_ids)
    assert re.fullmatch(r"[a-zA-Z0-9-_]{1,36}", cid) and len(cid) == 36  # Binance's legal range, -1100
    params = SPEC.orders().create_params(leg("sess/7/binance/0", Side.BUY, "1", "1"))
    assert params == {"timeInForce": "IOC", "newClientOrderId": cid}


# -- orders -----------------------------------------------------------------------------------------------
def test_ioc_carries_our_client_id_and_returns_fills_fee_and_status(fake: FakeBinance) -> None:
    events: list[ExecutionEvent] = []
    venue = venue_for(fake, Outbox.sqlite(), events)
    order = leg("sess/1/binance/0", Side.BUY, "1.2", "50010")
    venue.submit(order)
    (request,) = fake.create_requests
    assert request["newClientOrderId"] == order.client_order_id
    assert (request["timeInForce"], request["type"], request["price"]) == ("IOC", "LIMIT", "50010")
    fills = [e for e in events if isinstance(e, FillEvent)]
    assert [(f.price, f.size, f.fee) for f in fills] == [
        (D("50005"), D("0.5"), D("25.0025")),  # 0.1 % taker fee, charged in USDT
        (D("50010"), D("0.5"), D("25.005")),
    ]
    final = [e for e in events if isinstance(e, OrderEvent)][-1]
    assert (final.status, final.filled, final.remaining) == (OrderStatus.CANCELLED, D(1), D(0))
    assert final.exchange_order_id == fake.by_client_id[order.client_order_id].order_id
    remote = venue.lookup(order)
    assert remote is not None and remote["clientOrderId"] == order.client_order_id
    assert remote["info"]["status"] == "EXPIRED"  # Binance's word for an IOC's cancelled rest
    assert fake.lookup_requests[-1]["origClientOrderId"] == order.client_order_id
    record = venue.outbox.get(order.client_order_id)
    assert record is not None and record.state is OutboxState.DONE


def test_lookup_and_cancel_by_client_id(fake: FakeBinance) -> None:
    events: list[ExecutionEvent] = []
    venue = venue_for(fake, Outbox.sqlite(), events)
    resting = leg("sess/2/binance/0", Side.BUY, "0.1", "49000", tif=TimeInForce.GTC)
    venue.submit(resting)
    assert statuses(events) == [OrderStatus.ACCEPTED]
    venue.cancel(resting.client_order_id)
    assert fake.cancel_requests[-1]["origClientOrderId"] == resting.client_order_id
    assert statuses(events) == [OrderStatus.ACCEPTED, OrderStatus.CANCELLED]
    venue.cancel(resting.client_order_id)  # already final: nothing is sent again
    assert len(fake.cancel_requests) == 1
    never = leg("sess/2/binance/1", Side.BUY, "0.1", "49000")
    assert venue.lookup(never) is None  # -2013 Order does not exist -> not at the venue
    venue.orders.cancel_by_client_id(venue.exchange, "BTC/USDT", never.client_order_id, "")  # -2011: no error


def test_lost_ack_then_restart_adopts_the_order_without_resending(fake: FakeBinance, tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite"
    order = leg("sess/3/binance/0", Side.SELL, "0.7", "49990")
    fake.faults.lose_ack = 1
    first = venue_for(fake, Outbox.sqlite(path), [])
    first.submit(order)  # processed and filled at the venue; the answer never arrives
    assert isinstance(first.errors[order.client_order_id], ccxt.NetworkError)
    record = first.outbox.get(order.client_order_id)
    assert record is not None and record.state is OutboxState.PENDING
    events: list[ExecutionEvent] = []
    restarted = venue_for(fake, Outbox.sqlite(path), events)  # a new process on the same outbox
    restarted.recover()
    restarted.submit(order)  # the plan asks again: adopted, never re-sent
    assert len(requests_for(fake, order.client_order_id)) == 1
    assert fake.duplicate_client_ids("newClientOrderId") == 0
    fills = [(e.price, e.size) for e in events if isinstance(e, FillEvent)]
    assert fills == [(D("49995"), D("0.5")), (D("49990"), D("0.2"))]
    assert statuses(events) == [OrderStatus.FILLED]
    record = restarted.outbox.get(order.client_order_id)
    assert record is not None and record.state is OutboxState.DONE


@pytest.mark.parametrize("fault", ["5xx", "429"])
def test_5xx_and_429_leave_no_duplicate_and_a_clear_outcome(fake: FakeBinance, fault: str) -> None:
    events: list[ExecutionEvent] = []
    venue = venue_for(fake, Outbox.sqlite(), events)
    order = leg(f"sess/4/binance/{fault}", Side.BUY, "0.5", "50005")
    if fault == "5xx":
        fake.faults.fail_5xx = 1
    else:
        fake.faults.rate_limit = 1
    venue.submit(order)
    error = venue.errors[order.client_order_id]
    if fault == "5xx":  # -1006 "execution status unknown": never a rejection
        assert isinstance(error, ccxt.OperationFailed) and "Execution status unknown" in str(error)
    else:
        assert isinstance(error, ccxt.DDoSProtection)
        assert venue.exchange.last_response_headers["Retry-After"] == "1"
    assert statuses(events) == []  # outcome unknown: nothing reported yet
    venue.poll()  # looks the id up first (not there), then sends it, once
    assert statuses(events) == [OrderStatus.FILLED]
    assert len(requests_for(fake, order.client_order_id)) == 1
    assert [o.client_order_id for o in fake.orders.values()] == [order.client_order_id]


def test_an_open_order_with_the_id_is_adopted_not_doubled(fake: FakeBinance) -> None:
    resting = leg("sess/5/binance/0", Side.BUY, "0.2", "49000", tif=TimeInForce.GTC)
    venue_for(fake, Outbox.sqlite(), []).submit(resting)
    events: list[ExecutionEvent] = []
    lost_outbox = venue_for(fake, Outbox.sqlite(), events)  # a process whose outbox was lost
    lost_outbox.submit(resting)  # -2010 "Duplicate order sent." -> lookup -> adopt
    assert len(fake.orders) == 1 and len(requests_for(fake, resting.client_order_id)) == 2
    assert statuses(events) == [OrderStatus.ACCEPTED]
    assert lost_outbox.errors == {}


def test_refusals_are_the_venues(fake: FakeBinance) -> None:
    events: list[ExecutionEvent] = []
    venue = venue_for(fake, Outbox.sqlite(), events)
    venue.submit(leg("sess/6/binance/0", Side.BUY, "100", "50005"))  # 5 M USDT > 1 M
    assert isinstance(
        venue.errors[client_order_id("sess/6/binance/0", SPEC.client_ids)], ccxt.InsufficientFunds
    )
    exchange = venue.exchange
    with pytest.raises(ccxt.InvalidOrder, match="PRICE_FILTER"):
        exchange.private_post_order(
            {
                "symbol": "BTCUSDT",
                "side": "BUY",
                "type": "LIMIT",
                "timeInForce": "IOC",
                "quantity": "1",
                "price": "50005.001",
                "newClientOrderId": "as-bad-tick",
            }
        )
    with pytest.raises(ccxt.BadRequest, match="legal range"):
        exchange.create_order("BTC/USDT", "limit", "buy", "0.1", "49000", {"newClientOrderId": "bad id!"})
    bad_key = make_exchange("binance", base_url=fake.rest_url, api_key="wrong", secret=SECRET)
    bad_key.load_markets()
    with pytest.raises(ccxt.AuthenticationError):
        bad_key.fetch_balance()
    balances = exchange.fetch_balance()
    assert balances["free"]["USDT"] == "1000000.00000000" and balances["free"]["BTC"] == "100.00000000"
    assert statuses(events) == [OrderStatus.REJECTED]


# -- live market data ---------------------------------------------------------------------------------------
def _book_of(fake: FakeBinance) -> tuple[Levels, Levels]:
    bids, asks = fake.book(SYMBOL)
    return [(float(p), float(q)) for p, q in bids], [(float(p), float(q)) for p, q in asks]


def _session_book(session: BinanceSession) -> tuple[Levels, Levels] | None:
    book = session.book(SYMBOL)
    if book is None:
        return None
    return list(book.bids.all_levels()), list(book.asks.all_levels())


async def _until(predicate: Callable[[], bool], what: str, timeout_s: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


Scenario = Callable[[FakeBinance, LiveFeed, list[FeedEvent]], Awaitable[None]]


def run_live(fake: FakeBinance, scenario: Scenario) -> None:
    """Run ``scenario`` against a live feed on ``fake``, synchronised once (the first depth event after
    connecting fetches the REST snapshot)."""

    async def main() -> None:
        rest = HttpRest(fake.rest_url)
        await load_live_symbols(BinanceSession, rest)
        session = BinanceSession([SYMBOL], rest=rest)
        events: list[FeedEvent] = []
        feed = LiveFeed(
            session, ws_base=fake.ws_url, on_events=events.extend, backoff=Backoff(initial=0.05, maximum=0.2)
        )
        stop = asyncio.Event()
        task = asyncio.ensure_future(feed.run(stop))
        try:
            await _until(lambda: fake.ws_connects == 1 and bool(fake.publishers), "the connection")
            fake.change(SYMBOL, "buy", D("49980"), D("0.6"))
            await _in_sync(fake, feed)
            await scenario(fake, feed, events)
        finally:
            stop.set()
            await feed.drop()
            await asyncio.wait_for(task, 5)
            await rest.close()

    asyncio.run(main())


async def _in_sync(fake: FakeBinance, feed: LiveFeed) -> None:
    session = feed.session
    assert isinstance(session, BinanceSession)
    await _until(lambda: _session_book(session) == _book_of(fake), "the maintained book to equal the fake's")


def _no_update_between_void_and_snapshot(events: list[FeedEvent], resync: Resync) -> None:
    after = events[events.index(resync) :]
    snapshot = next(e for e in after if isinstance(e, BookSnapshot))
    assert not any(isinstance(e, BookUpdate) for e in after[: after.index(snapshot)])


def test_live_book_follows_snapshot_and_updates(fake: FakeBinance) -> None:
    async def scenario(fake: FakeBinance, feed: LiveFeed, events: list[FeedEvent]) -> None:
        assert fake.depth_requests == 1
        assert "/stream" in {path for _, path in fake.requests}  # the combined stream cryptofeed asks for
        fake.change(SYMBOL, "buy", D("49995"), D("0.7"))
        fake.change(SYMBOL, "sell", D("50005"), D(0))  # deletes the best ask
        fake.change(SYMBOL, "sell", D("50030"), D("3"))
        fake.set_book(SYMBOL, [("49990", "1"), ("49980", "2")], [("50010", "1"), ("50020", "2")])
        await _in_sync(fake, feed)
        venue = venue_for(fake, Outbox.sqlite(), [])
        venue.submit(leg("sess/8/binance/0", Side.BUY, "0.4", "50010"))  # a fill moves the book and trades
        await _in_sync(fake, feed)
        await _until(lambda: any(isinstance(e, Trade) for e in events), "the aggTrade event")
        trade = next(e for e in events if isinstance(e, Trade))
        assert (trade.symbol, trade.side, trade.price, trade.size) == (SYMBOL, Side.BUY, 50010.0, 0.4)
        updates = [e for e in events if isinstance(e, BookUpdate)]
        ids = [e.sequence or 0 for e in updates]
        assert ids == sorted(ids) and len(set(ids)) == len(ids)  # the u ids, in order
        assert not [e for e in events if isinstance(e, FeedError | Resync)]
        assert fake.depth_requests == 1  # one snapshot; the chain carried the rest

    run_live(fake, scenario)


def test_drop_voids_the_book_then_rebuilds_it(fake: FakeBinance) -> None:
    async def scenario(fake: FakeBinance, feed: LiveFeed, events: list[FeedEvent]) -> None:
        fake.drop_ws()
        await _until(lambda: any(isinstance(e, Resync) for e in events), "the void")
        resync = next(e for e in events if isinstance(e, Resync))
        assert resync.reason is FeedErrorKind.DISCONNECTED and feed.session.book(SYMBOL) is None
        fake.change(SYMBOL, "buy", D("49985"), D("4"))  # while disconnected: only the next snapshot has it
        await _until(lambda: feed.connects == 2 and fake.ws_connects == 2, "the reconnect")
        fake.change(SYMBOL, "sell", D("50015"), D("2"))  # the first event after reconnecting: snapshot
        await _in_sync(fake, feed)
        assert fake.depth_requests == 2
        _no_update_between_void_and_snapshot(events, resync)

    run_live(fake, scenario)


@pytest.mark.parametrize("fault", ["gap", "corrupt"])
def test_gap_or_unreadable_message_voids_and_resyncs_from_rest(fake: FakeBinance, fault: str) -> None:
    async def scenario(fake: FakeBinance, feed: LiveFeed, events: list[FeedEvent]) -> None:
        session = feed.session
        assert isinstance(session, BinanceSession)
        if fault == "gap":
            fake.gap_ws()  # the next event skips an update id
        else:
            fake.corrupt_ws()  # an unreadable message precedes the next event
        fake.change(SYMBOL, "buy", D("49995"), D("0.3"))
        want = FeedErrorKind.SEQUENCE_GAP if fault == "gap" else FeedErrorKind.MALFORMED
        await _until(lambda: any(isinstance(e, FeedError) and e.kind is want for e in events), f"a {want}")
        resync = next(e for e in events if isinstance(e, Resync))
        if fault == "gap":  # the event that showed the gap is not applied: the book stays void until the next
            assert session.book(SYMBOL) is None and session.gaps == 1
            fake.change(SYMBOL, "buy", D("49990"), D("0.8"))
        await _in_sync(fake, feed)  # a fresh REST snapshot, same connection
        assert fake.depth_requests == 2 and feed.connects == 1
        _no_update_between_void_and_snapshot(events, resync)

    run_live(fake, scenario)


def test_a_failed_snapshot_is_reported_and_retried(fake: FakeBinance) -> None:
    async def scenario(fake: FakeBinance, feed: LiveFeed, events: list[FeedEvent]) -> None:
        fake.fail_snapshots = 1
        fake.corrupt_ws()
        fake.change(SYMBOL, "buy", D("49995"), D("0.3"))  # void, then its own snapshot request fails
        await _until(
            lambda: any(
                isinstance(e, FeedError) and e.kind is FeedErrorKind.SNAPSHOT_UNAVAILABLE for e in events
            ),
            "the failed snapshot",
        )
        assert feed.session.book(SYMBOL) is None and feed.connects == 1
        fake.change(SYMBOL, "buy", D("49990"), D("0.8"))  # the symbol's next event asks again
        await _in_sync(fake, feed)
        assert fake.depth_requests == 3

    run_live(fake, scenario)


def test_silence_is_seen_as_age_and_the_missed_ids_resync(fake: FakeBinance) -> None:
    async def scenario(fake: FakeBinance, feed: LiveFeed, events: list[FeedEvent]) -> None:
        assert feed.age() < 0.5
        fake.silence(0.6)
        fake.change(SYMBOL, "sell", D("50020"), D("5"))  # withheld: its update id is spent
        await asyncio.sleep(0.4)
        assert feed.age() > 0.3  # the staleness a consumer acts on
        await asyncio.sleep(0.3)
        fake.change(SYMBOL, "sell", D("50025"), D("6"))
        await _until(
            lambda: any(isinstance(e, FeedError) and e.kind is FeedErrorKind.SEQUENCE_GAP for e in events),
            "the gap behind the silence",
        )
        fake.change(SYMBOL, "buy", D("49970"), D("1"))
        await _in_sync(fake, feed)
        assert feed.age() < 0.5

    run_live(fake, scenario)


def test_server_shutdown_notice_reconnects_and_resyncs(fake: FakeBinance) -> None:
    async def scenario(fake: FakeBinance, feed: LiveFeed, events: list[FeedEvent]) -> None:
        fake.shutdown_notice()
        await _until(lambda: fake.ws_connects == 2, "the new connection")
        resync = next(e for e in events if isinstance(e, Resync))
        assert resync.reason is FeedErrorKind.DISCONNECTED
        assert not any(isinstance(e, FeedError) and e.kind is FeedErrorKind.MALFORMED for e in events)
        fake.change(SYMBOL, "buy", D("49975"), D("2"))
        await _in_sync(fake, feed)

    run_live(fake, scenario)


def test_raw_stream_and_live_subscribe_speak_the_docs_protocol(fake: FakeBinance) -> None:
    import websockets

    async def main() -> None:
        async with websockets.connect(f"{fake.ws_url}/ws/btcusdt@depth") as raw:
            await _until(lambda: len(fake.publishers) == 1, "the raw subscription")
            fake.change(SYMBOL, "buy", D("49995"), D("0.9"))
            event = json.loads(await asyncio.wait_for(raw.recv(), 5))
            assert event["e"] == "depthUpdate" and event["s"] == "BTCUSDT" and event["U"] == event["u"]
            assert event["b"] == [["49995.00000000", "0.90000000"]] and event["a"] == []
            await raw.send(json.dumps({"method": "SUBSCRIBE", "params": ["btcusdt@aggTrade"], "id": 7}))
            assert json.loads(await asyncio.wait_for(raw.recv(), 5)) == {"result": None, "id": 7}
            await raw.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 8}))
            answer = json.loads(await asyncio.wait_for(raw.recv(), 5))
            assert answer == {"result": ["btcusdt@depth", "btcusdt@aggTrade"], "id": 8}

    asyncio.run(main())


# -- recordings and the docs' examples: the same session class ------------------------------------------
def test_recordings_replay_through_the_live_session_class(shared_data: Path) -> None:
    assert SPEC.recording_prefix == "BINANCE"
    source = open_recording("binance", shared_data / "recordings" / "cryptofeed")
    assert type(source.session) is SPEC.feed_session
    events = list(replay_events(source.session, source.records))
    assert {e.symbol for e in events if isinstance(e, BookSnapshot)} == set(source.symbols)
    assert sum(isinstance(e, BookUpdate) for e in events) > 100
    assert not [e for e in events if isinstance(e, FeedError)]


EXCHANGE_INFO = {
    "symbols": [
        {
            "symbol": "BNBBTC",
            "status": "TRADING",
            "baseAsset": "BNB",
            "quoteAsset": "BTC",
            "filters": [{"filterType": "PRICE_FILTER", "tickSize": "0.00000100"}],
        }
    ]
}
DOCS_DEPTH_EVENT = {  # web-socket-streams.md, "Diff. Depth Stream" payload
    "e": "depthUpdate",
    "E": 1672515782136,
    "s": "BNBBTC",
    "U": 157,
    "u": 160,
    "b": [["0.0024", "10"]],
    "a": [["0.0026", "100"]],
}
DOCS_DEPTH_SNAPSHOT = {  # rest-api.md "Order book" response, lastUpdateId moved into the event's [U, u]
    "lastUpdateId": 158,
    "bids": [["4.00000000", "431.00000000"]],
    "asks": [["4.00000200", "12.00000000"]],
}


def test_docs_examples_parse_through_the_live_session_class() -> None:
    """The documented payloads, as cryptofeed receives them on the combined stream, applied by the docs'
    procedure: the snapshot's ``lastUpdateId`` lies within the first event's ``[U, u]``."""
    BinanceSession.load_symbols([json.dumps(EXCHANGE_INFO)])
    snapshot_url = "https://api.binance.com/api/v3/depth?symbol=BNBBTC&limit=1000"
    rest = RecordedRest([(snapshot_url, json.dumps(DOCS_DEPTH_SNAPSHOT))])
    session = BinanceSession(["BNB-BTC"], rest=rest, cross_check=False)
    session.start()
    message = json.dumps({"stream": "bnbbtc@depth@100ms", "data": DOCS_DEPTH_EVENT})
    events = session.on_message(message, 1672515782.2)
    assert [type(e) for e in events] == [BookSnapshot, BookUpdate]
    update = events[1]
    assert isinstance(update, BookUpdate)
    assert (update.sequence, update.bids, update.asks) == (160, ((0.0024, 10.0),), ((0.0026, 100.0),))
    book = session.book("BNB-BTC")
    assert book is not None and book.best_bid() == 4.0 and book.best_ask() == 0.0026
    shutdown = json.dumps({"stream": "!serverShutdown", "data": {"e": "serverShutdown", "E": 1770123456789}})
    assert session.on_message(shutdown, 1672515783.0) == [] and session.reconnect_requested


# -- the SDK conformance kits ------------------------------------------------------------------------------
class TestBinanceExecutionConformance(ExecutionConformance):
    @pytest.fixture(autouse=True)
    def _venue(self, fake: FakeBinance) -> None:
        self.fake = fake

    def make_execution(self, listener: ExecutionListener) -> ExecutionAdapter:
        exchange = make_exchange("binance", base_url=self.fake.rest_url, api_key=API_KEY, secret=SECRET)
        return execution_adapter_class(SPEC)(
            "binance",
            exchange,
            outbox=Outbox.sqlite(),
            clock=SystemClock(),
            listener=listener,
            instruments=INSTRUMENTS,
        )

    def marketable_order(self, client_order_id: str) -> OrderRequest:
        return ioc_order("binance", SYMBOL, Side.BUY, D("1"), D("50010"), client_order_id=client_order_id)

    def unmarketable_order(self, client_order_id: str) -> OrderRequest:
        return ioc_order("binance", SYMBOL, Side.BUY, D("1"), D("49000"), client_order_id=client_order_id)

    def error_cases(self) -> list[tuple[OrderRequest, type[AdapterError]]]:
        return [
            (
                ioc_order("binance", "ETH-USDT", Side.BUY, D(1), D(1), client_order_id="unknown-symbol"),
                InvalidOrder,
            ),
            (
                ioc_order("binance", SYMBOL, Side.BUY, D(100), D("50010"), client_order_id="too-big"),
                InsufficientFunds,
            ),
        ]


class TestBinanceFeedConformance(DataFeedConformance):
    symbols: ClassVar[tuple[str, ...]] = (SYMBOL,)
    max_events: ClassVar[int] = 150

    @pytest.fixture(autouse=True)
    def _venue(self) -> Iterator[None]:
        with FakeBinance(tick_s=0.002) as venue:
            venue.ladder(SYMBOL, 50_000.0, levels=20)
            self.fake = venue
            yield

    def make_feed(self) -> DataFeedAdapter:
        return feed_adapter_class(SPEC)(ws_base=self.fake.ws_url, rest_base=self.fake.rest_url)

    def test_the_lead_adapter_serves_the_venue(self) -> None:
        """The unpaced adapter on a market that moves slower than the consumer reads."""
        with FakeBinance(tick_s=0.05) as slow:
            slow.ladder(SYMBOL, 50_000.0, levels=20)
            adapter = feed_adapter(SPEC, [SYMBOL], ws_base=slow.ws_url, rest_base=slow.rest_url)
            assert isinstance(adapter, DataFeedAdapter) and adapter.manifest.venue == "binance"

            async def check() -> None:
                try:
                    report = await check_book_integrity(adapter, [SYMBOL], max_events=20)
                finally:
                    await adapter.disconnect()
                assert report.snapshots == 1 and report.updates > 0 and report.errors == 0

            asyncio.run(check())
