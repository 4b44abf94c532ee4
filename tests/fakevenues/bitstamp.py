"""A loopback Bitstamp venue: WebSocket API v2 (``diff_order_book``, ``live_trades``) and the HTTP API v2
calls that ccxt and cryptofeed make.

Speaks Bitstamp's documented protocols (www.bitstamp.net/api and /websocket/v2):

- websocket at ``/``: ``{"event": "bts:subscribe", "data": {"channel": "diff_order_book_btcusd"}}``
  answered by ``bts:subscription_succeeded``; diffs ``{"data": {"timestamp", "microtimestamp", "bids",
  "asks"}, "channel", "event": "data"}`` with absolute amounts (``0`` deletes) and strictly increasing
  microtimestamps per pair; ``trade`` events on ``live_trades_<pair>``; ``bts:heartbeat``; ``bts:error`` for
  a bad channel; ``bts:request_reconnect`` on demand;
- REST: ``trading-pairs-info`` (cryptofeed's instrument list), ``markets`` (ccxt's), ``order_book/<pair>``
  (with ``microtimestamp``: the diff gate), and the signed private calls ``buy|sell/<pair>``
  (``client_order_id``, ``ioc_order``/``fok_order``), ``order_status``, ``cancel_order`` (by ``id``),
  ``user_transactions/<pair>``, ``open_orders/all``, ``account_balances``. Headers ``X-Auth`` ..
  ``X-Auth-Version`` and the HMAC-SHA256 signature are checked. Errors are ``{"status": "error", "reason":
  ..., "response_code": ...}``: 400.019 a client order id used before (ever), 400.009 insufficient balance,
  400.020 minimum order value, "Order not found." for unknown orders. A 5xx is an HTML gateway page; a 429
  carries ``Retry-After`` and 400.002.

Diffs carry no sequence number, so a lost diff is undetectable by design: ``gap_ws()`` does nothing here.
``silence(s)`` withholds diffs and delivers them, late and in order, with the first one after the silence.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import time
from collections.abc import Awaitable, Callable, Mapping
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
)
from tests.fakevenues.binance import Change, replace_levels

D = Decimal
FEE_RATE = D("0.001")
DIFF = "diff_order_book_"
TRADES = "live_trades_"
TIF_FLAGS = ("daily_order", "ioc_order", "fok_order", "moc_order", "gtd_order")
Handler = Callable[[web.Request, dict[str, str]], web.Response]


def _error(reason: object, code: str, status: int = 400) -> web.Response:
    return web.json_response({"status": "error", "reason": reason, "response_code": code}, status=status)


def _amount(value: Decimal) -> str:
    return f"{value:.8f}"


def _when(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


class FakeBitstamp(FakeVenue):
    name = "bitstamp"
    ws_path = "/"

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
            or {"BTC-USD": SymbolInfo("BTC", "USD", tick=D("0.01"), lot=D("0.00000001"), min_notional=D(10))},
            balances=balances,
            fee_rate=fee_rate,
            tick_s=tick_s,
        )
        self.micro: dict[str, int] = {s: 0 for s in self.symbols}
        """Microtimestamp of the last diff of each pair (the order book snapshot is stamped with it)."""
        self.used_client_ids: set[str] = set()
        self.snapshot_requests = 0
        self.lookup_requests: list[dict[str, str]] = []
        self.cancel_requests: list[dict[str, str]] = []
        self.ws_messages: list[str] = []
        self.fail_snapshots = 0
        """How many upcoming ``order_book`` requests fail (503): the feed must report and retry."""
        self.ioc_rest_status = "Canceled"
        """``order_status`` of an IOC whose rest was cancelled (the docs leave it open: Canceled, Finished
        with ``amount_remaining`` > 0, or Expired)."""
        self._held: list[tuple[str, list[Change]]] = []

    def __enter__(self) -> Self:
        self.start()
        return self

    # -- names -------------------------------------------------------------------------------------------
    def pair(self, symbol: str) -> str:
        info = self.symbols[symbol]
        return f"{info.base}{info.quote}".lower()

    def symbol_of(self, pair: str) -> str | None:
        return next((s for s in self.symbols if self.pair(s) == pair), None)

    def _price(self, symbol: str, value: Decimal) -> str:
        return str(value.quantize(self.symbols[symbol].tick))

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
        if time.time() < self.faults.silent_until:
            self._held.append((symbol, changes))
            return
        held, self._held = self._held, []
        for held_symbol, held_changes in held:
            self._publish_diff(held_symbol, held_changes)
        self._publish_diff(symbol, changes)
        self.faults.gap_next = False  # no sequence numbers to skip: a lost diff would go unnoticed

    def _publish_diff(self, symbol: str, changes: list[Change]) -> None:
        with self.lock:
            micro = max(int(time.time() * 1e6), self.micro[symbol] + 1)
            self.micro[symbol] = micro
        channel = DIFF + self.pair(symbol)
        text = json.dumps(
            {
                "data": {
                    "timestamp": str(micro // 1_000_000),
                    "microtimestamp": str(micro),
                    "bids": [[self._price(symbol, p), _amount(q)] for s, p, q in changes if s == "buy"],
                    "asks": [[self._price(symbol, p), _amount(q)] for s, p, q in changes if s == "sell"],
                },
                "channel": channel,
                "event": "data",
            }
        )
        corrupt = self.faults.corrupt_next
        self.faults.corrupt_next = False
        for publisher in list(self.publishers):
            if symbol in publisher.symbols:
                if corrupt:
                    self._send(publisher, '{"data":{"timestamp":"1","microtimestamp":')
                self._send(publisher, text)

    def encode_update(self, publisher: Publisher, symbol: str, changes: list[Change]) -> list[str]:
        raise NotImplementedError("publish_update encodes Bitstamp diffs itself (one stamp per diff)")

    def encode_snapshot(self, publisher: Publisher, symbol: str) -> list[str]:
        return []  # diff_order_book carries no snapshots: books come from GET /api/v2/order_book/<pair>

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
        channel = TRADES + self.pair(symbol)
        for publisher in list(self.publishers):
            if symbol not in publisher.state.get("trades", set()):
                continue
            for fill in fills:
                data = {
                    "id": int(fill.trade_id),
                    "timestamp": str(fill.ts_ms // 1000),
                    "amount": float(fill.size),
                    "amount_str": _amount(fill.size),
                    "price": float(fill.price),
                    "price_str": self._price(symbol, fill.price),
                    "type": 0 if fill.side == "buy" else 1,
                    "microtimestamp": str(fill.ts_ms * 1000),
                    "buy_order_id": int(fill.order_id) if fill.side == "buy" else 0,
                    "sell_order_id": int(fill.order_id) if fill.side == "sell" else 0,
                }
                self._send(publisher, json.dumps({"data": data, "channel": channel, "event": "trade"}))

    def request_reconnect(self) -> None:
        """Send ``bts:request_reconnect`` on every connection (the server is about to go away)."""

        def send() -> None:
            text = json.dumps({"event": "bts:request_reconnect", "channel": "", "data": ""})
            for publisher in list(self.publishers):
                self._send(publisher, text)

        self._call(send)

    # -- websocket ---------------------------------------------------------------------------------------
    async def on_ws_message(self, publisher: Publisher, text: str) -> None:
        self.ws_messages.append(text)
        try:
            message = json.loads(text)
            event = message["event"]
            channel = str((message.get("data") or {}).get("channel", ""))
        except (ValueError, KeyError, TypeError, AttributeError):
            await self._ws_error(publisher, "Bad subscription string.")
            return
        if event == "bts:heartbeat":
            reply = {"event": "bts:heartbeat", "channel": "", "data": {"status": "success"}}
            await publisher.socket.send_str(json.dumps(reply))
            return
        kind = DIFF if channel.startswith(DIFF) else TRADES if channel.startswith(TRADES) else ""
        symbol = self.symbol_of(channel[len(kind) :]) if kind else None
        if event not in ("bts:subscribe", "bts:unsubscribe") or symbol is None:
            await self._ws_error(publisher, "Bad subscription string.")
            return
        target: set[str] = publisher.symbols if kind == DIFF else publisher.state.setdefault("trades", set())
        if event == "bts:subscribe":
            target.add(symbol)
            answer = "bts:subscription_succeeded"
        else:
            target.discard(symbol)
            answer = "bts:unsubscription_succeeded"
        await publisher.socket.send_str(json.dumps({"event": answer, "channel": channel, "data": {}}))

    @staticmethod
    async def _ws_error(publisher: Publisher, message: str) -> None:
        reply = {"event": "bts:error", "channel": "", "data": {"code": None, "message": message}}
        await publisher.socket.send_str(json.dumps(reply))

    # -- REST --------------------------------------------------------------------------------------------
    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/api/v2/trading-pairs-info/", self._pairs_info)
        app.router.add_get("/api/v2/markets/", self._markets)
        app.router.add_get("/api/v2/order_book/{pair}", self._order_book)
        app.router.add_get("/api/v2/order_book/{pair}/", self._order_book)
        private: dict[str, Handler] = {
            "/api/v2/account_balances/": self._balances,
            "/api/v2/buy/{pair}/": self._new_order,
            "/api/v2/sell/{pair}/": self._new_order,
            "/api/v2/order_status/": self._order_status,
            "/api/v2/cancel_order/": self._cancel_order,
            "/api/v2/user_transactions/{pair}/": self._user_transactions,
            "/api/v2/open_orders/all/": self._open_orders,
        }
        for path, handler in private.items():
            app.router.add_post(path, self._private(handler))

    def _private(self, handler: Handler) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def serve(request: web.Request) -> web.Response:
            body = await request.text()
            refusal = self._authenticate(request, body)
            if refusal is not None:
                return refusal
            return handler(request, dict(parse_qsl(body, keep_blank_values=True)))

        return serve

    def _authenticate(self, request: web.Request, body: str) -> web.Response | None:
        headers = request.headers
        if headers.get("X-Auth") != f"BITSTAMP {API_KEY}":
            return web.json_response(
                {"status": "error", "reason": "API key not found", "code": "API0001"}, status=403
            )
        content_type = headers.get("Content-Type", "") if body else ""
        tail = (
            content_type
            + headers.get("X-Auth-Nonce", "")
            + headers.get("X-Auth-Timestamp", "")
            + headers.get("X-Auth-Version", "")
            + body
        )
        # The host part of the signed string is the URL without its https:// scheme (ccxt keeps http://).
        where = f"{request.host}{request.path_qs}"
        for host_part in (where, f"http://{where}"):
            message = f"BITSTAMP {API_KEY}{request.method}{host_part}{tail}"
            expected = hmac.new(SECRET.encode(), message.encode(), hashlib.sha256).hexdigest()
            if hmac.compare_digest(expected, headers.get("X-Auth-Signature", "")):
                return None
        return web.json_response(
            {"status": "error", "reason": "Invalid signature", "code": "API0005"}, status=403
        )

    def take_fault(self) -> web.Response | None:
        with self.lock:
            if self.faults.fail_5xx > 0:
                self.faults.fail_5xx -= 1
                return web.Response(
                    text="<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>",
                    status=503,
                    content_type="text/html",
                )
            if self.faults.rate_limit > 0:
                self.faults.rate_limit -= 1
                response = _error("Request rejected due to exceeded rate limit.", "400.002", 429)
                response.headers["Retry-After"] = str(self.faults.retry_after_s)
                return response
        return None

    async def _pairs_info(self, request: web.Request) -> web.Response:
        return web.json_response(
            [
                {
                    "name": f"{info.base}/{info.quote}",
                    "url_symbol": self.pair(symbol),
                    "base_decimals": 8,
                    "counter_decimals": -info.tick.as_tuple().exponent,  # type: ignore[operator]
                    "instant_order_counter_decimals": 2,
                    "minimum_order": f"{info.min_notional:.1f} {info.quote}",
                    "trading": "Enabled",
                    "instant_and_market_orders": "Enabled",
                    "description": f"{info.base} / {info.quote}",
                }
                for symbol, info in self.symbols.items()
            ]
        )

    async def _markets(self, request: web.Request) -> web.Response:
        return web.json_response(
            [
                {
                    "name": f"{info.base}/{info.quote}",
                    "market_symbol": self.pair(symbol),
                    "base_currency": info.base,
                    "base_decimals": 8,
                    "counter_currency": info.quote,
                    "counter_decimals": -info.tick.as_tuple().exponent,  # type: ignore[operator]
                    "minimum_order_value": str(info.min_notional),
                    "trading": "Enabled",
                    "instant_order_counter_decimals": 2,
                    "instant_and_market_orders": "Enabled",
                    "description": f"{info.base} / {info.quote}",
                    "market_type": "SPOT",
                }
                for symbol, info in self.symbols.items()
            ]
        )

    async def _order_book(self, request: web.Request) -> web.Response:
        symbol = self.symbol_of(request.match_info["pair"])
        if symbol is None:
            return _error("Invalid market.", "404.001", 404)
        with self.lock:
            self.snapshot_requests += 1
            if self.fail_snapshots > 0:
                self.fail_snapshots -= 1
                return web.Response(text="<html>503 Service Temporarily Unavailable</html>", status=503)
            bids, asks = self.book(symbol)
            micro = self.micro[symbol]
        return web.json_response(
            {
                "timestamp": str(micro // 1_000_000),
                "microtimestamp": str(micro),
                "bids": [[self._price(symbol, p), _amount(q)] for p, q in bids],
                "asks": [[self._price(symbol, p), _amount(q)] for p, q in asks],
            }
        )

    # -- orders ------------------------------------------------------------------------------------------
    def _status(self, order: Order) -> str:
        if order.status == "canceled" and order.tif in ("IOC", "FOK"):
            return self.ioc_rest_status
        return {"filled": "Finished", "canceled": "Canceled", "expired": "Expired"}.get(order.status, "Open")

    def _order_json(self, order: Order) -> dict[str, Any]:
        return {
            "id": order.order_id,
            "market": self.symbols[order.symbol].name.replace("-", "/"),
            "datetime": _when(order.created_ms),
            "type": "0" if order.side == "buy" else "1",
            "price": self._price(order.symbol, order.price),
            "amount": _amount(order.size),
            "client_order_id": order.client_order_id,
        }

    def _transaction(self, trade: Trade) -> dict[str, Any]:
        info = self.symbols[trade.symbol]
        return {
            "tid": int(trade.trade_id),
            "price": self._price(trade.symbol, trade.price),
            "fee": _amount(trade.fee),
            "datetime": _when(trade.ts_ms),
            "type": 2,
            info.base.lower(): _amount(trade.size),
            info.quote.lower(): _amount(trade.price * trade.size),
        }

    def _find(self, params: dict[str, str]) -> Order | None:
        with self.lock:
            if params.get("id"):
                return self.orders.get(params["id"])
            return self.by_client_id.get(params.get("client_order_id", ""))

    def _new_order(self, request: web.Request, params: dict[str, str]) -> web.Response:
        fault = self.take_fault()
        if fault is not None:
            return fault
        side = "buy" if request.path.startswith("/api/v2/buy/") else "sell"
        with self.lock:
            self.create_requests.append(dict(params))
            symbol = self.symbol_of(request.match_info["pair"])
            if symbol is None:
                return _error("Invalid market.", "404.001", 404)
            info = self.symbols[symbol]
            flags = [f for f in TIF_FLAGS if params.get(f, "").lower() in ("true", "1")]
            if len(flags) > 1:
                return _error("Only one of optional parameters can be set.", "400.024")
            cid = params.get("client_order_id", "")
            if cid and cid in self.used_client_ids:
                return _error("Provided client_order_id already exists.", "400.019")
            try:
                price, size = D(params["price"]), D(params["amount"])
            except (KeyError, ArithmeticError):
                return _error("POST parameter(s) is malformed.", "400.007")
            if price <= 0 or price % info.tick:
                places = -info.tick.as_tuple().exponent  # type: ignore[operator]
                return _error(
                    {"__all__": [f"Ensure that there are no more than {places} decimal places."]}, "400.007"
                )
            if size <= 0 or size % info.lot:
                return _error("POST parameter(s) is malformed: amount.", "400.026")
            if price * size < info.min_notional:
                return _error(
                    {"__all__": [f"Minimum order size is {info.min_notional:.2f} {info.quote}."]}, "400.020"
                )
            need = price * size * (1 + self.fee_rate) if side == "buy" else size
            asset = info.quote if side == "buy" else info.base
            have = self.balances.get(asset, D(0))
            if need > have:
                reason = (
                    f"You need {need:.2f} {asset} to open that order. You have only {have:.2f} {asset} "
                    "available. Check your account balance for details."
                )
                return _error({"__all__": [reason]}, "400.009")
            if cid:
                self.used_client_ids.add(cid)
            tif = "IOC" if "ioc_order" in flags else "FOK" if "fok_order" in flags else "GTC"
            order = self.place(cid or f"auto{next(self.ids)}", symbol, side, price, size, tif)
        if self.ack_lost():
            raise LostAck()
        return web.json_response(self._order_json(order))

    def _order_status(self, request: web.Request, params: dict[str, str]) -> web.Response:
        self.lookup_requests.append(dict(params))
        order = self._find(params)
        if order is None:
            return _error("Order not found.", "404.002", 404)
        with self.lock:
            transactions = [self._transaction(t) for t in self.trades_of(order)]
        return web.json_response(
            {
                "id": int(order.order_id),
                "datetime": _when(order.created_ms),
                "type": "0" if order.side == "buy" else "1",
                "status": self._status(order),
                "market": self.symbols[order.symbol].name.replace("-", "/"),
                "transactions": transactions,
                "amount_remaining": _amount(order.remaining),
                "client_order_id": order.client_order_id,
            }
        )

    def _cancel_order(self, request: web.Request, params: dict[str, str]) -> web.Response:
        self.cancel_requests.append(dict(params))
        order = self.orders.get(params.get("id", ""))
        if order is None or order.status != "open":
            return _error("Order not found.", "404.002", 404)
        self.cancel(order)
        return web.json_response(
            {
                "id": int(order.order_id),
                "amount": _amount(order.remaining),
                "price": self._price(order.symbol, order.price),
                "type": 0 if order.side == "buy" else 1,
                "market": self.symbols[order.symbol].name.replace("-", "/"),
            }
        )

    def _user_transactions(self, request: web.Request, params: dict[str, str]) -> web.Response:
        symbol = self.symbol_of(request.match_info["pair"])
        if symbol is None:
            return _error("Invalid market.", "404.001", 404)
        with self.lock:
            trades = [t for t in self.trades if t.symbol == symbol]
        rows = []
        for trade in reversed(trades):
            row = self._transaction(trade)
            sign = "" if trade.side == "buy" else "-"
            info = self.symbols[symbol]
            row.update(
                {
                    "id": row.pop("tid"),
                    "order_id": int(trade.order_id),
                    f"{info.base.lower()}_{info.quote.lower()}": row.pop("price"),
                    info.base.lower(): sign + row[info.base.lower()],
                    "type": "2",
                }
            )
            rows.append(row)
        return web.json_response(rows[: int(params.get("limit") or 100)])

    def _open_orders(self, request: web.Request, params: dict[str, str]) -> web.Response:
        with self.lock:
            open_orders = [o for o in self.orders.values() if o.status == "open"]
        return web.json_response(
            [self._order_json(o) | {"amount": _amount(o.remaining)} for o in open_orders]
        )

    def _balances(self, request: web.Request, params: dict[str, str]) -> web.Response:
        with self.lock:
            rows = [
                {
                    "currency": a.lower(),
                    "total": _amount(v),
                    "available": _amount(v),
                    "reserved": "0.00000000",
                }
                for a, v in self.balances.items()
            ]
        return web.json_response(rows)
