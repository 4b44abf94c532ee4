"""A loopback Binance spot venue: the diff-depth websocket streams and the REST API ccxt and cryptofeed call.

Speaks binance-spot-api-docs (``web-socket-streams.md``, ``rest-api.md``, ``errors.md``):

- websocket: combined streams at ``/stream?streams=<pair>@depth@100ms/<pair>@aggTrade`` (events wrapped as
  ``{"stream": ..., "data": ...}``, as cryptofeed connects), raw streams at ``/ws/<stream>``, live
  ``SUBSCRIBE``/``UNSUBSCRIBE``/``LIST_SUBSCRIPTIONS`` requests; ``depthUpdate`` events with ``E``, ``s``,
  ``U``, ``u``, ``b``, ``a`` (absolute quantities, ``0`` deletes), one update id per change, ids advancing
  whether or not anybody listens; ``aggTrade`` events for fills; the ``serverShutdown`` notice;
- REST: ``exchangeInfo`` (``PRICE_FILTER`` first, as cryptofeed reads it), ``depth`` (``lastUpdateId``), and
  the signed ``order`` (POST/GET/DELETE), ``openOrders``, ``myTrades``, ``account`` endpoints with the API key
  header and HMAC-SHA256 signature checked; Binance's ``{"code", "msg"}`` errors (``-1100`` illegal client
  id, ``-1013`` filter failures, ``-2010`` duplicate id among open orders or insufficient balance,
  ``-2013``/``-2011`` unknown order, ``-1121`` invalid symbol); a 5xx is ``-1006`` "execution status
  unknown", a 429 ``-1003``.

Fault semantics on the stream: ``gap_ws()`` skips one update id; ``silence(s)`` withholds updates (their ids
still advance, so a client sees the gap when updates resume); ``corrupt_ws()`` sends an unreadable message
before the next update. A book replaced with ``set_book`` is published as the diff it is (the stream has no
snapshots).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, Self
from urllib.parse import parse_qsl

from aiohttp import web

from tests.fakevenues.base import (
    API_KEY,
    SECRET,
    FakeVenue,
    LostAck,
    Order,
    Publisher,
    SymbolInfo,
    Trade,
    now_ms,
)

D = Decimal
FEE_RATE = D("0.001")
CLIENT_ID = re.compile(r"^[a-zA-Z0-9-_]{1,36}$")
PRIVATE = frozenset({"/api/v3/order", "/api/v3/openOrders", "/api/v3/myTrades", "/api/v3/account"})
Change = tuple[str, Decimal, Decimal]


def replace_levels(
    venue: FakeVenue,
    symbol: str,
    bids: list[tuple[Decimal | str | float, Decimal | str | float]],
    asks: list[tuple[Decimal | str | float, Decimal | str | float]],
) -> list[Change]:
    """Replace ``symbol``'s book and return the level changes that turn the old book into the new one
    (what a diff-only stream publishes for it)."""
    new_bids = {D(str(p)): D(str(q)) for p, q in bids}
    new_asks = {D(str(p)): D(str(q)) for p, q in asks}
    changes: list[Change] = []
    with venue.lock:
        for side, old, new in (("buy", venue.bids[symbol], new_bids), ("sell", venue.asks[symbol], new_asks)):
            for price in sorted(set(old) | set(new)):
                if old.get(price) != new.get(price):
                    changes.append((side, price, new.get(price, D(0))))
        venue.bids[symbol] = new_bids
        venue.asks[symbol] = new_asks
    return changes


def _num(value: Decimal) -> str:
    return f"{value:.8f}"


def _error(code: int, msg: str, status: int = 400) -> web.Response:
    return web.json_response({"code": code, "msg": msg}, status=status)


class FakeBinance(FakeVenue):
    name = "binance"
    ws_path = "/ws"

    def __init__(
        self,
        symbols: Mapping[str, SymbolInfo] | None = None,
        *,
        balances: Mapping[str, Decimal] | None = None,
        fee_rate: Decimal = FEE_RATE,
        tick_s: float | None = None,
    ) -> None:
        super().__init__(
            symbols
            or {"BTC-USDT": SymbolInfo("BTC", "USDT", tick=D("0.01"), lot=D("0.00001"), min_notional=D(5))},
            balances=balances or {"USDT": D(1_000_000), "BTC": D(100), "ETH": D(1000)},
            fee_rate=fee_rate,
            tick_s=tick_s,
        )
        self.update_ids: dict[str, int] = {s: 1_000 for s in self.symbols}
        self.depth_requests = 0
        self.fail_snapshots = 0
        """How many upcoming ``depth`` requests fail (503): the feed must report and retry."""
        self.lookup_requests: list[dict[str, str]] = []
        self.cancel_requests: list[dict[str, str]] = []

    def __enter__(self) -> Self:
        self.start()
        return self

    # -- names -------------------------------------------------------------------------------------------
    def pair(self, symbol: str) -> str:
        info = self.symbols[symbol]
        return f"{info.base}{info.quote}"

    def symbol_of(self, pair: str) -> str | None:
        return next((s for s in self.symbols if self.pair(s) == pair.upper()), None)

    # -- market ------------------------------------------------------------------------------------------
    def set_book(
        self,
        symbol: str,
        bids: list[tuple[Decimal | str | float, Decimal | str | float]],
        asks: list[tuple[Decimal | str | float, Decimal | str | float]],
    ) -> None:
        changes = replace_levels(self, symbol, bids, asks)
        if changes:
            self._call(lambda: self.publish_update(symbol, changes))

    def publish_update(self, symbol: str, changes: list[Change]) -> None:
        """One ``depthUpdate`` per change set; its id is taken even when nobody hears it."""
        with self.lock:
            first = self.update_ids[symbol] + (2 if self.faults.gap_next else 1)
            self.update_ids[symbol] = first
            self.faults.gap_next = False
        if time.time() < self.faults.silent_until:
            return
        event = {
            "e": "depthUpdate",
            "E": now_ms(),
            "s": self.pair(symbol),
            "U": first,
            "u": first,
            "b": [[_num(p), _num(q)] for side, p, q in changes if side == "buy"],
            "a": [[_num(p), _num(q)] for side, p, q in changes if side == "sell"],
        }
        corrupt = self.faults.corrupt_next
        self.faults.corrupt_next = False
        for publisher in list(self.publishers):
            if symbol in publisher.symbols:
                if corrupt:
                    self._send(
                        publisher, '{"stream":"' + self.pair(symbol).lower() + '@depth@100ms","data":{"e"'
                    )
                self._send(
                    publisher, self._wrap(publisher, f"{self.pair(symbol).lower()}@depth@100ms", event)
                )

    def encode_update(self, publisher: Publisher, symbol: str, changes: list[Change]) -> list[str]:
        raise NotImplementedError("publish_update encodes Binance depth events itself (one id per event)")

    def encode_snapshot(self, publisher: Publisher, symbol: str) -> list[str]:
        return []  # the diff-depth stream carries no snapshots: books come from GET /api/v3/depth

    def place(
        self, client_order_id: str, symbol: str, side: str, price: Decimal, size: Decimal, tif: str
    ) -> Order:
        before = len(self.trades)
        order = super().place(client_order_id, symbol, side, price, size, tif)
        fills = self.trades[before:]
        if fills:
            self._call(lambda: self._publish_trades(symbol, fills))
        return order

    def _publish_trades(self, symbol: str, fills: list[Trade]) -> None:
        stream = f"{self.pair(symbol).lower()}@aggTrade"
        for publisher in list(self.publishers):
            if symbol not in publisher.state.get("trades", set()):
                continue
            for fill in fills:
                event = {
                    "e": "aggTrade",
                    "E": now_ms(),
                    "s": self.pair(symbol),
                    "a": int(fill.trade_id),
                    "p": _num(fill.price),
                    "q": _num(fill.size),
                    "f": int(fill.trade_id),
                    "l": int(fill.trade_id),
                    "T": fill.ts_ms,
                    "m": fill.side == "sell",
                    "M": True,
                }
                self._send(publisher, self._wrap(publisher, stream, event))

    def shutdown_notice(self) -> None:
        """Send the ``serverShutdown`` event on every connection (the server is about to go away)."""

        def send() -> None:
            event = {"e": "serverShutdown", "E": now_ms()}
            for publisher in list(self.publishers):
                self._send(publisher, self._wrap(publisher, "!serverShutdown", event))

        self._call(send)

    @staticmethod
    def _wrap(publisher: Publisher, stream: str, event: dict[str, Any]) -> str:
        if publisher.state.get("combined", True):
            return json.dumps({"stream": stream, "data": event})
        return json.dumps(event)

    # -- websocket ---------------------------------------------------------------------------------------
    def _subscribe(self, publisher: Publisher, streams: list[str]) -> list[str]:
        """Add ``streams``; returns the ones that are not valid stream names."""
        bad = []
        trades: set[str] = publisher.state.setdefault("trades", set())
        names: list[str] = publisher.state.setdefault("streams", [])
        for stream in streams:
            pair, _, kind = stream.partition("@")
            symbol = self.symbol_of(pair)
            if symbol is None or pair != pair.lower():
                bad.append(stream)
                continue
            if kind in ("depth", "depth@100ms", "depth@1000ms"):
                publisher.symbols.add(symbol)
            elif kind == "aggTrade":
                trades.add(symbol)
            elif not kind:
                bad.append(stream)
                continue
            if stream not in names:
                names.append(stream)
        return bad

    def _unsubscribe(self, publisher: Publisher, streams: list[str]) -> None:
        names: list[str] = publisher.state.setdefault("streams", [])
        for stream in streams:
            if stream in names:
                names.remove(stream)
        kept = [n.split("@", 1) for n in names]
        publisher.symbols = {s for p, k in kept if k.startswith("depth") and (s := self.symbol_of(p))}
        publisher.state["trades"] = {s for p, k in kept if k == "aggTrade" and (s := self.symbol_of(p))}

    async def _stream_handler(self, request: web.Request) -> web.WebSocketResponse:
        """``/stream?streams=a/b`` (combined) and ``/ws/<stream>`` (raw): subscribed by the URL."""
        combined = request.path == "/stream"
        names = request.query.get("streams", "") if combined else request.match_info.get("streams", "")
        socket = web.WebSocketResponse(heartbeat=None, max_msg_size=16 * 1024 * 1024)
        await socket.prepare(request)
        publisher = Publisher(socket, state={"combined": combined})
        self._subscribe(publisher, [n for n in names.split("/") if n])
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

    async def on_ws_message(self, publisher: Publisher, text: str) -> None:
        try:
            request = json.loads(text)
            method, ident = request["method"], request.get("id")
        except (ValueError, KeyError, TypeError):
            await publisher.socket.send_str(json.dumps({"code": 3, "msg": "Invalid JSON"}))
            return
        params = [str(p) for p in request.get("params") or []]
        if method == "SUBSCRIBE":
            bad = self._subscribe(publisher, params)
            if bad:
                await publisher.socket.send_str(
                    json.dumps({"code": 2, "msg": f"Invalid request: {bad}", "id": ident})
                )
                return
            result: Any = None
        elif method == "UNSUBSCRIBE":
            self._unsubscribe(publisher, params)
            result = None
        elif method == "LIST_SUBSCRIPTIONS":
            result = list(publisher.state.get("streams", []))
        else:
            await publisher.socket.send_str(
                json.dumps({"code": 2, "msg": f"Invalid request: unknown variant {method}", "id": ident})
            )
            return
        await publisher.socket.send_str(json.dumps({"result": result, "id": ident}))

    # -- REST --------------------------------------------------------------------------------------------
    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/stream", self._stream_handler)
        app.router.add_get("/ws/{streams:.+}", self._stream_handler)
        routes: dict[tuple[str, str], Callable[[dict[str, str]], web.Response]] = {
            ("GET", "/api/v3/ping"): lambda p: web.json_response({}),
            ("GET", "/api/v3/time"): lambda p: web.json_response({"serverTime": now_ms()}),
            ("GET", "/api/v3/exchangeInfo"): self._exchange_info,
            ("GET", "/api/v3/depth"): self._depth,
            ("POST", "/api/v3/order"): self._new_order,
            ("GET", "/api/v3/order"): self._query_order,
            ("DELETE", "/api/v3/order"): self._cancel_order,
            ("GET", "/api/v3/openOrders"): self._open_orders,
            ("GET", "/api/v3/myTrades"): self._my_trades,
            ("GET", "/api/v3/account"): self._account,
        }
        for (method, path), handler in routes.items():
            app.router.add_route(method, path, self._endpoint(path, handler))

    def _endpoint(
        self, path: str, handler: Callable[[dict[str, str]], web.Response]
    ) -> Callable[[web.Request], Any]:
        async def serve(request: web.Request) -> web.Response:
            body = await request.text()
            raw = body if request.method == "POST" and body else request.query_string
            if path in PRIVATE:
                refusal = self._authenticate(request, raw)
                if refusal is not None:
                    return refusal
            return handler(dict(parse_qsl(raw, keep_blank_values=True)))

        return serve

    def _authenticate(self, request: web.Request, raw: str) -> web.Response | None:
        if request.headers.get("X-MBX-APIKEY") != API_KEY:
            return _error(-2014, "API-key format invalid.", 401)
        unsigned, sep, signature = raw.rpartition("&signature=")
        expected = hmac.new(SECRET.encode(), unsigned.encode(), hashlib.sha256).hexdigest()
        if not sep or not hmac.compare_digest(expected, signature):
            return _error(-1022, "Signature for this request is not valid.", 401)
        return None

    def take_fault(self) -> web.Response | None:
        with self.lock:
            if self.faults.fail_5xx > 0:
                self.faults.fail_5xx -= 1
                return _error(
                    -1006,
                    "An unexpected response was received from the message bus. Execution status unknown.",
                    503,
                )
            if self.faults.rate_limit > 0:
                self.faults.rate_limit -= 1
                response = _error(
                    -1003,
                    "Too much request weight used; current limit is 6000 request weight per 1 MINUTE. "
                    "Please use WebSocket Streams for live updates to avoid polling the API.",
                    429,
                )
                response.headers["Retry-After"] = str(self.faults.retry_after_s)
                return response
        return None

    def _exchange_info(self, params: dict[str, str]) -> web.Response:
        symbols = []
        for symbol, info in self.symbols.items():
            symbols.append(
                {
                    "symbol": self.pair(symbol),
                    "status": "TRADING",
                    "baseAsset": info.base,
                    "baseAssetPrecision": 8,
                    "quoteAsset": info.quote,
                    "quotePrecision": 8,
                    "quoteAssetPrecision": 8,
                    "baseCommissionPrecision": 8,
                    "quoteCommissionPrecision": 8,
                    "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET"],
                    "icebergAllowed": True,
                    "ocoAllowed": True,
                    "isSpotTradingAllowed": True,
                    "isMarginTradingAllowed": False,
                    "filters": [
                        {
                            "filterType": "PRICE_FILTER",
                            "minPrice": _num(info.tick),
                            "maxPrice": "1000000.00000000",
                            "tickSize": _num(info.tick),
                        },
                        {
                            "filterType": "LOT_SIZE",
                            "minQty": _num(info.lot),
                            "maxQty": "9000.00000000",
                            "stepSize": _num(info.lot),
                        },
                        {
                            "filterType": "NOTIONAL",
                            "minNotional": _num(info.min_notional),
                            "applyMinToMarket": True,
                            "maxNotional": "9000000.00000000",
                            "applyMaxToMarket": False,
                            "avgPriceMins": 5,
                        },
                    ],
                    "permissions": [],
                    "permissionSets": [["SPOT"]],
                    "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
                    "allowedSelfTradePreventionModes": [
                        "NONE",
                        "EXPIRE_TAKER",
                        "EXPIRE_MAKER",
                        "EXPIRE_BOTH",
                    ],
                }
            )
        return web.json_response(
            {
                "timezone": "UTC",
                "serverTime": now_ms(),
                "rateLimits": [],
                "exchangeFilters": [],
                "symbols": symbols,
            }
        )

    def _depth(self, params: dict[str, str]) -> web.Response:
        symbol = self.symbol_of(params.get("symbol", ""))
        if symbol is None:
            return _error(-1121, "Invalid symbol.")
        limit = int(params.get("limit") or 100)
        with self.lock:
            self.depth_requests += 1
            if self.fail_snapshots > 0:
                self.fail_snapshots -= 1
                return _error(-1001, "Internal error; unable to process your request. Please try again.", 503)
            bids, asks = self.book(symbol)
            last = self.update_ids[symbol]
        return web.json_response(
            {
                "lastUpdateId": last,
                "bids": [[_num(p), _num(q)] for p, q in bids[:limit]],
                "asks": [[_num(p), _num(q)] for p, q in asks[:limit]],
            }
        )

    # -- orders ------------------------------------------------------------------------------------------
    def _order_json(self, order: Order) -> dict[str, Any]:
        if order.status == "filled":
            status = "FILLED"
        elif order.status == "canceled":
            status = "EXPIRED" if order.tif in ("IOC", "FOK") else "CANCELED"
        else:
            status = "PARTIALLY_FILLED" if order.filled > 0 else "NEW"
        return {
            "symbol": self.pair(order.symbol),
            "orderId": int(order.order_id),
            "orderListId": -1,
            "clientOrderId": order.client_order_id,
            "price": _num(order.price),
            "origQty": _num(order.size),
            "executedQty": _num(order.filled),
            "cummulativeQuoteQty": _num(order.notional),
            "status": status,
            "timeInForce": order.tif,
            "type": "LIMIT",
            "side": order.side.upper(),
            "time": order.created_ms,
            "updateTime": order.created_ms,
            "workingTime": order.created_ms,
            "isWorking": True,
            "origQuoteOrderQty": "0.00000000",
            "selfTradePreventionMode": "EXPIRE_MAKER",
        }

    def _find(self, params: dict[str, str]) -> Order | None:
        symbol = self.symbol_of(params.get("symbol", ""))
        with self.lock:
            if params.get("orderId"):
                order = self.orders.get(params["orderId"])
            else:
                order = self.by_client_id.get(params.get("origClientOrderId", ""))
        return order if order is not None and order.symbol == symbol else None

    def _new_order(self, params: dict[str, str]) -> web.Response:
        fault = self.take_fault()
        if fault is not None:
            return fault
        with self.lock:
            self.create_requests.append(dict(params))
            symbol = self.symbol_of(params.get("symbol", ""))
            if symbol is None:
                return _error(-1121, "Invalid symbol.")
            info = self.symbols[symbol]
            cid = params.get("newClientOrderId") or f"auto{next(self.ids)}"
            if not CLIENT_ID.match(cid):
                return _error(
                    -1100,
                    "Illegal characters found in parameter 'newClientOrderId'; legal range is "
                    "'^[a-zA-Z0-9-_]{1,36}$'.",
                )
            if params.get("type") != "LIMIT":
                return _error(-1116, "Invalid orderType.")
            tif = params.get("timeInForce", "")
            if tif not in ("GTC", "IOC", "FOK"):
                return _error(
                    -1102, "Mandatory parameter 'timeInForce' was not sent, was empty/null, or malformed."
                )
            side = params.get("side", "").lower()
            try:
                price, size = D(params["price"]), D(params["quantity"])
            except (KeyError, ArithmeticError):
                return _error(
                    -1102, "Mandatory parameter 'price' was not sent, was empty/null, or malformed."
                )
            if price <= 0 or price % info.tick:
                return _error(-1013, "Filter failure: PRICE_FILTER")
            if size <= 0 or size % info.lot:
                return _error(-1013, "Filter failure: LOT_SIZE")
            if price * size < info.min_notional:
                return _error(-1013, "Filter failure: NOTIONAL")
            previous = self.by_client_id.get(cid)
            if previous is not None and previous.status == "open":
                return _error(-2010, "Duplicate order sent.")
            if side == "buy":
                short = price * size * (1 + self.fee_rate) > self.balances.get(info.quote, D(0))
            else:
                short = size > self.balances.get(info.base, D(0))
            if short or side not in ("buy", "sell"):
                return _error(-2010, "Account has insufficient balance for requested action.")
            order = self.place(cid, symbol, side, price, size, tif)
            fills = self.trades_of(order)
        if self.ack_lost():
            raise LostAck()
        return web.json_response(
            self._order_json(order)
            | {
                "transactTime": order.created_ms,
                "fills": [
                    {
                        "price": _num(t.price),
                        "qty": _num(t.size),
                        "commission": _num(t.fee),
                        "commissionAsset": t.fee_asset,
                        "tradeId": int(t.trade_id),
                    }
                    for t in fills
                ],
            }
        )

    def _query_order(self, params: dict[str, str]) -> web.Response:
        self.lookup_requests.append(dict(params))
        order = self._find(params)
        if order is None:
            return _error(-2013, "Order does not exist.")
        return web.json_response(self._order_json(order))

    def _cancel_order(self, params: dict[str, str]) -> web.Response:
        self.cancel_requests.append(dict(params))
        order = self._find(params)
        if order is None or order.status != "open":
            return _error(-2011, "Unknown order sent.")
        self.cancel(order)  # resting orders are not part of the published book here
        return web.json_response(self._order_json(order) | {"origClientOrderId": order.client_order_id})

    def _open_orders(self, params: dict[str, str]) -> web.Response:
        symbol = self.symbol_of(params.get("symbol", "")) if params.get("symbol") else None
        with self.lock:
            open_orders = [
                o
                for o in self.orders.values()
                if o.status == "open" and (symbol is None or o.symbol == symbol)
            ]
        return web.json_response([self._order_json(o) for o in open_orders])

    def _my_trades(self, params: dict[str, str]) -> web.Response:
        symbol = self.symbol_of(params.get("symbol", ""))
        if symbol is None:
            return _error(-1121, "Invalid symbol.")
        with self.lock:
            trades = [
                t
                for t in self.trades
                if t.symbol == symbol and (not params.get("orderId") or t.order_id == params["orderId"])
            ]
        return web.json_response(
            [
                {
                    "symbol": self.pair(t.symbol),
                    "id": int(t.trade_id),
                    "orderId": int(t.order_id),
                    "orderListId": -1,
                    "price": _num(t.price),
                    "qty": _num(t.size),
                    "quoteQty": _num(t.price * t.size),
                    "commission": _num(t.fee),
                    "commissionAsset": t.fee_asset,
                    "time": t.ts_ms,
                    "isBuyer": t.side == "buy",
                    "isMaker": False,
                    "isBestMatch": True,
                }
                for t in trades
            ]
        )

    def _account(self, params: dict[str, str]) -> web.Response:
        with self.lock:
            balances = [
                {"asset": a, "free": _num(v), "locked": "0.00000000"} for a, v in self.balances.items()
            ]
        return web.json_response(
            {
                "makerCommission": 10,
                "takerCommission": 10,
                "buyerCommission": 0,
                "sellerCommission": 0,
                "canTrade": True,
                "canWithdraw": True,
                "canDeposit": True,
                "updateTime": now_ms(),
                "accountType": "SPOT",
                "balances": balances,
                "permissions": ["SPOT"],
            }
        )
