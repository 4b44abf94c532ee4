"""What every fake venue shares: books, accounts, an IOC/GTC matching engine, fault injection, a server.

A ``FakeVenue`` runs an aiohttp application (REST routes and a websocket route, added by the venue module) on
127.0.0.1 with an ephemeral port, in a thread with its own event loop, or as a process
(``python -m tests.fakevenues VENUE``). The market moves only when told (``set_book``, ``move``) or on a
ticker (``tick_s``): each change is published to every subscribed websocket in the venue's own encoding.

Counters prove what the venue saw: ``create_requests`` is every order request that reached it (a duplicate
client order id shows up there even when it is refused), ``orders`` what it accepted.

Faults (each a counter of how many upcoming requests it hits, so a test says exactly what it injects):

- ``lose_ack``: the order is accepted and matched, then the connection is closed without an answer;
- ``fail_5xx``: answer 503 without touching the order;
- ``rate_limit``: answer 429 with ``Retry-After``;
- ``drop_ws()``: close every websocket (clients must reconnect and resync);
- ``gap_ws()``: skip one sequence number in the next update of every stream (venues with sequences);
- ``silence(seconds)``: publish nothing for a while (staleness);
- ``corrupt_ws()``: send one unreadable message.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Self

from aiohttp import web

API_KEY = "fake-key"
SECRET = "fake-secret"
PASSPHRASE = "fake-passphrase"


@dataclass
class SymbolInfo:
    """One spot instrument: normalized ``BASE-QUOTE`` name and trading rules."""

    base: str
    quote: str
    tick: Decimal = Decimal("0.01")
    lot: Decimal = Decimal("0.0001")
    min_notional: Decimal = Decimal("1")

    @property
    def name(self) -> str:
        return f"{self.base}-{self.quote}"


@dataclass
class Order:
    order_id: str
    client_order_id: str
    symbol: str
    side: str  # "buy" | "sell"
    price: Decimal
    size: Decimal
    tif: str  # "IOC" | "GTC" | "FOK"
    filled: Decimal = Decimal(0)
    notional: Decimal = Decimal(0)
    fees: Decimal = Decimal(0)
    status: str = "open"  # open | filled | canceled | expired | rejected
    created_ms: int = 0

    @property
    def remaining(self) -> Decimal:
        return self.size - self.filled

    @property
    def average(self) -> Decimal:
        return self.notional / self.filled if self.filled else Decimal(0)


@dataclass
class Trade:
    trade_id: str
    order_id: str
    client_order_id: str
    symbol: str
    side: str
    price: Decimal
    size: Decimal
    fee: Decimal
    fee_asset: str
    ts_ms: int


Levels = dict[Decimal, Decimal]


@dataclass
class Faults:
    lose_ack: int = 0
    fail_5xx: int = 0
    rate_limit: int = 0
    retry_after_s: int = 1
    silent_until: float = 0.0
    gap_next: bool = False
    corrupt_next: bool = False
    no_fill: int = 0
    """The next ``no_fill`` IOC/FOK orders find no liquidity within their limit (the book ran away while
    they flew): accepted and cancelled unfilled, so the plan legs out."""
    lost_ack_hold_s: float = 0.0
    """How long a lost acknowledgement's connection is held open before it is dropped (a test kills the
    client inside that window: the order is live at the venue, the client never heard)."""


def now_ms() -> int:
    return int(time.time() * 1000)


class LostAck(Exception):
    """Raised by a handler after the venue processed a request whose answer must never arrive."""


@dataclass
class Publisher:
    """One subscribed websocket and what it asked for."""

    socket: web.WebSocketResponse
    symbols: set[str] = field(default_factory=set)
    state: dict[str, Any] = field(default_factory=dict)


class AppServer:
    """An aiohttp app served on 127.0.0.1 by an event loop on its own thread (``fake-<name>``): ``start``
    returns once the port is bound, ``stop`` (or leaving the ``with`` block) shuts it down on that loop."""

    name = "server"

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    def build_app(self) -> web.Application:
        raise NotImplementedError

    def start(self, port: int = 0) -> Self:
        """Serve in a background thread; returns when the port is bound."""
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self.loop = loop
            asyncio.set_event_loop(loop)
            loop.run_until_complete(self._serve(port))
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._shutdown())
            loop.close()

        self._thread = threading.Thread(target=run, name=f"fake-{self.name}", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError(f"fake {self.name} did not start")
        return self

    async def _serve(self, port: int) -> None:
        self._runner = web.AppRunner(self.build_app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def _shutdown(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def stop(self) -> None:
        if self.loop is not None:
            self.loop.call_soon_threadsafe(self.loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class FakeVenue(AppServer):
    """The shared core; a venue module subclasses it and adds its routes and message encodings."""

    name = "fake"
    ws_path = "/ws"

    def __init__(
        self,
        symbols: Mapping[str, SymbolInfo] | None = None,
        *,
        balances: Mapping[str, Decimal] | None = None,
        fee_rate: Decimal = Decimal("0.001"),
        tick_s: float | None = None,
    ) -> None:
        self.symbols: dict[str, SymbolInfo] = dict(symbols or {"BTC-USD": SymbolInfo("BTC", "USD")})
        self.bids: dict[str, Levels] = {s: {} for s in self.symbols}
        self.asks: dict[str, Levels] = {s: {} for s in self.symbols}
        self.balances: dict[str, Decimal] = dict(
            balances or {"USD": Decimal(1_000_000), "BTC": Decimal(100), "ETH": Decimal(1000)}
        )
        self.fee_rate = fee_rate
        self.tick_s = tick_s
        self.faults = Faults()
        self.orders: dict[str, Order] = {}
        self.by_client_id: dict[str, Order] = {}
        self.trades: list[Trade] = []
        self.create_requests: list[dict[str, Any]] = []
        self.requests: list[tuple[str, str]] = []
        self.publishers: list[Publisher] = []
        self.sequence = itertools.count(1)
        self.ids = itertools.count(1)
        self.lock = threading.RLock()
        super().__init__()
        self._ticker: asyncio.Task[None] | None = None
        self.ws_connects = 0
        self.lost_acks = threading.Event()
        """Set when an order's acknowledgement was lost (the order itself was processed)."""

    # -- market ----------------------------------------------------------------------------------------
    def set_book(
        self,
        symbol: str,
        bids: list[tuple[Decimal | str | float, Decimal | str | float]],
        asks: list[tuple[Decimal | str | float, Decimal | str | float]],
    ) -> None:
        """Replace a book (published as a snapshot to subscribers)."""
        with self.lock:
            self.bids[symbol] = {Decimal(str(p)): Decimal(str(q)) for p, q in bids}
            self.asks[symbol] = {Decimal(str(p)): Decimal(str(q)) for p, q in asks}
        self._call(lambda: self.publish_snapshot(symbol))

    def ladder(
        self,
        symbol: str,
        mid: float,
        *,
        spread_bps: float = 2.0,
        levels: int = 10,
        step_bps: float = 1.0,
        size: float = 0.5,
    ) -> None:
        """A symmetric book around ``mid`` on the symbol's grid."""
        info = self.symbols[symbol]

        def grid(price: float) -> Decimal:
            return (Decimal(repr(price)) / info.tick).quantize(Decimal(1)) * info.tick

        bids = [
            (grid(mid * (1 - (spread_bps / 2 + i * step_bps) * 1e-4)), Decimal(repr(size)))
            for i in range(levels)
        ]
        asks = [
            (grid(mid * (1 + (spread_bps / 2 + i * step_bps) * 1e-4)), Decimal(repr(size)))
            for i in range(levels)
        ]
        self.set_book(symbol, bids, asks)

    def change(self, symbol: str, side: str, price: Decimal, size: Decimal) -> None:
        """Set one level's absolute size (0 deletes it) and publish the update."""
        with self.lock:
            levels = self.bids[symbol] if side == "buy" else self.asks[symbol]
            if size > 0:
                levels[price] = size
            else:
                levels.pop(price, None)
        self._call(lambda: self.publish_update(symbol, [(side, price, size)]))

    def book(self, symbol: str) -> tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]:
        with self.lock:
            bids = sorted(self.bids[symbol].items(), key=lambda kv: -kv[0])
            asks = sorted(self.asks[symbol].items())
        return bids, asks

    # -- matching --------------------------------------------------------------------------------------
    def place(
        self, client_order_id: str, symbol: str, side: str, price: Decimal, size: Decimal, tif: str
    ) -> Order:
        """Accept and match an order (the caller checked duplicates, funds and rules)."""
        with self.lock:
            order = Order(
                str(next(self.ids) + 1_000_000),
                client_order_id,
                symbol,
                side,
                price,
                size,
                tif,
                created_ms=now_ms(),
            )
            self.orders[order.order_id] = order
            self.by_client_id[client_order_id] = order
            if self.faults.no_fill > 0 and tif in ("IOC", "FOK"):
                self.faults.no_fill -= 1
                order.status = "canceled"
                changes: list[tuple[str, Decimal, Decimal]] = []
            else:
                changes = self._match(order)
        if changes:
            self._call(lambda: self.publish_update(symbol, changes))
        return order

    def _match(self, order: Order) -> list[tuple[str, Decimal, Decimal]]:
        info = self.symbols[order.symbol]
        book = self.asks[order.symbol] if order.side == "buy" else self.bids[order.symbol]
        prices = sorted(book) if order.side == "buy" else sorted(book, reverse=True)
        changes: list[tuple[str, Decimal, Decimal]] = []
        for price in prices:
            if order.remaining <= 0:
                break
            if (order.side == "buy" and price > order.price) or (
                order.side == "sell" and price < order.price
            ):
                break
            take = min(book[price], order.remaining)
            book[price] -= take
            if book[price] <= 0:
                del book[price]
            changes.append(("sell" if order.side == "buy" else "buy", price, book.get(price, Decimal(0))))
            fee = (price * take * self.fee_rate).quantize(Decimal("1e-8"))
            order.filled += take
            order.notional += price * take
            order.fees += fee
            sign = 1 if order.side == "buy" else -1
            self.balances[info.base] = self.balances.get(info.base, Decimal(0)) + sign * take
            self.balances[info.quote] = self.balances.get(info.quote, Decimal(0)) - sign * price * take - fee
            self.trades.append(
                Trade(
                    str(next(self.ids) + 5_000_000),
                    order.order_id,
                    order.client_order_id,
                    order.symbol,
                    order.side,
                    price,
                    take,
                    fee,
                    info.quote,
                    now_ms(),
                )
            )
        if order.remaining <= 0:
            order.status = "filled"
        elif order.tif in ("IOC", "FOK"):
            order.status = "canceled"  # an IOC's unfilled remainder is cancelled (venues spell it their way)
        return changes

    def cancel(self, order: Order) -> None:
        with self.lock:
            if order.status == "open":
                order.status = "canceled"

    def trades_of(self, order: Order) -> list[Trade]:
        with self.lock:
            return [t for t in self.trades if t.order_id == order.order_id]

    def duplicate_client_ids(self, field_name: str) -> int:
        """How many order requests repeated a client order id already seen (0 is the only good answer)."""
        seen: set[str] = set()
        duplicates = 0
        for request in self.create_requests:
            cid = str(request.get(field_name, ""))
            if cid in seen:
                duplicates += 1
            seen.add(cid)
        return duplicates

    # -- faults on the REST path -----------------------------------------------------------------------
    def take_fault(self) -> web.Response | None:
        """Called by an order-creating handler before it acts: a 5xx or 429 answer, if one is due."""
        with self.lock:
            if self.faults.fail_5xx > 0:
                self.faults.fail_5xx -= 1
                return web.json_response({"message": "service unavailable"}, status=503)
            if self.faults.rate_limit > 0:
                self.faults.rate_limit -= 1
                return web.json_response(
                    {"message": "too many requests"},
                    status=429,
                    headers={"Retry-After": str(self.faults.retry_after_s)},
                )
        return None

    def ack_lost(self) -> bool:
        """Called after an order was processed: True when its answer must be lost."""
        with self.lock:
            if self.faults.lose_ack > 0:
                self.faults.lose_ack -= 1
                return True
        return False

    # -- websocket publishing (venue modules encode) -----------------------------------------------------
    def encode_snapshot(self, publisher: Publisher, symbol: str) -> list[str]:
        raise NotImplementedError

    def encode_update(
        self, publisher: Publisher, symbol: str, changes: list[tuple[str, Decimal, Decimal]]
    ) -> list[str]:
        raise NotImplementedError

    async def on_ws_message(self, publisher: Publisher, text: str) -> None:
        """A client's message (subscribe requests); the venue module answers it."""
        raise NotImplementedError

    def publish_snapshot(self, symbol: str) -> None:
        for publisher in list(self.publishers):
            if symbol in publisher.symbols:
                for text in self.encode_snapshot(publisher, symbol):
                    self._send(publisher, text)

    def publish_update(self, symbol: str, changes: list[tuple[str, Decimal, Decimal]]) -> None:
        if time.time() < self.faults.silent_until:
            return
        for publisher in list(self.publishers):
            if symbol in publisher.symbols:
                if self.faults.corrupt_next:
                    self._send(publisher, '{"unreadable": ')
                for text in self.encode_update(publisher, symbol, changes):
                    self._send(publisher, text)
        self.faults.corrupt_next = False
        self.faults.gap_next = False

    def _send(self, publisher: Publisher, text: str) -> None:
        if not publisher.socket.closed:
            task = asyncio.ensure_future(publisher.socket.send_str(text))
            task.add_done_callback(_retrieve)  # a socket closing mid-send is a drop, not an error to log

    async def _ws_handler(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse(heartbeat=None, max_msg_size=16 * 1024 * 1024)
        await socket.prepare(request)
        publisher = Publisher(socket)
        self.publishers.append(publisher)
        self.ws_connects += 1
        try:
            async for message in socket:
                if message.type == web.WSMsgType.TEXT:
                    await self.on_ws_message(publisher, message.data)
        finally:
            if publisher in self.publishers:
                self.publishers.remove(publisher)
        return socket

    def drop_ws(self) -> None:
        """Close every websocket connection."""

        async def close_all() -> None:
            for publisher in list(self.publishers):
                await publisher.socket.close()

        self._call_async(close_all)

    def gap_ws(self) -> None:
        self.faults.gap_next = True

    def corrupt_ws(self) -> None:
        self.faults.corrupt_next = True

    def silence(self, seconds: float) -> None:
        self.faults.silent_until = time.time() + seconds

    def credentials(self) -> dict[str, str]:
        """The API key pair this fake accepts (venues with their own key scheme override it)."""
        return {
            "apiKey": str(getattr(self, "api_key", API_KEY)),
            "secret": str(getattr(self, "secret", SECRET)),
        }

    # -- server ----------------------------------------------------------------------------------------
    def add_routes(self, app: web.Application) -> None:
        """REST routes of the venue (venue modules)."""
        raise NotImplementedError

    def build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        app.router.add_get(self.ws_path, self._ws_handler)
        self.add_routes(app)
        return app

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Callable[..., Any]) -> web.StreamResponse:
        self.requests.append((request.method, request.path))
        try:
            response: web.StreamResponse = await handler(request)
            return response
        except LostAck:
            self.lost_acks.set()
            if self.faults.lost_ack_hold_s > 0:
                await asyncio.sleep(self.faults.lost_ack_hold_s)
            transport = request.transport
            if transport is not None:
                transport.close()  # the answer never arrives: the client sees a dropped connection
            raise web.HTTPServiceUnavailable() from None

    @property
    def rest_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    async def _serve(self, port: int) -> None:
        await super()._serve(port)
        if self.tick_s:
            self._ticker = asyncio.ensure_future(self._tick_loop())

    async def _tick_loop(self) -> None:
        """A moving market: each tick nudges one level's size on every book."""
        import random

        rng = random.Random(7)
        while True:
            await asyncio.sleep(self.tick_s or 1.0)
            for symbol in self.symbols:
                bids, asks = self.book(symbol)
                side, levels = ("buy", bids) if rng.random() < 0.5 else ("sell", asks)
                if levels:
                    price, size = levels[min(len(levels) - 1, rng.randrange(3))]
                    self.change(
                        symbol,
                        side,
                        price,
                        (size * Decimal(repr(rng.uniform(0.8, 1.25)))).quantize(self.symbols[symbol].lot),
                    )

    async def _shutdown(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
        for publisher in list(self.publishers):
            await publisher.socket.close()
        await super()._shutdown()

    def _call(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` on the server loop (from any thread)."""
        loop = self.loop
        if loop is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            fn()
        else:
            loop.call_soon_threadsafe(fn)

    def _call_async(self, fn: Callable[[], Any]) -> None:
        loop = self.loop
        if loop is not None:
            asyncio.run_coroutine_threadsafe(fn(), loop)


def _retrieve(task: asyncio.Future[None]) -> None:
    if not task.cancelled():
        task.exception()


def json_body(text: str) -> Any:
    try:
        return json.loads(text) if text else {}
    except json.JSONDecodeError:
        return {}
