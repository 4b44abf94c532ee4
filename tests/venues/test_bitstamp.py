"""Bitstamp end to end against the loopback fake (``tests.fakevenues.bitstamp``): orders through ccxt's
``bitstamp`` module with our ``BitstampOrders`` (``client_order_id``, ``ioc_order``, ``order_status`` by
client id, cancel by exchange id), market data through ``LiveFeed`` and ``BitstampSession``
(``diff_order_book`` gated on REST ``order_book`` snapshots by ``microtimestamp``), the recordings through the
same session, and the SDK conformance kits. No mocks: real HTTP with HMAC-signed requests, real websockets."""

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
from agents.feeds.venues.bitstamp import BitstampSession
from agents.retry import Backoff
from agents.venues import by_ccxt_id, venue_spec
from agents.venues.bitstamp import SPEC, BitstampOrders
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
from tests.fakevenues.bitstamp import FakeBitstamp

pytestmark = pytest.mark.timeout(60)

D = Decimal
NOW = 1_800_000_000_000
SYMBOL = "BTC-USD"
INSTRUMENTS = {SYMBOL: LiveInstrument("BTC/USD", "BTC", D("0.00000001"), D("0.01"))}
Levels = list[tuple[float, float]]


@pytest.fixture
def fake() -> Iterator[FakeBitstamp]:
    with FakeBitstamp() as venue:
        venue.ladder(SYMBOL, 50_000.0, levels=5)  # asks 50005, 50010, ..; bids 49995, 49990, .. (0.5 each)
        yield venue


def venue_for(fake: FakeBitstamp, outbox: Outbox, events: list[ExecutionEvent]) -> CcxtVenue:
    exchange = make_exchange("bitstamp", base_url=fake.rest_url, api_key=API_KEY, secret=SECRET)
    exchange.load_markets()
    return CcxtVenue(
        "bitstamp",
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
        venue="bitstamp",
        instrument=SYMBOL,
        asset="BTC",
        side=side,
        size=D(size),
        limit_price=D(cap),
        deadline_ms=deadline,
        time_in_force=tif,
        quote="USD",
    )


def requests_for(fake: FakeBitstamp, cid: str) -> list[dict[str, Any]]:
    return [r for r in fake.create_requests if r.get("client_order_id") == cid]


def statuses(events: list[ExecutionEvent]) -> list[OrderStatus]:
    return [e.status for e in events if isinstance(e, OrderEvent)]


# -- venue facts ------------------------------------------------------------------------------------------
def test_spec_is_registered_and_client_ids_are_bitstamp_tokens() -> None:
    assert venue_spec("bitstamp") is SPEC and by_ccxt_id("bitstamp") is SPEC
    assert RULES["bitstamp"] == SPEC.client_ids
    assert isinstance(SPEC.orders(), BitstampOrders) and SPEC.feed_session is BitstampSession
    cid = client_order_id("sess/7/bitstamp/0", SPEC.client_ids)
    assert re.fullmatch(r"as[a-z2-7]{30}", cid)
    params = SPEC.orders().create_params(leg("sess/7/bitstamp/0", Side.BUY, "1", "1"))
    assert params == {"ioc_order": "True", "client_order_id": cid}


# -- orders -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("rest_status", ["Canceled", "Finished", "Expired"])
def test_ioc_carries_our_client_id_and_returns_fills_fee_and_status(
    fake: FakeBitstamp, rest_status: str
) -> None:
    fake.ioc_rest_status = rest_status  # however the venue words an IOC's cancelled rest: never a full fill
    events: list[ExecutionEvent] = []
    venue = venue_for(fake, Outbox.sqlite(), events)
    order = leg("sess/1/bitstamp/0", Side.BUY, "1.2", "50010")
    venue.submit(order)
    (request,) = fake.create_requests
    assert request == {
        "amount": "1.2",
        "price": "50010",
        "ioc_order": "True",
        "client_order_id": order.client_order_id,
    }
    assert ("POST", "/api/v2/buy/btcusd/") in fake.requests
    fills = [e for e in events if isinstance(e, FillEvent)]
    assert [(f.price, f.size, f.fee) for f in fills] == [
        (D("50005.00"), D("0.5"), D("25.0025")),  # the order's transactions: fee in USD
        (D("50010.00"), D("0.5"), D("25.005")),
    ]
    final = [e for e in events if isinstance(e, OrderEvent)][-1]
    assert (final.status, final.filled, final.remaining) == (OrderStatus.CANCELLED, D(1), D(0))
    assert final.exchange_order_id == fake.by_client_id[order.client_order_id].order_id
    assert fake.lookup_requests[0] == {
        "client_order_id": order.client_order_id
    }  # the IOC's outcome, read once
    remote = venue.lookup(order)
    assert remote is not None and remote["clientOrderId"] == order.client_order_id
    assert remote["info"]["status"] == rest_status and remote["info"]["amount_remaining"] == "0.20000000"
    record = venue.outbox.get(order.client_order_id)
    assert record is not None and record.state is OutboxState.DONE


def test_lookup_and_cancel_by_client_id(fake: FakeBitstamp) -> None:
    events: list[ExecutionEvent] = []
    venue = venue_for(fake, Outbox.sqlite(), events)
    resting = leg("sess/2/bitstamp/0", Side.BUY, "0.1", "49000", tif=TimeInForce.GTC)
    venue.submit(resting)
    assert statuses(events) == [OrderStatus.ACCEPTED] and "ioc_order" not in fake.create_requests[0]
    venue.cancel(resting.client_order_id)
    exchange_id = fake.by_client_id[resting.client_order_id].order_id
    assert fake.cancel_requests == [{"id": exchange_id}]  # the venue cancels by id only
    assert statuses(events) == [OrderStatus.ACCEPTED, OrderStatus.CANCELLED]
    # Known only by client id (the acknowledgement was lost): looked up, then cancelled by its id.
    orphan = leg("sess/2/bitstamp/1", Side.SELL, "0.1", "51000", tif=TimeInForce.GTC)
    venue.orders.create(venue.exchange, "BTC/USD", orphan)
    venue.orders.cancel_by_client_id(venue.exchange, "BTC/USD", orphan.client_order_id, "")
    assert fake.lookup_requests[-1] == {"client_order_id": orphan.client_order_id}
    assert fake.cancel_requests[-1] == {"id": fake.by_client_id[orphan.client_order_id].order_id}
    assert fake.by_client_id[orphan.client_order_id].status == "canceled"
    never = leg("sess/2/bitstamp/2", Side.BUY, "0.1", "49000")
    assert venue.lookup(never) is None  # "Order not found." -> never arrived
    venue.orders.cancel_by_client_id(venue.exchange, "BTC/USD", never.client_order_id, "")
    assert len(fake.cancel_requests) == 2  # nothing to cancel: nothing sent


def test_lost_ack_then_restart_adopts_the_order_without_resending(fake: FakeBitstamp, tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite"
    order = leg("sess/3/bitstamp/0", Side.SELL, "0.7", "49990")
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
    assert fake.duplicate_client_ids("client_order_id") == 0
    fills = [(e.price, e.size) for e in events if isinstance(e, FillEvent)]
    assert fills == [(D("49995.00"), D("0.5")), (D("49990.00"), D("0.2"))]
    assert statuses(events) == [OrderStatus.FILLED]
    record = restarted.outbox.get(order.client_order_id)
    assert record is not None and record.state is OutboxState.DONE


@pytest.mark.parametrize("fault", ["5xx", "429"])
def test_5xx_and_429_leave_no_duplicate_and_a_clear_outcome(fake: FakeBitstamp, fault: str) -> None:
    events: list[ExecutionEvent] = []
    venue = venue_for(fake, Outbox.sqlite(), events)
    order = leg(f"sess/4/bitstamp/{fault}", Side.BUY, "0.5", "50005")
    if fault == "5xx":
        fake.faults.fail_5xx = 1
    else:
        fake.faults.rate_limit = 1
    venue.submit(order)
    error = venue.errors[order.client_order_id]
    if fault == "5xx":
        assert isinstance(error, ccxt.ExchangeNotAvailable)
    else:  # response_code 400.002, which ccxt leaves generic: translated, so it is no rejection
        assert isinstance(error, ccxt.RateLimitExceeded) and "400.002" in str(error)
        assert venue.exchange.last_response_headers["Retry-After"] == "1"
    assert statuses(events) == []  # outcome unknown: nothing reported yet
    venue.poll()  # looks the id up first (not there), then sends it, once
    assert statuses(events) == [OrderStatus.FILLED]
    assert len(requests_for(fake, order.client_order_id)) == 1
    assert [o.client_order_id for o in fake.orders.values()] == [order.client_order_id]


def test_a_used_client_id_is_refused_and_the_original_adopted(fake: FakeBitstamp) -> None:
    order = leg("sess/5/bitstamp/0", Side.BUY, "0.5", "50005")
    venue_for(fake, Outbox.sqlite(), []).submit(order)  # filled: Bitstamp still refuses the id forever
    with pytest.raises(ccxt.DuplicateOrderId, match=r"400\.019"):
        SPEC.orders().create(venue_for(fake, Outbox.sqlite(), []).exchange, "BTC/USD", order)
    events: list[ExecutionEvent] = []
    lost_outbox = venue_for(fake, Outbox.sqlite(), events)  # a process whose outbox was lost
    lost_outbox.submit(order)  # 400.019 -> DuplicateOrderId (an InvalidOrder) -> lookup -> adopt
    assert len(fake.orders) == 1 and len(requests_for(fake, order.client_order_id)) == 3
    assert statuses(events) == [OrderStatus.FILLED]
    assert [(e.price, e.size) for e in events if isinstance(e, FillEvent)] == [(D("50005.00"), D("0.5"))]
    assert lost_outbox.errors == {}


def test_refusals_are_the_venues(fake: FakeBitstamp) -> None:
    events: list[ExecutionEvent] = []
    venue = venue_for(fake, Outbox.sqlite(), events)
    venue.submit(leg("sess/6/bitstamp/0", Side.BUY, "100", "50005"))  # 5 M USD > 1 M
    error = venue.errors[client_order_id("sess/6/bitstamp/0", SPEC.client_ids)]
    assert isinstance(error, ccxt.InsufficientFunds) and "400.009" in str(error)
    venue.submit(leg("sess/6/bitstamp/1", Side.BUY, "0.0001", "50005"))  # 5 USD < 10 USD minimum
    assert isinstance(venue.errors[client_order_id("sess/6/bitstamp/1", SPEC.client_ids)], ccxt.InvalidOrder)
    assert statuses(events) == [OrderStatus.REJECTED, OrderStatus.REJECTED]
    with pytest.raises(ccxt.InvalidOrder, match="decimal places"):
        venue.exchange.private_post_buy_pair({"pair": "btcusd", "amount": "0.1", "price": "50005.001"})
    with pytest.raises(ccxt.ExchangeError, match="Only one of optional parameters"):
        venue.exchange.private_post_buy_pair(
            {"pair": "btcusd", "amount": "0.1", "price": "50005", "ioc_order": True, "fok_order": True}
        )
    for key, secret in (("wrong", SECRET), (API_KEY, "wrong")):  # unknown key; bad signature
        other = make_exchange("bitstamp", base_url=fake.rest_url, api_key=key, secret=secret)
        other.load_markets()
        with pytest.raises(ccxt.AuthenticationError):
            other.fetch_balance()
    balances = venue.exchange.fetch_balance()
    assert balances["free"]["USD"] == "1000000.00000000" and balances["free"]["BTC"] == "100.00000000"


# -- live market data ---------------------------------------------------------------------------------------
def _book_of(fake: FakeBitstamp) -> tuple[Levels, Levels]:
    bids, asks = fake.book(SYMBOL)
    return [(float(p), float(q)) for p, q in bids], [(float(p), float(q)) for p, q in asks]


def _session_book(session: BitstampSession) -> tuple[Levels, Levels] | None:
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


Scenario = Callable[[FakeBitstamp, LiveFeed, list[FeedEvent]], Awaitable[None]]


def run_live(fake: FakeBitstamp, scenario: Scenario) -> None:
    """Run ``scenario`` against a live feed on ``fake``, synchronised once (the subscription's confirmation
    fetches the REST snapshot)."""

    async def main() -> None:
        rest = HttpRest(fake.rest_url)
        await load_live_symbols(BitstampSession, rest)
        session = BitstampSession([SYMBOL], rest=rest)
        events: list[FeedEvent] = []
        feed = LiveFeed(
            session, ws_base=fake.ws_url, on_events=events.extend, backoff=Backoff(initial=0.05, maximum=0.2)
        )
        stop = asyncio.Event()
        task = asyncio.ensure_future(feed.run(stop))
        try:
            await _in_sync(fake, feed)
            await scenario(fake, feed, events)
        finally:
            stop.set()
            await feed.drop()
            await asyncio.wait_for(task, 5)
            await rest.close()

    asyncio.run(main())


async def _in_sync(fake: FakeBitstamp, feed: LiveFeed) -> None:
    session = feed.session
    assert isinstance(session, BitstampSession)
    await _until(lambda: _session_book(session) == _book_of(fake), "the maintained book to equal the fake's")


def _no_update_between_void_and_snapshot(events: list[FeedEvent], resync: Resync) -> None:
    after = events[events.index(resync) :]
    snapshot = next(e for e in after if isinstance(e, BookSnapshot))
    assert not any(isinstance(e, BookUpdate) for e in after[: after.index(snapshot)])


def test_live_book_follows_snapshot_and_updates(fake: FakeBitstamp) -> None:
    async def scenario(fake: FakeBitstamp, feed: LiveFeed, events: list[FeedEvent]) -> None:
        channels = {json.loads(m)["data"]["channel"] for m in fake.ws_messages}
        assert channels == {"diff_order_book_btcusd", "live_trades_btcusd"}
        assert fake.snapshot_requests == 1 and ("GET", "/api/v2/order_book/btcusd") in fake.requests
        fake.change(SYMBOL, "buy", D("49995"), D("0.7"))
        fake.change(SYMBOL, "sell", D("50005"), D(0))  # deletes the best ask
        fake.change(SYMBOL, "sell", D("50030"), D("3"))
        fake.set_book(SYMBOL, [("49990", "1"), ("49980", "2")], [("50010", "1"), ("50020", "2")])
        await _in_sync(fake, feed)
        venue = venue_for(fake, Outbox.sqlite(), [])
        venue.submit(leg("sess/8/bitstamp/0", Side.BUY, "0.4", "50010"))  # a fill moves the book and trades
        await _in_sync(fake, feed)
        await _until(lambda: any(isinstance(e, Trade) for e in events), "the live_trades event")
        trade = next(e for e in events if isinstance(e, Trade))
        assert (trade.symbol, trade.side, trade.price, trade.size) == (SYMBOL, Side.BUY, 50010.0, 0.4)
        assert not [e for e in events if isinstance(e, FeedError | Resync)]
        assert fake.snapshot_requests == 1  # one snapshot; the diffs carried the rest

    run_live(fake, scenario)


def test_drop_voids_the_book_then_rebuilds_it(fake: FakeBitstamp) -> None:
    async def scenario(fake: FakeBitstamp, feed: LiveFeed, events: list[FeedEvent]) -> None:
        fake.drop_ws()
        await _until(lambda: any(isinstance(e, Resync) for e in events), "the void")
        resync = next(e for e in events if isinstance(e, Resync))
        assert resync.reason is FeedErrorKind.DISCONNECTED and feed.session.book(SYMBOL) is None
        fake.change(SYMBOL, "buy", D("49985"), D("4"))  # while disconnected: only the next snapshot has it
        await _until(lambda: feed.connects == 2 and fake.ws_connects == 2, "the reconnect")
        await _in_sync(fake, feed)  # the resubscription's confirmation fetched a fresh snapshot
        assert fake.snapshot_requests == 2
        _no_update_between_void_and_snapshot(events, resync)

    run_live(fake, scenario)


def test_unreadable_message_voids_and_resyncs_from_rest(fake: FakeBitstamp) -> None:
    async def scenario(fake: FakeBitstamp, feed: LiveFeed, events: list[FeedEvent]) -> None:
        fake.corrupt_ws()  # an unreadable message precedes the next diff
        fake.change(SYMBOL, "buy", D("49995"), D("0.3"))
        await _until(
            lambda: any(isinstance(e, FeedError) and e.kind is FeedErrorKind.MALFORMED for e in events),
            "the malformed message",
        )
        resync = next(e for e in events if isinstance(e, Resync))
        await _in_sync(fake, feed)  # a fresh REST snapshot on the same connection
        assert fake.snapshot_requests == 2 and feed.connects == 1
        _no_update_between_void_and_snapshot(events, resync)

    run_live(fake, scenario)


def test_a_failed_snapshot_is_reported_and_retried(fake: FakeBitstamp) -> None:
    async def scenario(fake: FakeBitstamp, feed: LiveFeed, events: list[FeedEvent]) -> None:
        fake.fail_snapshots = 1
        fake.drop_ws()
        await _until(
            lambda: any(
                isinstance(e, FeedError) and e.kind is FeedErrorKind.SNAPSHOT_UNAVAILABLE for e in events
            ),
            "the failed snapshot",
        )
        assert feed.session.book(SYMBOL) is None
        await asyncio.sleep(1.05)  # SNAPSHOT_RETRY_S: the next message after it asks again
        fake.change(SYMBOL, "buy", D("49960"), D("1"))
        await _in_sync(fake, feed)
        assert fake.snapshot_requests == 3

    run_live(fake, scenario)


def test_silence_is_seen_as_age_and_late_diffs_still_apply(fake: FakeBitstamp) -> None:
    async def scenario(fake: FakeBitstamp, feed: LiveFeed, events: list[FeedEvent]) -> None:
        fake.change(SYMBOL, "sell", D("50015"), D("1"))
        await _in_sync(fake, feed)
        assert feed.age() < 0.5
        fake.silence(0.6)
        fake.change(SYMBOL, "sell", D("50020"), D("5"))  # withheld, delivered late
        await asyncio.sleep(0.4)
        assert feed.age() > 0.3  # the staleness a consumer acts on
        await asyncio.sleep(0.3)
        fake.change(SYMBOL, "sell", D("50025"), D("6"))
        await _in_sync(fake, feed)
        assert not [e for e in events if isinstance(e, FeedError)] and feed.age() < 0.5

    run_live(fake, scenario)


def test_request_reconnect_reconnects_and_resyncs(fake: FakeBitstamp) -> None:
    async def scenario(fake: FakeBitstamp, feed: LiveFeed, events: list[FeedEvent]) -> None:
        fake.request_reconnect()
        await _until(lambda: fake.ws_connects == 2, "the new connection")
        resync = next(e for e in events if isinstance(e, Resync))
        assert resync.reason is FeedErrorKind.DISCONNECTED
        fake.change(SYMBOL, "buy", D("49975"), D("2"))
        await _in_sync(fake, feed)
        assert not any(isinstance(e, FeedError) and e.kind is FeedErrorKind.MALFORMED for e in events)

    run_live(fake, scenario)


# -- recordings and the documented procedure: the same session class ---------------------------------------
def test_recordings_replay_through_the_live_session_class(shared_data: Path) -> None:
    assert SPEC.recording_prefix == "BITSTAMP"
    source = open_recording("bitstamp", shared_data / "recordings" / "cryptofeed")
    assert type(source.session) is SPEC.feed_session
    events = list(replay_events(source.session, source.records))
    assert {e.symbol for e in events if isinstance(e, BookSnapshot)} == set(source.symbols)
    assert sum(isinstance(e, BookUpdate) for e in events) > 100
    assert not [e for e in events if isinstance(e, FeedError)]
    session = source.session
    assert isinstance(session, BitstampSession) and session.discarded > 0  # diffs older than their snapshot


PAIRS_INFO = [{"trading": "Enabled", "url_symbol": "btcusd", "name": "BTC/USD"}]


def _diff(micro: int, bids: list[list[str]], asks: list[list[str]]) -> str:
    data = {"timestamp": str(micro // 1_000_000), "microtimestamp": str(micro), "bids": bids, "asks": asks}
    return json.dumps({"data": data, "channel": "diff_order_book_btcusd", "event": "data"})


def test_documented_procedure_buffers_gates_and_applies() -> None:
    """Bitstamp's procedure with its documented message shapes: subscribe, buffer the diffs, take the
    ``order_book`` snapshot, drop every diff not after its ``microtimestamp``, apply the rest."""
    BitstampSession.load_symbols([json.dumps(PAIRS_INFO)])
    session = BitstampSession([SYMBOL])
    session.start()
    confirm = {"event": "bts:subscription_succeeded", "channel": "diff_order_book_btcusd", "data": {}}
    assert session.on_message(json.dumps(confirm), 1.0) == [] and session.subscribed == {SYMBOL}
    assert session.on_message(_diff(1_000_100, [["100.00", "1.0"]], []), 1.1) == []  # buffered
    assert session.on_message(_diff(1_000_300, [], [["101.00", "2.0"]]), 1.2) == []
    snapshot = {
        "timestamp": "1",
        "microtimestamp": "1000200",
        "bids": [["99.00", "3.0"]],
        "asks": [["102.00", "1.0"]],
    }
    events = session.on_rest("https://www.bitstamp.net/api/v2/order_book/btcusd", json.dumps(snapshot), 1.3)
    assert [type(e) for e in events] == [BookSnapshot, BookUpdate] and session.discarded == 1
    book = session.book(SYMBOL)
    assert book is not None and (book.best_bid(), book.best_ask()) == (99.0, 101.0)
    events = session.on_message(_diff(1_000_400, [["99.00", "0.00000000"]], []), 1.4)
    assert [type(e) for e in events] == [BookUpdate] and book.best_bid() is None
    reconnect = {"event": "bts:request_reconnect", "channel": "", "data": ""}
    assert session.on_message(json.dumps(reconnect), 1.5) == [] and session.reconnect_requested


# -- the SDK conformance kits ------------------------------------------------------------------------------
BitstampExecutionAdapter = execution_adapter_class(SPEC)


class TestBitstampExecutionConformance(ExecutionConformance):
    @pytest.fixture(autouse=True)
    def _venue(self, fake: FakeBitstamp) -> None:
        self.fake = fake

    def make_execution(self, listener: ExecutionListener) -> ExecutionAdapter:
        exchange = make_exchange("bitstamp", base_url=self.fake.rest_url, api_key=API_KEY, secret=SECRET)
        return BitstampExecutionAdapter(
            "bitstamp",
            exchange,
            outbox=Outbox.sqlite(),
            clock=SystemClock(),
            listener=listener,
            instruments=INSTRUMENTS,
        )

    def marketable_order(self, client_order_id: str) -> OrderRequest:
        return ioc_order("bitstamp", SYMBOL, Side.BUY, D("1"), D("50010"), client_order_id=client_order_id)

    def unmarketable_order(self, client_order_id: str) -> OrderRequest:
        return ioc_order("bitstamp", SYMBOL, Side.BUY, D("1"), D("49000"), client_order_id=client_order_id)

    def error_cases(self) -> list[tuple[OrderRequest, type[AdapterError]]]:
        return [
            (
                ioc_order("bitstamp", "ETH-USD", Side.BUY, D(1), D(1), client_order_id="unknown-symbol"),
                InvalidOrder,
            ),
            (
                ioc_order("bitstamp", SYMBOL, Side.BUY, D(100), D("50010"), client_order_id="too-big"),
                InsufficientFunds,
            ),
            (
                ioc_order("bitstamp", SYMBOL, Side.BUY, D("0.0001"), D("50010"), client_order_id="too-small"),
                InvalidOrder,
            ),
        ]


class TestBitstampFeedConformance(DataFeedConformance):
    symbols: ClassVar[tuple[str, ...]] = (SYMBOL,)
    max_events: ClassVar[int] = 150

    @pytest.fixture(autouse=True)
    def _venue(self) -> Iterator[None]:
        with FakeBitstamp(tick_s=0.002) as venue:
            venue.ladder(SYMBOL, 50_000.0, levels=20)
            self.fake = venue
            yield

    def make_feed(self) -> DataFeedAdapter:
        return feed_adapter_class(SPEC)(ws_base=self.fake.ws_url, rest_base=self.fake.rest_url)

    def test_the_lead_adapter_serves_the_venue(self) -> None:
        """The unpaced adapter on a market that moves slower than the consumer reads."""
        with FakeBitstamp(tick_s=0.05) as slow:
            slow.ladder(SYMBOL, 50_000.0, levels=20)
            adapter = feed_adapter(SPEC, [SYMBOL], ws_base=slow.ws_url, rest_base=slow.rest_url)
            assert isinstance(adapter, DataFeedAdapter) and adapter.manifest.venue == "bitstamp"

            async def check() -> None:
                try:
                    report = await check_book_integrity(adapter, [SYMBOL], max_events=20)
                finally:
                    await adapter.disconnect()
                assert report.snapshots == 1 and report.updates > 0 and report.errors == 0

            asyncio.run(check())
