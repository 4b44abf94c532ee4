"""Coinbase Advanced Trade end to end against the loopback fake (``tests.fakevenues.coinbase``): orders
through ccxt's ``coinbase`` module with our ``CoinbaseOrders``, market data through ``LiveFeed`` and
``CoinbaseSession``, the docs example and the legacy recordings, and the SDK conformance kits. No mocks: real
HTTP, real websockets, real JWTs signed by ccxt with an EC key the fake issued."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
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
from agents.feeds.venues.coinbase import CoinbaseSession
from agents.feeds.venues.coinbase_legacy import CoinbaseLegacySession
from agents.feeds.venues.cryptofeed_bridge import ReplayConnection, run_sync
from agents.retry import Backoff
from agents.venues import venue_spec
from agents.venues.coinbase import SPEC, CoinbaseOrders
from sdk.adapters.conformance import DataFeedConformance, ExecutionConformance, ioc_order
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
from tests.fakevenues.base import SymbolInfo
from tests.fakevenues.coinbase import FakeCoinbase

pytestmark = pytest.mark.timeout(60)

D = Decimal
NOW = 1_800_000_000_000
SYMBOL = "BTC-USD"
INSTRUMENTS = {SYMBOL: LiveInstrument("BTC/USD", "BTC", D("0.0001"), D("0.01"))}
DOCS_EXAMPLE = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "recordings" / "docs_examples"
PRODUCTS = json.dumps(
    {
        "products": [
            {
                "product_id": "BTC-USD",
                "base_currency_id": "BTC",
                "quote_currency_id": "USD",
                "quote_increment": "0.01",
                "product_type": "SPOT",
            },
            {
                "product_id": "BIP-20DEC30-CDE",
                "base_currency_id": "BIP",
                "quote_currency_id": "USD",
                "quote_increment": "5",
                "product_type": "FUTURE",
            },
        ]
    }
)


def _missing(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (required under CI=true)")
    pytest.skip(reason)


@pytest.fixture
def fake() -> Iterator[FakeCoinbase]:
    venue = FakeCoinbase({SYMBOL: SymbolInfo("BTC", "USD")}, heartbeat_s=0.2)
    venue.start()
    try:
        venue.set_book(SYMBOL, [("49990", "1"), ("49980", "2")], [("50010", "0.5"), ("50020", "1.5")])
        yield venue
    finally:
        venue.stop()


def exchange_for(fake: FakeCoinbase) -> Any:
    exchange = make_exchange("coinbase", base_url=fake.rest_url, api_key=fake.api_key, secret=fake.secret)
    exchange.load_markets()
    return exchange


def venue_for(fake: FakeCoinbase, outbox: Outbox, events: list[ExecutionEvent]) -> CcxtVenue:
    return CcxtVenue(
        "coinbase",
        exchange_for(fake),
        outbox=outbox,
        clock=ManualClock(NOW),
        listener=events.append,
        instruments=INSTRUMENTS,
        orders=CoinbaseOrders(),
    )


def leg(key: str, side: Side, size: str, cap: str, tif: TimeInForce = TimeInForce.IOC) -> OrderRequest:
    return OrderRequest(
        client_order_id=client_order_id(key, SPEC.client_ids),
        idempotency_key=key,
        plan_id="s/1",
        venue="coinbase",
        instrument=SYMBOL,
        asset="BTC",
        side=side,
        size=D(size),
        limit_price=D(cap),
        deadline_ms=NOW + 60_000,
        time_in_force=tif,
    )


def statuses(events: list[ExecutionEvent]) -> list[OrderStatus]:
    return [e.status for e in events if isinstance(e, OrderEvent)]


def fills(events: list[ExecutionEvent]) -> list[FillEvent]:
    return [e for e in events if isinstance(e, FillEvent)]


def creates_for(fake: FakeCoinbase, cid: str) -> int:
    return sum(1 for body in fake.create_requests if body.get("client_order_id") == cid)


# -- venue facts ---------------------------------------------------------------------------------------
def test_spec_is_registered_and_client_ids_are_uuids() -> None:
    assert venue_spec("coinbase") is SPEC
    assert RULES["coinbase"] == SPEC.client_ids
    cid = client_order_id("sess/1/coinbase/0", SPEC.client_ids)
    assert str(uuid.UUID(cid)) == cid
    assert cid == client_order_id("sess/1/coinbase/0", SPEC.client_ids)  # same key, same id on restart


def test_make_exchange_applies_the_venue_options() -> None:
    exchange = make_exchange("coinbase", base_url=None, api_key="k", secret="s")
    assert exchange.options["fetchBalance"] == "v3PrivateGetBrokerageAccounts"
    assert exchange.has["fetchCurrencies"] is False  # no Coinbase App currency endpoints in load_markets


# -- orders --------------------------------------------------------------------------------------------
def test_ioc_carries_our_client_id_and_returns_fills_fee_and_status(fake: FakeCoinbase) -> None:
    events: list[ExecutionEvent] = []
    venue = venue_for(fake, Outbox.sqlite(), events)
    order = leg("sess/1/coinbase/0", Side.BUY, "1", "50015")
    venue.submit(order)

    (body,) = fake.create_requests
    assert body["client_order_id"] == order.client_order_id  # not ccxt's "ccxt-<uuid>"
    assert body["order_configuration"] == {"sor_limit_ioc": {"base_size": "1", "limit_price": "50015"}}
    assert body["side"] == "BUY" and body["product_id"] == SYMBOL
    assert fake.auth_seen and set(fake.auth_seen) == {"jwt"}

    done = fills(events)
    assert [(f.price, f.size) for f in done] == [(D("50010"), D("0.5"))]  # 50020 is above the cap
    assert done[0].fee == fake.trades[0].fee == D("25.00500000")
    assert statuses(events)[-1] is OrderStatus.CANCELLED  # IOC remainder cancelled, 0.5 filled
    record = venue.outbox.get(order.client_order_id)
    assert record is not None and record.state is OutboxState.DONE
    assert record.exchange_order_id == fake.by_client_id[order.client_order_id].order_id

    found = venue.lookup(order)
    assert found is not None and found["clientOrderId"] == order.client_order_id
    assert found["filled"] == "0.5" and found["status"] == "canceled"


class SmallPages(CoinbaseOrders):
    page_size: ClassVar[int] = 2


def test_lookup_and_cancel_by_client_id(fake: FakeCoinbase) -> None:
    events: list[ExecutionEvent] = []
    venue = venue_for(fake, Outbox.sqlite(), events)
    resting = leg("sess/2/coinbase/0", Side.BUY, "0.2", "49000", TimeInForce.GTC)
    venue.submit(resting)
    assert statuses(events) == [OrderStatus.ACCEPTED]
    for n in range(3):  # other orders after it: the lookup pages through List Orders
        venue.submit(leg(f"sess/2/coinbase/{n + 1}", Side.BUY, "0.1", "48000", TimeInForce.GTC))
    orders = SmallPages()
    found = orders.fetch_by_client_id(venue.exchange, "BTC/USD", resting.client_order_id)
    assert found is not None and found["status"] == "open"
    assert orders.fetch_by_client_id(venue.exchange, "BTC/USD", str(uuid.uuid4())) is None

    # the acknowledgement was lost: no order id known, the cancel looks it up by client id first
    orders.cancel_by_client_id(venue.exchange, "BTC/USD", resting.client_order_id, "")
    assert fake.by_client_id[resting.client_order_id].status == "canceled"
    assert ("POST", "/api/v3/brokerage/orders/batch_cancel") in fake.requests
    orders.cancel_by_client_id(venue.exchange, "BTC/USD", resting.client_order_id, "")  # final: no error
    orders.cancel_by_client_id(venue.exchange, "BTC/USD", str(uuid.uuid4()), "")  # never arrived: no error

    other = leg("sess/2/coinbase/1", Side.BUY, "0.1", "48000", TimeInForce.GTC)
    venue.cancel(other.client_order_id)  # through CcxtVenue: order id from the outbox
    assert fake.by_client_id[other.client_order_id].status == "canceled"
    assert statuses(events)[-1] is OrderStatus.CANCELLED


def test_lost_ack_then_restart_adopts_the_order_without_resending(fake: FakeCoinbase, tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite"
    order = leg("sess/3/coinbase/0", Side.BUY, "0.6", "50020")
    fake.faults.lose_ack = 1
    first: list[ExecutionEvent] = []
    crashed = venue_for(fake, Outbox.sqlite(path), first)
    crashed.submit(order)
    assert isinstance(crashed.errors[order.client_order_id], ccxt.NetworkError)
    assert first == []  # no answer: outcome unknown
    record = crashed.outbox.get(order.client_order_id)
    assert record is not None and record.state is OutboxState.PENDING

    events: list[ExecutionEvent] = []
    restarted = venue_for(fake, Outbox.sqlite(path), events)  # a new process on the same outbox file
    restarted.recover()
    assert creates_for(fake, order.client_order_id) == 1
    assert fake.duplicate_client_ids("client_order_id") == 0 and len(fake.orders) == 1
    assert statuses(events) == [OrderStatus.FILLED]
    assert sum(f.size for f in fills(events)) == D("0.6")
    assert sorted(f.price for f in fills(events)) == [D("50010"), D("50020")]
    record = restarted.outbox.get(order.client_order_id)
    assert record is not None and record.state is OutboxState.DONE


def test_an_accepted_order_is_never_reported_rejected_when_its_read_back_fails(fake: FakeCoinbase) -> None:
    fake.hide_new_orders = 1
    events: list[ExecutionEvent] = []
    venue = venue_for(fake, Outbox.sqlite(), events)
    order = leg("sess/3b/coinbase/0", Side.BUY, "0.2", "50010")
    venue.submit(order)
    assert statuses(events) == [OrderStatus.ACCEPTED]
    record = venue.outbox.get(order.client_order_id)
    assert record is not None and record.state is OutboxState.SENT and record.exchange_order_id
    venue.poll()
    assert statuses(events) == [OrderStatus.ACCEPTED, OrderStatus.FILLED]
    assert [f.size for f in fills(events)] == [D("0.2")] and creates_for(fake, order.client_order_id) == 1


@pytest.mark.parametrize("fault", ["fail_5xx", "rate_limit"])
def test_5xx_and_429_leave_no_duplicate_and_a_clear_outcome(fake: FakeCoinbase, fault: str) -> None:
    setattr(fake.faults, fault, 1)
    events: list[ExecutionEvent] = []
    venue = venue_for(fake, Outbox.sqlite(), events)
    order = leg(f"sess/4/{fault}/0", Side.SELL, "0.5", "49990")
    venue.submit(order)
    error = venue.errors[order.client_order_id]
    if fault == "rate_limit":
        assert isinstance(error, ccxt.RateLimitExceeded)
        assert venue.exchange.last_response_headers.get("Retry-After") == "1"
    else:
        assert isinstance(error, ccxt.ExchangeNotAvailable)
    assert events == [] and fake.orders == {}
    venue.poll()  # reconcile by client id: never arrived, so it is sent now with the same id
    assert statuses(events) == [OrderStatus.FILLED]
    assert creates_for(fake, order.client_order_id) == 1 and len(fake.orders) == 1
    assert fake.duplicate_client_ids("client_order_id") == 0


def test_a_repeated_client_id_creates_no_second_order(fake: FakeCoinbase) -> None:
    order = leg("sess/5/coinbase/0", Side.BUY, "0.1", "49000", TimeInForce.GTC)
    first: list[ExecutionEvent] = []
    venue_for(fake, Outbox.sqlite(), first).submit(order)
    again: list[ExecutionEvent] = []
    venue_for(fake, Outbox.sqlite(), again).submit(order)  # a process that lost its outbox
    assert len(fake.orders) == 1 and creates_for(fake, order.client_order_id) == 2
    first_id = [e.exchange_order_id for e in first if isinstance(e, OrderEvent)]
    assert [e.exchange_order_id for e in again if isinstance(e, OrderEvent)] == first_id


def test_refusals_are_the_venues(fake: FakeCoinbase) -> None:
    events: list[ExecutionEvent] = []
    venue = venue_for(fake, Outbox.sqlite(), events)
    broke = leg("sess/6/coinbase/0", Side.BUY, "100", "50020")  # 5M USD > 1M USD balance
    venue.submit(broke)
    assert isinstance(venue.errors[broke.client_order_id], ccxt.InsufficientFunds)
    assert statuses(events) == [OrderStatus.REJECTED]
    bad = make_exchange(
        "coinbase", base_url=fake.rest_url, api_key=fake.api_key, secret=FakeCoinbase().secret
    )
    with pytest.raises(ccxt.AuthenticationError):
        bad.fetch_balance()
    legacy = make_exchange(
        "coinbase", base_url=fake.rest_url, api_key=fake.legacy_key, secret=fake.legacy_secret
    )
    assert legacy.fetch_balance()["total"]["USD"] == "1000000"
    assert fake.auth_seen[-1] == "hmac"


def test_balances_show_holds_of_resting_orders(fake: FakeCoinbase) -> None:
    venue = venue_for(fake, Outbox.sqlite(), [])
    venue.submit(leg("sess/7/coinbase/0", Side.BUY, "1", "40000", TimeInForce.GTC))
    balance = venue.exchange.fetch_balance()
    assert D(balance["used"]["USD"]) == D(40000)
    assert D(balance["free"]["USD"]) == D(1_000_000 - 40000)


# -- market data ---------------------------------------------------------------------------------------
def _book_of(fake: FakeCoinbase) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    bids, asks = fake.book(SYMBOL)
    return [(float(p), float(q)) for p, q in bids], [(float(p), float(q)) for p, q in asks]


def _session_book(
    session: CoinbaseSession,
) -> tuple[list[tuple[float, float]], list[tuple[float, float]]] | None:
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


Scenario = Callable[[FakeCoinbase, LiveFeed, list[FeedEvent]], Awaitable[None]]


def run_live(fake: FakeCoinbase, scenario: Scenario) -> None:
    async def main() -> None:
        rest = HttpRest(fake.rest_url)
        await load_live_symbols(CoinbaseSession, rest)
        session = CoinbaseSession([SYMBOL], rest=rest)
        events: list[FeedEvent] = []
        feed = LiveFeed(
            session, ws_base=fake.ws_url, on_events=events.extend, backoff=Backoff(initial=0.05, maximum=0.2)
        )
        stop = asyncio.Event()
        task = asyncio.ensure_future(feed.run(stop))
        try:
            await _until(lambda: session.book(SYMBOL) is not None, "the first snapshot")
            await scenario(fake, feed, events)
        finally:
            stop.set()
            await feed.drop()
            await asyncio.wait_for(task, 5)
            await rest.close()

    asyncio.run(main())


async def _in_sync(fake: FakeCoinbase, feed: LiveFeed) -> None:
    session = feed.session
    assert isinstance(session, CoinbaseSession)
    await _until(lambda: _session_book(session) == _book_of(fake), "the maintained book to equal the fake's")


def test_live_book_follows_snapshot_and_updates(fake: FakeCoinbase) -> None:
    async def scenario(fake: FakeCoinbase, feed: LiveFeed, events: list[FeedEvent]) -> None:
        await _in_sync(fake, feed)
        fake.change(SYMBOL, "buy", D("49995"), D("0.7"))
        fake.change(SYMBOL, "sell", D("50010"), D(0))  # deletes the best ask
        fake.change(SYMBOL, "sell", D("50030"), D("3"))
        await _in_sync(fake, feed)
        venue = venue_for(fake, Outbox.sqlite(), [])
        venue.submit(leg("sess/8/coinbase/0", Side.BUY, "0.1", "50025"))  # a fill moves the book and trades
        await _in_sync(fake, feed)
        await _until(lambda: any(isinstance(e, Trade) for e in events), "the market_trades message")
        trade = next(e for e in events if isinstance(e, Trade))
        assert (trade.symbol, trade.price, trade.size) == (SYMBOL, 50020.0, 0.1)
        sub = {m["channel"] for m in fake.subscribe_messages}
        assert sub == {"level2", "market_trades", "heartbeats"}
        assert all("jwt" not in m and "signature" not in m for m in fake.subscribe_messages)
        assert not [e for e in events if isinstance(e, FeedError | Resync)]
        assert feed.age() < 1.0  # heartbeats keep arriving
        asks = next(e for e in events if isinstance(e, BookSnapshot)).asks
        assert asks[0] == (50010.0, 0.5)  # the asks came as "offer"

    run_live(fake, scenario)


def test_drop_voids_the_book_then_rebuilds_it(fake: FakeCoinbase) -> None:
    async def scenario(fake: FakeCoinbase, feed: LiveFeed, events: list[FeedEvent]) -> None:
        await _in_sync(fake, feed)
        fake.drop_ws()
        await _until(lambda: any(isinstance(e, Resync) for e in events), "the void")
        resync = next(e for e in events if isinstance(e, Resync))
        assert resync.reason is FeedErrorKind.DISCONNECTED
        fake.change(SYMBOL, "buy", D("49985"), D("4"))  # while disconnected: only the new snapshot has it
        await _until(lambda: feed.connects == 2, "the reconnect")
        await _in_sync(fake, feed)
        after = events[events.index(resync) :]
        assert not any(
            isinstance(e, BookUpdate)
            for e in after[: after.index(next(e for e in after if isinstance(e, BookSnapshot)))]
        )

    run_live(fake, scenario)


@pytest.mark.parametrize("fault", ["gap", "corrupt"])
def test_gap_or_unreadable_message_voids_and_resubscribes(fake: FakeCoinbase, fault: str) -> None:
    async def scenario(fake: FakeCoinbase, feed: LiveFeed, events: list[FeedEvent]) -> None:
        await _in_sync(fake, feed)
        if fault == "gap":
            fake.gap_ws()
        else:
            fake.corrupt_ws()
        fake.change(SYMBOL, "buy", D("49995"), D("0.3"))
        want = FeedErrorKind.SEQUENCE_GAP if fault == "gap" else FeedErrorKind.MALFORMED
        await _until(lambda: any(isinstance(e, FeedError) and e.kind is want for e in events), f"a {want}")
        await _until(lambda: feed.connects == 2 and fake.ws_connects == 2, "the resubscription")
        await _in_sync(fake, feed)
        session = feed.session
        assert isinstance(session, CoinbaseSession)
        assert session.gaps == (1 if fault == "gap" else 0)
        resync = next(e for e in events if isinstance(e, Resync))
        assert any(isinstance(e, BookSnapshot) for e in events[events.index(resync) :])

    run_live(fake, scenario)


def test_silence_is_seen_as_age(fake: FakeCoinbase) -> None:
    async def scenario(fake: FakeCoinbase, feed: LiveFeed, events: list[FeedEvent]) -> None:
        await asyncio.sleep(0.5)
        assert feed.age() < 0.45  # heartbeats every 0.2 s
        fake.silence(1.0)
        await asyncio.sleep(0.7)
        assert feed.age() > 0.5
        await asyncio.sleep(0.6)
        assert feed.age() < 0.45  # heartbeats again

    run_live(fake, scenario)


# -- docs example and recordings: the same session class --------------------------------------------
def _docs_example() -> dict[str, Any]:
    path = DOCS_EXAMPLE / "coinbase_advanced_trade_level2_doc_example.json"
    if not path.is_file():
        _missing(f"docs example not found at {path}")
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def _replay_session() -> CoinbaseSession:
    CoinbaseSession.load_symbols([PRODUCTS])
    session = CoinbaseSession([SYMBOL])
    assert session.start() == []
    return session


def test_docs_level2_example_parses() -> None:
    doc = _docs_example()
    session = _replay_session()
    (snapshot,) = session.on_message(json.dumps(doc["snapshot_example_as_quoted"]), 1.0)
    assert isinstance(snapshot, BookSnapshot)
    assert snapshot.bids == ((21921.73, 0.06317902), (21921.3, 0.02)) and snapshot.asks == ()
    assert snapshot.sequence == 0 and snapshot.exchange_ts == pytest.approx(1675974770.714964)
    assert session.book(SYMBOL) is not None and session.errors == 0
    # the session subscribes the way the docs' request does, without a jwt (public channels)
    conn = ReplayConnection({})
    run_sync(session.connections[0][1](conn))
    sent = [json.loads(m) for m in conn.sent]
    want = doc["subscribe_request_example_as_quoted"]
    assert sent[0] == {"type": "subscribe", "product_ids": [SYMBOL], "channel": "level2"}
    assert set(sent[0]) == set(want) - {"jwt"}
    assert [m["channel"] for m in sent] == ["level2", "market_trades", "heartbeats"]


@pytest.mark.parametrize("ask_side", ["offer", "ask"])
def test_asks_are_read_in_both_spellings(ask_side: str) -> None:
    doc = _docs_example()
    session = _replay_session()
    snapshot = json.loads(json.dumps(doc["snapshot_example_as_quoted"]))
    snapshot["events"][0]["updates"].append(
        {
            "side": ask_side,
            "event_time": "1970-01-01T00:00:00Z",
            "price_level": "21922.5",
            "new_quantity": "1",
        }
    )
    update = {
        "channel": "l2_data",
        "client_id": "",
        "timestamp": "2023-02-09T20:32:51.000000001Z",
        "sequence_num": 1,
        "events": [
            {
                "type": "update",
                "product_id": SYMBOL,
                "updates": [
                    {
                        "side": ask_side,
                        "event_time": "2023-02-09T20:32:51Z",
                        "price_level": "21922.5",
                        "new_quantity": "0",
                    },
                    {
                        "side": ask_side,
                        "event_time": "2023-02-09T20:32:51Z",
                        "price_level": "21923",
                        "new_quantity": "2",
                    },
                ],
            }
        ],
    }
    session.on_message(json.dumps(snapshot), 1.0)
    (event,) = session.on_message(json.dumps(update), 2.0)
    assert isinstance(event, BookUpdate) and event.asks == ((21922.5, 0.0), (21923.0, 2.0))
    book = session.book(SYMBOL)
    assert book is not None and list(book.asks.all_levels()) == [(21923.0, 2.0)]


def test_unknown_side_or_sequence_jump_voids_the_book() -> None:
    doc = _docs_example()
    for bad in ("sell", "gap"):
        session = _replay_session()
        session.on_message(json.dumps(doc["snapshot_example_as_quoted"]), 1.0)
        update: dict[str, Any] = {
            "channel": "l2_data",
            "client_id": "",
            "timestamp": "2023-02-09T20:32:51Z",
            "sequence_num": 2 if bad == "gap" else 1,
            "events": [
                {
                    "type": "update",
                    "product_id": SYMBOL,
                    "updates": [
                        {
                            "side": "bid" if bad == "gap" else bad,
                            "event_time": "2023-02-09T20:32:51Z",
                            "price_level": "21921.0",
                            "new_quantity": "1",
                        }
                    ],
                }
            ],
        }
        events = session.on_message(json.dumps(update), 2.0)
        kinds = [e.kind for e in events if isinstance(e, FeedError)]
        assert kinds == [FeedErrorKind.SEQUENCE_GAP if bad == "gap" else FeedErrorKind.INVALID_VALUE]
        assert any(isinstance(e, Resync) for e in events) and session.book(SYMBOL) is None
        assert session.reconnect_requested


def test_legacy_pro_recordings_still_replay_through_their_own_session(shared_data: Path) -> None:
    from agents.feeds.replay import open_recording, replay_events

    source = open_recording("coinbase", shared_data / "recordings" / "cryptofeed")
    assert isinstance(source.session, CoinbaseLegacySession)
    events = list(replay_events(source.session, source.records))
    assert not [e for e in events if isinstance(e, FeedError)]
    assert sum(isinstance(e, BookSnapshot) for e in events) == 10


# -- the SDK conformance kits --------------------------------------------------------------------------
CoinbaseExecutionAdapter = execution_adapter_class(SPEC)


class TestCoinbaseExecutionConformance(ExecutionConformance):
    @pytest.fixture(autouse=True)
    def _venue(self, fake: FakeCoinbase) -> None:
        self.fake = fake

    def make_execution(self, listener: ExecutionListener) -> ExecutionAdapter:
        exchange = make_exchange(
            "coinbase", base_url=self.fake.rest_url, api_key=self.fake.api_key, secret=self.fake.secret
        )
        return CoinbaseExecutionAdapter(
            "coinbase",
            exchange,
            outbox=Outbox.sqlite(),
            clock=SystemClock(),
            listener=listener,
            instruments=INSTRUMENTS,
        )

    def marketable_order(self, client_order_id: str) -> OrderRequest:
        return ioc_order("coinbase", SYMBOL, Side.BUY, D("1"), D("50020"), client_order_id=client_order_id)

    def unmarketable_order(self, client_order_id: str) -> OrderRequest:
        return ioc_order("coinbase", SYMBOL, Side.BUY, D("1"), D("49000"), client_order_id=client_order_id)

    def error_cases(self) -> list[tuple[OrderRequest, type[AdapterError]]]:
        return [
            (
                ioc_order("coinbase", "ETH-USD", Side.BUY, D(1), D(1), client_order_id="unknown-symbol"),
                InvalidOrder,
            ),
            (
                ioc_order("coinbase", SYMBOL, Side.BUY, D(100), D("50020"), client_order_id="too-big"),
                InsufficientFunds,
            ),
        ]


class TestCoinbaseFeedConformance(DataFeedConformance):
    symbols: ClassVar[tuple[str, ...]] = (SYMBOL,)
    max_events: ClassVar[int] = 150

    @pytest.fixture(autouse=True)
    def _venue(self) -> Iterator[None]:
        with FakeCoinbase({SYMBOL: SymbolInfo("BTC", "USD")}, tick_s=0.002, heartbeat_s=0.2) as venue:
            venue.ladder(SYMBOL, 50_000.0, levels=20)
            self.fake = venue
            yield

    def make_feed(self) -> DataFeedAdapter:
        return feed_adapter_class(SPEC)(ws_base=self.fake.ws_url, rest_base=self.fake.rest_url)

    def test_the_lead_adapter_serves_the_venue(self) -> None:
        """``feed_adapter(SPEC, ...)`` as the product builds it (not paced): its book ends as the venue's."""
        quiet = FakeCoinbase({SYMBOL: SymbolInfo("BTC", "USD")}, heartbeat_s=None)
        quiet.start()
        quiet.ladder(SYMBOL, 50_000.0, levels=5)

        async def main() -> list[FeedEvent]:
            adapter = feed_adapter(SPEC, [SYMBOL], ws_base=quiet.ws_url, rest_base=quiet.rest_url)
            assert isinstance(adapter, DataFeedAdapter) and adapter.manifest.venue == "coinbase"
            await adapter.connect()
            seen: list[FeedEvent] = []
            stream = adapter.events()
            while not any(isinstance(e, BookUpdate) for e in seen):
                seen.append(await asyncio.wait_for(anext(stream), 5))
                if len(seen) == 1:
                    quiet.change(SYMBOL, "sell", D("50015"), D("7"))
            book = adapter.book(SYMBOL)
            assert book is not None
            assert (list(book.bids.all_levels()), list(book.asks.all_levels())) == _book_of(quiet)
            await adapter.disconnect()
            assert adapter.book(SYMBOL) is None
            return seen

        try:
            seen = asyncio.run(main())
        finally:
            quiet.stop()
        assert isinstance(seen[0], BookSnapshot)
