"""A loopback Gemini: the REST API ccxt's ``gemini`` and cryptofeed call, and the v2 market-data websocket.

REST (docs.gemini.com "REST API", shapes as in ccxt's ``gemini.py`` comments): ``GET /v1/symbols`` (lower-case
names), ``GET /v1/symbols/details/{symbol}`` (``tick_size`` is the amount step, ``quote_increment`` the price
tick), and the private ``POST`` calls ``/v1/order/new`` (``exchange limit``, ``client_order_id``, ``options``
with at most one of ``immediate-or-cancel``; no option is a resting limit), ``/v1/order/status`` (``order_id``
*or* ``client_order_id``, ``include_trades``; by client id the answer is the list of orders carrying it),
``/v1/order/cancel`` (``order_id``), ``/v1/orders``, ``/v1/mytrades``, ``/v1/balances``. Private calls must
carry ``X-GEMINI-APIKEY`` (an account-scoped key), ``X-GEMINI-PAYLOAD`` (base64 JSON whose ``request`` names
the path, with a ``nonce``) and ``X-GEMINI-SIGNATURE`` (hex HMAC-SHA384 of the payload with the secret); the
request's parameters are read from the payload, as the venue does. Refusals are ``{"result": "error",
"reason": ..., "message": ...}`` with the venue's status codes (400, 404 unknown order, 406 insufficient
funds, 429 with ``Retry-After``, 503 maintenance). Like the venue, a repeated ``client_order_id`` is *not*
refused (Gemini does not enforce uniqueness): it makes a second order, which ``create_requests`` shows.

Websocket (``/v2/marketdata/``): ``{"type": "subscribe", "subscriptions": [{"name": "l2", "symbols":
[...]}]}`` answers, per symbol, one ``l2_updates`` with the full book in ``changes`` (``[side, price,
quantity]``) plus ``trades`` and ``auction_events``; then ``l2_updates`` with absolute quantities (``"0"``
deletes), ``trade`` messages for fills, and a ``heartbeat`` every ``heartbeat_s``. The stream has no sequence
numbers, so ``gap_ws()`` has nothing to skip (a lost message is undetectable on this protocol and is not
simulated).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import re
import time
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

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

GEMINI_API_KEY = f"account-{API_KEY}"
"""ccxt's gemini signs only account-scoped keys (``account-...``), like the venue issues them."""
CLIENT_ORDER_ID = re.compile(r"^[:\-_.#a-zA-Z0-9]{1,36}$")
_OPTIONS = {"immediate-or-cancel": "IOC"}
_UNSUPPORTED = {"maker-or-cancel", "fill-or-kill", "auction-only", "indication-of-interest"}
Book = tuple[dict[Decimal, Decimal], dict[Decimal, Decimal]]


def text(value: Decimal) -> str:
    """A decimal as the venue writes it (no exponent, no trailing zeros)."""
    out = format(value.normalize(), "f")
    return "0" if out in ("-0", "") else out


def gemini_error(status: int, reason: str, message: str) -> web.Response:
    return web.json_response({"result": "error", "reason": reason, "message": message}, status=status)


class FakeGemini(FakeVenue):
    name = "gemini"
    ws_path = "/v2/marketdata/"
    heartbeat_s = 5.0

    def __init__(
        self,
        symbols: Mapping[str, SymbolInfo] | None = None,
        *,
        api_key: str = GEMINI_API_KEY,
        secret: str = SECRET,
        **kwargs: Any,
    ) -> None:
        super().__init__(symbols, **kwargs)
        self.api_key = api_key
        self.secret = secret
        self.nonces: list[int] = []
        self._heartbeat: asyncio.Task[None] | None = None

    # -- names -------------------------------------------------------------------------------------------
    def venue_symbol(self, symbol: str) -> str:
        info = self.symbols[symbol]
        return f"{info.base}{info.quote}"

    def symbol_of(self, venue_symbol: str) -> str | None:
        for symbol, info in self.symbols.items():
            if f"{info.base}{info.quote}".lower() == venue_symbol.lower():
                return symbol
        return None

    def client_order_ids(self) -> list[str]:
        return [str(r.get("client_order_id")) for r in self.create_requests]

    # -- REST ----------------------------------------------------------------------------------------------
    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/v2/marketdata", self._ws_handler)
        app.router.add_get("/v1/symbols", self._symbols)
        app.router.add_get("/v1/symbols/details/{symbol}", self._details)
        private = {
            "/v1/order/new": self._new_order,
            "/v1/order/status": self._order_status,
            "/v1/order/cancel": self._cancel,
            "/v1/orders": self._active_orders,
            "/v1/mytrades": self._my_trades,
            "/v1/balances": self._balances,
        }
        for path, handler in private.items():
            app.router.add_post(path, self._private(handler))

    async def _symbols(self, request: web.Request) -> web.Response:
        return web.json_response([self.venue_symbol(s).lower() for s in self.symbols])

    async def _details(self, request: web.Request) -> web.Response:
        symbol = self.symbol_of(request.match_info["symbol"])
        if symbol is None:
            return gemini_error(
                400, "InvalidSymbol", f"Supplied value '{request.match_info['symbol']}' is not a valid symbol"
            )
        info = self.symbols[symbol]
        return web.json_response(
            {
                "symbol": self.venue_symbol(symbol),
                "base_currency": info.base,
                "quote_currency": info.quote,
                "tick_size": float(info.lot),
                "quote_increment": float(info.tick),
                "min_order_size": text(info.lot),
                "status": "open",
                "wrap_enabled": False,
            }
        )

    def _private(self, handler: Any) -> Any:
        async def checked(request: web.Request) -> web.StreamResponse:
            key = request.headers.get("X-GEMINI-APIKEY")
            payload_b64 = request.headers.get("X-GEMINI-PAYLOAD")
            signature = request.headers.get("X-GEMINI-SIGNATURE")
            if not key:
                return gemini_error(400, "MissingApikeyHeader", "Missing X-GEMINI-APIKEY header")
            if key != self.api_key:
                return gemini_error(400, "InvalidApiKey", "Invalid API key")
            if not payload_b64:
                return gemini_error(400, "MissingPayloadHeader", "Missing X-GEMINI-PAYLOAD header")
            if not signature:
                return gemini_error(400, "MissingSignatureHeader", "Missing X-GEMINI-SIGNATURE header")
            expected = hmac.new(self.secret.encode(), payload_b64.encode(), hashlib.sha384).hexdigest()
            if not hmac.compare_digest(expected, signature):
                return gemini_error(400, "InvalidSignature", "InvalidSignature")
            try:
                payload = json.loads(base64.b64decode(payload_b64))
            except (ValueError, json.JSONDecodeError):
                return gemini_error(400, "InvalidJson", "Payload is not base64 JSON")
            if not isinstance(payload, dict):
                return gemini_error(400, "InvalidJson", "Payload must be a JSON object")
            if payload.get("request") != request.path:
                return gemini_error(400, "EndpointMismatch", f"payload request {payload.get('request')!r}")
            try:
                self.nonces.append(int(str(payload["nonce"])))
            except (KeyError, ValueError):
                return gemini_error(400, "InvalidNonce", "Missing or invalid nonce")
            response: web.StreamResponse = await handler(payload)
            return response

        return checked

    def take_fault(self) -> web.Response | None:
        with self.lock:
            if self.faults.fail_5xx > 0:
                self.faults.fail_5xx -= 1
                return gemini_error(
                    503, "Maintenance", "The Gemini Exchange is currently undergoing maintenance."
                )
            if self.faults.rate_limit > 0:
                self.faults.rate_limit -= 1
                response = gemini_error(429, "RateLimit", "Requests were made too frequently")
                response.headers["Retry-After"] = str(self.faults.retry_after_s)
                return response
        return None

    async def _new_order(self, payload: dict[str, Any]) -> web.Response:
        fault = self.take_fault()
        if fault is not None:
            return fault
        with self.lock:
            self.create_requests.append(dict(payload))
        symbol = self.symbol_of(str(payload.get("symbol", "")))
        if symbol is None:
            return gemini_error(
                400, "InvalidSymbol", f"Supplied value '{payload.get('symbol')}' is not a valid symbol"
            )
        info = self.symbols[symbol]
        if payload.get("type") != "exchange limit":
            return gemini_error(400, "InvalidOrderType", f"Invalid order type {payload.get('type')!r}")
        side = payload.get("side")
        if side not in ("buy", "sell"):
            return gemini_error(400, "InvalidSide", f"Invalid side {side!r}")
        cid = payload.get("client_order_id")
        if cid is not None and not isinstance(cid, str):
            return gemini_error(400, "ClientOrderIdMustBeString", "The Client Order ID must be a string")
        if cid is not None and not CLIENT_ORDER_ID.match(cid):
            return gemini_error(
                400, "ClientOrderIdTooLong", "Client order id must match [:\\-_.#a-zA-Z0-9]{1,36}"
            )
        options = payload.get("options", [])
        if not isinstance(options, list):
            return gemini_error(400, "OptionsMustBeArray", "The options parameter must be an array")
        if len(options) > 1:
            return gemini_error(400, "ConflictingOptions", "A single order supports at most one option")
        if options and options[0] in _UNSUPPORTED:
            return gemini_error(
                400, "UnsupportedOption", f"Option {options[0]!r} is not supported by this fake"
            )
        if options and options[0] not in _OPTIONS:
            return gemini_error(400, "UnsupportedOption", f"Unknown option {options[0]!r}")
        tif = _OPTIONS[options[0]] if options else "GTC"
        try:
            amount = Decimal(str(payload.get("amount")))
            price = Decimal(str(payload.get("price")))
        except InvalidOperation:
            return gemini_error(400, "InvalidQuantity", "amount and price must be decimal strings")
        if not amount.is_finite() or amount <= 0 or amount % info.lot != 0:
            return gemini_error(
                400, "InvalidQuantity", f"Invalid quantity for symbol {info.base}{info.quote}: {amount}"
            )
        if not price.is_finite() or price <= 0 or price % info.tick != 0:
            return gemini_error(
                400, "InvalidPrice", f"Invalid price for symbol {info.base}{info.quote}: {price}"
            )
        if not self._funded(info, side, amount, price):
            return gemini_error(
                406,
                "InsufficientFunds",
                f"Failed to place {side} order on symbol '{info.base}{info.quote}' for price ${price} and "
                f"quantity {amount} due to insufficient funds",
            )
        order = self.place(cid or str(now_ms()), symbol, side, price, amount, tif)
        if self.ack_lost():
            raise LostAck()
        return web.json_response(self.order_json(order))

    def _funded(self, info: SymbolInfo, side: str, amount: Decimal, price: Decimal) -> bool:
        with self.lock:
            held_quote = sum(
                (
                    o.remaining * o.price
                    for o in self.orders.values()
                    if o.status == "open" and o.side == "buy" and self.symbols[o.symbol].quote == info.quote
                ),
                Decimal(0),
            )
            held_base = sum(
                (
                    o.remaining
                    for o in self.orders.values()
                    if o.status == "open" and o.side == "sell" and self.symbols[o.symbol].base == info.base
                ),
                Decimal(0),
            )
            if side == "buy":
                need = amount * price * (1 + self.fee_rate)
                return self.balances.get(info.quote, Decimal(0)) - held_quote >= need
            return self.balances.get(info.base, Decimal(0)) - held_base >= amount

    async def _order_status(self, payload: dict[str, Any]) -> web.Response:
        order_id, cid = payload.get("order_id"), payload.get("client_order_id")
        if (order_id is None) == (cid is None):
            return gemini_error(400, "InvalidJson", "Specify exactly one of order_id and client_order_id")
        include = bool(payload.get("include_trades"))
        with self.lock:
            if order_id is not None:
                order = self.orders.get(str(order_id))
                if order is None:
                    return gemini_error(404, "OrderNotFound", f"Order {order_id} not found")
                return web.json_response(self.order_json(order, include_trades=include))
            matching = [o for o in self.orders.values() if o.client_order_id == cid]
        if not matching:
            return gemini_error(404, "OrderNotFound", f"Order with client_order_id {cid} not found")
        return web.json_response([self.order_json(o, include_trades=include) for o in matching])

    async def _cancel(self, payload: dict[str, Any]) -> web.Response:
        with self.lock:
            order = self.orders.get(str(payload.get("order_id")))
        if order is None:
            return gemini_error(404, "OrderNotFound", f"Order {payload.get('order_id')} not found")
        was_open = order.status == "open"
        self.cancel(order)
        return web.json_response(self.order_json(order, reason="Requested" if was_open else None))

    async def _active_orders(self, payload: dict[str, Any]) -> web.Response:
        with self.lock:
            live = [self.order_json(o) for o in self.orders.values() if o.status == "open"]
        return web.json_response(live)

    async def _my_trades(self, payload: dict[str, Any]) -> web.Response:
        symbol = self.symbol_of(str(payload.get("symbol", "")))
        if symbol is None:
            return gemini_error(
                400, "InvalidSymbol", f"Supplied value '{payload.get('symbol')}' is not a valid symbol"
            )
        limit = int(payload.get("limit_trades") or 50)
        with self.lock:
            rows = [t for t in self.trades if t.symbol == symbol][::-1][:limit]
        return web.json_response([self.trade_json(t) for t in rows])

    async def _balances(self, payload: dict[str, Any]) -> web.Response:
        with self.lock:
            rows = [
                {
                    "type": "exchange",
                    "currency": asset,
                    "amount": text(amount),
                    "available": text(amount),
                    "availableForWithdrawal": text(amount),
                }
                for asset, amount in sorted(self.balances.items())
            ]
        return web.json_response(rows)

    # -- encodings ------------------------------------------------------------------------------------------
    def order_json(
        self, order: Order, *, include_trades: bool = False, reason: str | None = None
    ) -> dict[str, Any]:
        options = [k for k, v in _OPTIONS.items() if v == order.tif]
        out: dict[str, Any] = {
            "order_id": order.order_id,
            "id": order.order_id,
            "symbol": self.venue_symbol(order.symbol).lower(),
            "exchange": "gemini",
            "avg_execution_price": text(order.average),
            "side": order.side,
            "type": "exchange limit",
            "timestamp": str(order.created_ms // 1000),
            "timestampms": order.created_ms,
            "is_live": order.status == "open",
            "is_cancelled": order.status == "canceled",
            "is_hidden": False,
            "was_forced": False,
            "executed_amount": text(order.filled),
            "client_order_id": order.client_order_id,
            "options": options,
            "price": text(order.price),
            "original_amount": text(order.size),
            "remaining_amount": text(order.remaining),
        }
        if order.status == "canceled":
            out["reason"] = reason or ("ImmediateOrCancelWouldPost" if order.tif == "IOC" else "Requested")
        if include_trades:
            out["trades"] = [self.trade_json(t) for t in self.trades_of(order)]
        return out

    def trade_json(self, trade: Trade) -> dict[str, Any]:
        return {
            "price": text(trade.price),
            "amount": text(trade.size),
            "timestamp": trade.ts_ms // 1000,
            "timestampms": trade.ts_ms,
            "type": trade.side.capitalize(),
            "aggressor": True,
            "fee_currency": trade.fee_asset,
            "fee_amount": text(trade.fee),
            "tid": int(trade.trade_id),
            "order_id": trade.order_id,
            "exchange": "gemini",
            "is_auction_fill": False,
            "is_clearing_fill": False,
            "symbol": self.venue_symbol(trade.symbol),
            "client_order_id": trade.client_order_id,
        }

    def public_trade(self, trade: Trade) -> dict[str, Any]:
        return {
            "type": "trade",
            "symbol": self.venue_symbol(trade.symbol),
            "event_id": int(trade.trade_id),
            "timestamp": trade.ts_ms,
            "price": text(trade.price),
            "quantity": text(trade.size),
            "side": trade.side,
        }

    # -- websocket ------------------------------------------------------------------------------------------
    async def on_ws_message(self, publisher: Publisher, message: str) -> None:
        try:
            request = json.loads(message)
        except json.JSONDecodeError:
            return
        if not isinstance(request, dict) or request.get("type") != "subscribe":
            return
        for subscription in request.get("subscriptions") or []:
            if subscription.get("name") != "l2":
                continue
            for venue_symbol in subscription.get("symbols") or []:
                symbol = self.symbol_of(str(venue_symbol))
                if symbol is None or symbol in publisher.symbols:
                    continue
                publisher.symbols.add(symbol)
                for out in self.encode_snapshot(publisher, symbol):
                    self._send(publisher, out)  # queued like every update, so the order on the wire holds

    def send_raw(self, message: str) -> None:
        """Send one message as it is to every subscriber (tests inject what the venue could send)."""

        def send_all() -> None:
            for publisher in list(self.publishers):
                self._send(publisher, message)

        self._call(send_all)

    def _sent(self, publisher: Publisher) -> dict[str, Book]:
        sent: dict[str, Book] = publisher.state.setdefault("sent", {})
        return sent

    def encode_snapshot(self, publisher: Publisher, symbol: str) -> list[str]:
        """The full book on a fresh subscription; afterwards Gemini never resends it, so a replaced book
        reaches an existing subscriber as the changes that turn what it has into the new book."""
        sent = self._sent(publisher)
        if symbol in sent:
            return self._diff(publisher, symbol)
        with self.lock:
            bids, asks = dict(self.bids[symbol]), dict(self.asks[symbol])
            recent = [t for t in self.trades if t.symbol == symbol][-50:][::-1]
        sent[symbol] = (bids, asks)
        changes = [["buy", text(p), text(s)] for p, s in sorted(bids.items(), reverse=True)]
        changes += [["sell", text(p), text(s)] for p, s in sorted(asks.items())]
        message = {
            "type": "l2_updates",
            "symbol": self.venue_symbol(symbol),
            "changes": changes,
            "trades": [self.public_trade(t) for t in recent],
            "auction_events": [],
        }
        return [json.dumps(message)]

    def encode_update(
        self, publisher: Publisher, symbol: str, changes: list[tuple[str, Decimal, Decimal]]
    ) -> list[str]:
        if symbol not in self._sent(publisher):
            return []  # its snapshot has not gone out yet; it will carry these changes
        return self._diff(publisher, symbol)

    def _diff(self, publisher: Publisher, symbol: str) -> list[str]:
        """What changed since the last message this subscriber got, as absolute quantities."""
        sent_bids, sent_asks = self._sent(publisher)[symbol]
        with self.lock:
            bids, asks = dict(self.bids[symbol]), dict(self.asks[symbol])
        changes: list[list[str]] = []
        for side, old, new in (("buy", sent_bids, bids), ("sell", sent_asks, asks)):
            for price in sorted(set(old) | set(new)):
                if old.get(price) != new.get(price):
                    changes.append([side, text(price), text(new.get(price, Decimal(0)))])
        self._sent(publisher)[symbol] = (bids, asks)
        if not changes:
            return []
        return [json.dumps({"type": "l2_updates", "symbol": self.venue_symbol(symbol), "changes": changes})]

    def place(
        self, client_order_id: str, symbol: str, side: str, price: Decimal, size: Decimal, tif: str
    ) -> Order:
        with self.lock:
            before = len(self.trades)
        order = super().place(client_order_id, symbol, side, price, size, tif)
        with self.lock:
            fills = [t for t in self.trades[before:] if t.order_id == order.order_id]
        if fills:
            self._call(lambda: self._publish_trades(symbol, fills))
        return order

    def _publish_trades(self, symbol: str, fills: list[Trade]) -> None:
        if time.time() < self.faults.silent_until:
            return
        for publisher in list(self.publishers):
            if symbol in publisher.symbols:
                for trade in fills:
                    self._send(publisher, json.dumps(self.public_trade(trade)))

    async def _heartbeats(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_s)
            if time.time() < self.faults.silent_until:
                continue
            beat = json.dumps({"type": "heartbeat", "timestamp": now_ms()})
            for publisher in list(self.publishers):
                if publisher.symbols:
                    self._send(publisher, beat)

    async def _serve(self, port: int) -> None:
        await super()._serve(port)
        self._heartbeat = asyncio.ensure_future(self._heartbeats())

    async def _shutdown(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
        await super()._shutdown()
