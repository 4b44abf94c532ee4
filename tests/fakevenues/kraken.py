"""A loopback Kraken: the spot REST API that ccxt's ``kraken`` and cryptofeed call, and the WebSocket v1
public feed.

REST (docs.kraken.com "Spot REST API"; shapes as in ccxt's ``kraken.py`` comments): ``GET
/0/public/AssetPairs`` (``altname``, ``wsname``, ``pair_decimals``, ``lot_decimals``, ``ordermin``,
``costmin``, ``status``) and ``/0/public/Assets``; the private ``POST /0/private/...`` calls ``AddOrder``
(``pair``, ``type``, ``ordertype= limit``, ``volume``, ``price``, ``cl_ord_id``, ``timeinforce`` GTC/IOC;
answers ``descr`` and ``txid``), ``QueryOrders`` (``txid``, ``trades``), ``OpenOrders`` and ``ClosedOrders``
(filter ``cl_ord_id``), ``CancelOrder`` (``txid`` or ``cl_ord_id``), ``QueryTrades``, ``TradesHistory`` and
``BalanceEx``. Private calls must carry ``API-Key`` and a valid ``API-Sign`` (base64 HMAC-SHA512 with the
base64-decoded secret of the path followed by SHA-256 of nonce + POST data) and a ``nonce``. Errors are
``{"error": ["EOrder:..."]}`` (HTTP 200 as the venue answers them; 503 ``EService:Unavailable`` and 429
``EAPI:Rate limit exceeded`` with ``Retry-After`` for injected faults). ``cl_ord_id`` must be a UUID (long or
32-hex short) or at most 18 characters of text, and, like the venue, is refused only while an *open* order
carries it.

Websocket (root path, like ``wss://ws.kraken.com``): ``systemStatus`` first; ``{"event": "subscribe", "pair":
[...], "subscription": {"name": "book", "depth": N}}`` answers ``subscriptionStatus`` with a ``channelID``,
then the snapshot ``[id, {"as": [...], "bs": [...]}, "book-N", "XBT/USD"]`` and updates ``[id, {"a": [...]},
{"b": [...], "c": "crc32"}, "book-N", "XBT/USD"]`` (levels ``[price, volume, timestamp]``, volume ``0``
deletes, prices with ``pair_decimals`` and volumes with 8 decimals as the venue writes them; ``c`` is the
CRC32 of the top 10 levels of each side). ``trade`` subscriptions get ``[id, [[price, volume, time, "b"|"s",
"l", ""]], "trade", pair]``; ``heartbeat`` every ``heartbeat_s``. Kraken v1 has no sequence numbers:
``gap_ws()`` loses the next update (the subscriber's book silently misses it, which the following update's
checksum reveals).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import itertools
import json
import re
import time
import zlib
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from tests.fakevenues.base import API_KEY, FakeVenue, LostAck, Order, Publisher, SymbolInfo, Trade

KRAKEN_SECRET = base64.b64encode(b"fake-kraken-secret-0123456789").decode()
"""Kraken secrets are base64 (ccxt decodes the secret before signing)."""
_LEGACY = {
    "BTC": "XXBT",
    "ETH": "XETH",
    "LTC": "XLTC",
    "XRP": "XXRP",
    "USD": "ZUSD",
    "EUR": "ZEUR",
    "GBP": "ZGBP",
}
_ALT = {"BTC": "XBT", "DOGE": "XDG"}
_CL_ORD_ID = re.compile(
    r"^(?:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|[0-9a-fA-F]{32}|[\x20-\x7e]{1,18})$"
)
_DEPTHS = (10, 25, 100, 500, 1000)
_STATUS = {
    "open": "open",
    "filled": "closed",
    "canceled": "canceled",
    "expired": "expired",
    "rejected": "canceled",
}
Book = tuple[dict[Decimal, Decimal], dict[Decimal, Decimal]]


def asset_id(code: str) -> str:
    return _LEGACY.get(code, code)


def alt(code: str) -> str:
    return _ALT.get(code, code)


def decimals(step: Decimal) -> int:
    return max(0, -int(step.normalize().as_tuple().exponent))


def text(value: Decimal) -> str:
    out = format(value.normalize(), "f")
    return "0" if out in ("-0", "") else out


def kraken_error(*errors: str, status: int = 200) -> web.Response:
    return web.json_response({"error": list(errors)}, status=status)


def ok(result: object) -> web.Response:
    return web.json_response({"error": [], "result": result})


def kraken_id(prefix: str, number: str) -> str:
    """A Kraken-shaped id (``OQCLML-BW3P3-BUCMWZ``) derived from the engine's numeric id."""
    body = base64.b32encode(hashlib.sha256(f"{prefix}{number}".encode()).digest()).decode()
    return f"{prefix}{body[:5]}-{body[5:10]}-{body[10:16]}"


class FakeKraken(FakeVenue):
    name = "kraken"
    ws_path = "/"
    heartbeat_s = 1.0
    partial_ioc_status = "canceled"
    """Status of an IOC whose remainder was cancelled after a partial fill (``closed`` tests the client's
    reading of a venue that reports it so)."""

    def __init__(
        self,
        symbols: Mapping[str, SymbolInfo] | None = None,
        *,
        api_key: str = API_KEY,
        secret: str = KRAKEN_SECRET,
        **kwargs: Any,
    ) -> None:
        super().__init__(symbols, **kwargs)
        self.api_key = api_key
        self.secret = secret
        self.txids: dict[str, str] = {}
        """Engine order id -> Kraken txid (and back in ``by_txid``)."""
        self.by_txid: dict[str, Order] = {}
        self.trade_ids: dict[str, str] = {}
        self.channels = itertools.count(100)
        self._heartbeat: asyncio.Task[None] | None = None

    # -- names -------------------------------------------------------------------------------------------
    def pair_id(self, symbol: str) -> str:
        info = self.symbols[symbol]
        if info.base in _LEGACY and info.quote in _LEGACY:
            return asset_id(info.base) + asset_id(info.quote)
        return alt(info.base) + alt(info.quote)

    def altname(self, symbol: str) -> str:
        info = self.symbols[symbol]
        return alt(info.base) + alt(info.quote)

    def wsname(self, symbol: str) -> str:
        info = self.symbols[symbol]
        return f"{alt(info.base)}/{alt(info.quote)}"

    def symbol_of(self, name: str) -> str | None:
        for symbol in self.symbols:
            if name in (self.pair_id(symbol), self.altname(symbol), self.wsname(symbol)):
                return symbol
        return None

    def price_text(self, symbol: str, price: Decimal) -> str:
        return f"{price:.{decimals(self.symbols[symbol].tick)}f}"

    @staticmethod
    def volume_text(volume: Decimal) -> str:
        return f"{volume:.8f}"

    def client_order_ids(self) -> list[str]:
        return [str(r.get("cl_ord_id")) for r in self.create_requests]

    # -- REST ----------------------------------------------------------------------------------------------
    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/0/public/AssetPairs", self._asset_pairs)
        app.router.add_get("/0/public/Assets", self._assets)
        private = {
            "AddOrder": self._add_order,
            "QueryOrders": self._query_orders,
            "OpenOrders": self._open_orders,
            "ClosedOrders": self._closed_orders,
            "CancelOrder": self._cancel_order,
            "QueryTrades": self._query_trades,
            "TradesHistory": self._trades_history,
            "BalanceEx": self._balance_ex,
        }
        for method, handler in private.items():
            app.router.add_post(f"/0/private/{method}", self._private(handler))

    async def _asset_pairs(self, request: web.Request) -> web.Response:
        result = {}
        for symbol, info in self.symbols.items():
            result[self.pair_id(symbol)] = {
                "altname": self.altname(symbol),
                "wsname": self.wsname(symbol),
                "aclass_base": "currency",
                "base": asset_id(info.base),
                "aclass_quote": "currency",
                "quote": asset_id(info.quote),
                "lot": "unit",
                "cost_decimals": 5,
                "pair_decimals": decimals(info.tick),
                "lot_decimals": decimals(info.lot),
                "lot_multiplier": 1,
                "leverage_buy": [],
                "leverage_sell": [],
                "fees": [[0, float(self.fee_rate * 100)]],
                "fees_maker": [[0, float(self.fee_rate * 100)]],
                "fee_volume_currency": "ZUSD",
                "margin_call": 80,
                "margin_stop": 40,
                "ordermin": text(info.lot),
                "costmin": text(info.min_notional),
                "tick_size": text(info.tick),
                "status": "online",
            }
        return ok(result)

    async def _assets(self, request: web.Request) -> web.Response:
        codes = sorted(
            {c for info in self.symbols.values() for c in (info.base, info.quote)} | set(self.balances)
        )
        return ok(
            {
                asset_id(code): {
                    "aclass": "currency",
                    "altname": alt(code),
                    "decimals": 10 if code not in ("USD", "EUR", "GBP") else 4,
                    "display_decimals": 5 if code not in ("USD", "EUR", "GBP") else 2,
                    "status": "enabled",
                }
                for code in codes
            }
        )

    def _private(self, handler: Any) -> Any:
        async def checked(request: web.Request) -> web.StreamResponse:
            body = await request.text()
            if request.content_type == "application/json":
                params = {
                    k: v if isinstance(v, str) else json.dumps(v) for k, v in json.loads(body or "{}").items()
                }
            else:
                params = dict(parse_qsl(body, keep_blank_values=True))
            key = request.headers.get("API-Key")
            if not key or key != self.api_key:
                return kraken_error("EAPI:Invalid key")
            nonce = params.get("nonce", "")
            if not nonce.isdigit():
                return kraken_error("EAPI:Invalid nonce")
            digest = hashlib.sha256((nonce + body).encode()).digest()
            mac = hmac.new(base64.b64decode(self.secret), request.path.encode() + digest, hashlib.sha512)
            if not hmac.compare_digest(
                base64.b64encode(mac.digest()).decode(), request.headers.get("API-Sign", "")
            ):
                return kraken_error("EAPI:Invalid signature")
            response: web.StreamResponse = await handler(params)
            return response

        return checked

    def take_fault(self) -> web.Response | None:
        with self.lock:
            if self.faults.fail_5xx > 0:
                self.faults.fail_5xx -= 1
                return kraken_error("EService:Unavailable", status=503)
            if self.faults.rate_limit > 0:
                self.faults.rate_limit -= 1
                response = kraken_error("EAPI:Rate limit exceeded", status=429)
                response.headers["Retry-After"] = str(self.faults.retry_after_s)
                return response
        return None

    async def _add_order(self, params: dict[str, str]) -> web.Response:
        fault = self.take_fault()
        if fault is not None:
            return fault
        with self.lock:
            self.create_requests.append(dict(params))
        symbol = self.symbol_of(params.get("pair", ""))
        if symbol is None:
            return kraken_error("EQuery:Unknown asset pair")
        info = self.symbols[symbol]
        side = params.get("type")
        if side not in ("buy", "sell"):
            return kraken_error("EGeneral:Invalid arguments:type")
        if params.get("ordertype") != "limit":
            return kraken_error("EGeneral:Invalid arguments:ordertype")
        tif = params.get("timeinforce", "GTC")
        if tif not in ("GTC", "IOC"):
            return kraken_error("EGeneral:Invalid arguments:timeinforce")
        cid = params.get("cl_ord_id")
        if cid is not None and not _CL_ORD_ID.match(cid):
            return kraken_error("EGeneral:Invalid arguments:cl_ord_id")
        try:
            volume = Decimal(params.get("volume", ""))
            price = Decimal(params.get("price", ""))
        except InvalidOperation:
            return kraken_error("EGeneral:Invalid arguments:volume")
        if not volume.is_finite() or volume <= 0 or volume % info.lot != 0:
            return kraken_error("EGeneral:Invalid arguments:volume")
        if volume < info.lot:
            return kraken_error("EOrder:Order minimum not met")
        if not price.is_finite() or price <= 0 or price % info.tick != 0:
            return kraken_error("EOrder:Invalid price:Invalid price argument")
        if volume * price < info.min_notional:
            return kraken_error("EOrder:Order minimum not met")
        with self.lock:
            if cid is not None and any(
                o.client_order_id == cid and o.status == "open" for o in self.orders.values()
            ):
                return kraken_error("EOrder:Duplicate cl_ord_id")
        if not self._funded(info, side, volume, price):
            return kraken_error("EOrder:Insufficient funds")
        order = self.place(cid or "", symbol, side, price, volume, tif)
        if self.ack_lost():
            raise LostAck()
        limit = self.price_text(symbol, price)
        descr = f"{side} {self.volume_text(volume)} {self.altname(symbol)} @ limit {limit}"
        return ok({"descr": {"order": descr}, "txid": [self.txids[order.order_id]]})

    def _funded(self, info: SymbolInfo, side: str, volume: Decimal, price: Decimal) -> bool:
        with self.lock:
            if side == "buy":
                held = sum(
                    (
                        o.remaining * o.price
                        for o in self.orders.values()
                        if o.status == "open"
                        and o.side == "buy"
                        and self.symbols[o.symbol].quote == info.quote
                    ),
                    Decimal(0),
                )
                return self.balances.get(info.quote, Decimal(0)) - held >= volume * price * (
                    1 + self.fee_rate
                )
            held = sum(
                (
                    o.remaining
                    for o in self.orders.values()
                    if o.status == "open" and o.side == "sell" and self.symbols[o.symbol].base == info.base
                ),
                Decimal(0),
            )
            return self.balances.get(info.base, Decimal(0)) - held >= volume

    def place(
        self, client_order_id: str, symbol: str, side: str, price: Decimal, size: Decimal, tif: str
    ) -> Order:
        with self.lock:
            before = len(self.trades)
            order = super().place(client_order_id, symbol, side, price, size, tif)
            self.txids[order.order_id] = kraken_id("O", order.order_id)
            self.by_txid[self.txids[order.order_id]] = order
            fills = [t for t in self.trades[before:] if t.order_id == order.order_id]
            for trade in fills:
                self.trade_ids[trade.trade_id] = kraken_id("T", trade.trade_id)
        if fills:
            self._call(lambda: self._publish_trades(symbol, fills))
        return order

    def status_of(self, order: Order) -> str:
        if order.status == "canceled" and order.tif == "IOC" and order.filled > 0:
            return self.partial_ioc_status
        return _STATUS[order.status]

    def order_info(self, order: Order, *, trades: bool) -> dict[str, Any]:
        symbol = order.symbol
        closed = order.status != "open"
        info: dict[str, Any] = {
            "refid": None,
            "userref": 0,
            "cl_ord_id": order.client_order_id or None,
            "status": self.status_of(order),
            "reason": "User requested" if order.status == "canceled" and order.tif != "IOC" else None,
            "opentm": order.created_ms / 1000,
            "starttm": 0,
            "expiretm": 0,
            "descr": {
                "pair": self.altname(symbol),
                "type": order.side,
                "ordertype": "limit",
                "price": self.price_text(symbol, order.price),
                "price2": "0",
                "leverage": "none",
                "order": f"{order.side} {self.volume_text(order.size)} {self.altname(symbol)} @ limit "
                f"{self.price_text(symbol, order.price)}",
                "close": "",
            },
            "vol": self.volume_text(order.size),
            "vol_exec": self.volume_text(order.filled),
            "cost": text(order.notional),
            "fee": text(order.fees),
            "price": text(order.average),
            "stopprice": "0.00000",
            "limitprice": "0.00000",
            "misc": "",
            "oflags": "fciq",
            "timeinforce": order.tif,
        }
        if closed:
            info["closetm"] = order.created_ms / 1000
        if trades:
            info["trades"] = [self.trade_ids[t.trade_id] for t in self.trades_of(order)]
        return info

    def trade_info(self, trade: Trade) -> dict[str, Any]:
        return {
            "ordertxid": self.txids[trade.order_id],
            "postxid": kraken_id("T", f"pos{trade.trade_id}"),
            "pair": self.pair_id(trade.symbol),
            "time": trade.ts_ms / 1000,
            "type": trade.side,
            "ordertype": "limit",
            "price": self.price_text(trade.symbol, trade.price),
            "cost": text(trade.price * trade.size),
            "fee": text(trade.fee),
            "vol": self.volume_text(trade.size),
            "margin": "0.00000",
            "misc": "",
            "trade_id": int(trade.trade_id),
            "maker": False,  # the engine only fills incoming orders against the book: always taker
        }

    @staticmethod
    def _flag(params: Mapping[str, str], name: str) -> bool:
        return params.get(name, "").lower() in ("true", "1")

    async def _query_orders(self, params: dict[str, str]) -> web.Response:
        if not params.get("txid"):
            return kraken_error("EGeneral:Invalid arguments:txid")
        trades = self._flag(params, "trades")
        with self.lock:
            result = {}
            for txid in (t.strip() for t in params["txid"].split(",")):
                order = self.by_txid.get(txid)
                if order is None:
                    continue
                if "cl_ord_id" in params and order.client_order_id != params["cl_ord_id"]:
                    continue
                result[txid] = self.order_info(order, trades=trades)
        return ok(result)

    def _orders(self, params: Mapping[str, str], *, open_: bool) -> dict[str, Any]:
        trades = self._flag(params, "trades")
        cid = params.get("cl_ord_id")
        with self.lock:
            chosen = [
                o
                for o in self.orders.values()
                if (o.status == "open") == open_ and (cid is None or o.client_order_id == cid)
            ]
            chosen.sort(key=lambda o: (o.created_ms, int(o.order_id)), reverse=True)
            return {self.txids[o.order_id]: self.order_info(o, trades=trades) for o in chosen[:50]}

    async def _open_orders(self, params: dict[str, str]) -> web.Response:
        return ok({"open": self._orders(params, open_=True)})

    async def _closed_orders(self, params: dict[str, str]) -> web.Response:
        closed = self._orders(params, open_=False)
        return ok({"closed": closed, "count": len(closed)})

    async def _cancel_order(self, params: dict[str, str]) -> web.Response:
        with self.lock:
            if "cl_ord_id" in params:
                order = next(
                    (
                        o
                        for o in self.orders.values()
                        if o.client_order_id == params["cl_ord_id"] and o.status == "open"
                    ),
                    None,
                )
            else:
                order = self.by_txid.get(params.get("txid", ""))
            if order is None or order.status != "open":
                return kraken_error("EOrder:Unknown order")
        self.cancel(order)
        return ok({"count": 1})

    async def _query_trades(self, params: dict[str, str]) -> web.Response:
        wanted = {t.strip() for t in params.get("txid", "").split(",") if t.strip()}
        if not wanted:
            return kraken_error("EGeneral:Invalid arguments:txid")
        with self.lock:
            result = {
                self.trade_ids[t.trade_id]: self.trade_info(t)
                for t in self.trades
                if self.trade_ids[t.trade_id] in wanted
            }
        return ok(result)

    async def _trades_history(self, params: dict[str, str]) -> web.Response:
        with self.lock:
            rows = {self.trade_ids[t.trade_id]: self.trade_info(t) for t in self.trades[::-1][:50]}
            count = len(self.trades)
        return ok({"trades": rows, "count": count})

    async def _balance_ex(self, params: dict[str, str]) -> web.Response:
        with self.lock:
            return ok(
                {
                    asset_id(code): {"balance": f"{amount:.10f}", "hold_trade": "0.0000000000"}
                    for code, amount in sorted(self.balances.items())
                }
            )

    # -- websocket ------------------------------------------------------------------------------------------
    def _send_json(self, publisher: Publisher, message: object) -> None:
        self._send(publisher, json.dumps(message))

    async def on_ws_message(self, publisher: Publisher, message: str) -> None:
        if not publisher.state.get("greeted"):
            publisher.state["greeted"] = True
            self._send_json(
                publisher,
                {"connectionID": 1, "event": "systemStatus", "status": "online", "version": "1.9.1"},
            )
        try:
            request = json.loads(message)
        except json.JSONDecodeError:
            self._send_json(publisher, {"errorMessage": "Malformed request", "event": "error"})
            return
        if not isinstance(request, dict):
            return
        if request.get("event") == "ping":
            self._send_json(publisher, {"event": "pong", "reqid": request.get("reqid")})
            return
        if request.get("event") != "subscribe":
            return
        subscription = dict(request.get("subscription") or {})
        name = subscription.get("name")
        for pair in request.get("pair") or []:
            symbol = self.symbol_of(str(pair))
            status: dict[str, Any] = {
                "event": "subscriptionStatus",
                "pair": pair,
                "subscription": subscription,
            }
            if symbol is None:
                self._send_json(
                    publisher,
                    {**status, "status": "error", "errorMessage": f"Currency pair not supported {pair}"},
                )
                continue
            if name == "book":
                depth = int(subscription.get("depth", 10))
                if depth not in _DEPTHS:
                    self._send_json(
                        publisher,
                        {**status, "status": "error", "errorMessage": "Subscription depth not supported"},
                    )
                    continue
                channel = next(self.channels)
                publisher.state.setdefault("books", {})[symbol] = (channel, depth)
                self._send_json(
                    publisher,
                    {**status, "channelID": channel, "channelName": f"book-{depth}", "status": "subscribed"},
                )
                publisher.symbols.add(symbol)
                for out in self.encode_snapshot(publisher, symbol):
                    self._send(publisher, out)
            elif name == "trade":
                channel = next(self.channels)
                publisher.state.setdefault("trades", {})[symbol] = channel
                self._send_json(
                    publisher,
                    {**status, "channelID": channel, "channelName": "trade", "status": "subscribed"},
                )
            else:
                self._send_json(
                    publisher, {**status, "status": "error", "errorMessage": "Subscription name invalid"}
                )

    def send_raw(self, message: str) -> None:
        """Send one message as it is to every subscriber (tests inject what the venue could send)."""

        def send_all() -> None:
            for publisher in list(self.publishers):
                self._send(publisher, message)

        self._call(send_all)

    def _sent(self, publisher: Publisher) -> dict[str, Book]:
        sent: dict[str, Book] = publisher.state.setdefault("sent", {})
        return sent

    def _level(self, symbol: str, price: Decimal, volume: Decimal) -> list[str]:
        return [self.price_text(symbol, price), self.volume_text(volume), f"{time.time():.6f}"]

    def checksum(self, symbol: str, bids: Mapping[Decimal, Decimal], asks: Mapping[Decimal, Decimal]) -> int:
        """CRC32 of the top 10 asks (ascending) then bids (descending), '.' and leading zeros removed."""

        def part(price: Decimal, volume: Decimal) -> str:
            return self.price_text(symbol, price).replace(".", "").lstrip("0") + self.volume_text(
                volume
            ).replace(".", "").lstrip("0")

        top_asks = "".join(part(p, v) for p, v in sorted(asks.items())[:10])
        top_bids = "".join(part(p, v) for p, v in sorted(bids.items(), reverse=True)[:10])
        return zlib.crc32((top_asks + top_bids).encode()) & 0xFFFFFFFF

    def encode_snapshot(self, publisher: Publisher, symbol: str) -> list[str]:
        """The book on subscription; an existing subscriber gets a replaced book as updates (v1 never
        resends a snapshot on a live subscription)."""
        if symbol in self._sent(publisher):
            return self._diff(publisher, symbol)
        channel, depth = publisher.state["books"][symbol]
        with self.lock:
            bids, asks = dict(self.bids[symbol]), dict(self.asks[symbol])
        self._sent(publisher)[symbol] = (bids, asks)
        body = {
            "as": [self._level(symbol, p, v) for p, v in sorted(asks.items())[:depth]],
            "bs": [self._level(symbol, p, v) for p, v in sorted(bids.items(), reverse=True)[:depth]],
        }
        return [json.dumps([channel, body, f"book-{depth}", self.wsname(symbol)])]

    def encode_update(
        self, publisher: Publisher, symbol: str, changes: list[tuple[str, Decimal, Decimal]]
    ) -> list[str]:
        if symbol not in self._sent(publisher):
            return []
        if self.faults.gap_next:  # lost on the way: the subscriber never sees these changes
            bids, asks = self._sent(publisher)[symbol]
            for side, price, size in changes:
                levels = bids if side == "buy" else asks
                if size > 0:
                    levels[price] = size
                else:
                    levels.pop(price, None)
            return []
        return self._diff(publisher, symbol)

    def _diff(self, publisher: Publisher, symbol: str) -> list[str]:
        channel, depth = publisher.state["books"][symbol]
        sent_bids, sent_asks = self._sent(publisher)[symbol]
        with self.lock:
            bids, asks = dict(self.bids[symbol]), dict(self.asks[symbol])
        self._sent(publisher)[symbol] = (bids, asks)
        parts: list[dict[str, Any]] = []
        for key, old, new in (("a", sent_asks, asks), ("b", sent_bids, bids)):
            levels = [
                self._level(symbol, p, new.get(p, Decimal(0)))
                for p in sorted(set(old) | set(new))
                if old.get(p) != new.get(p)
            ]
            if levels:
                parts.append({key: levels})
        if not parts:
            return []
        parts[-1]["c"] = str(self.checksum(symbol, bids, asks))
        return [json.dumps([channel, *parts, f"book-{depth}", self.wsname(symbol)])]

    def _publish_trades(self, symbol: str, fills: list[Trade]) -> None:
        if time.time() < self.faults.silent_until:
            return
        for publisher in list(self.publishers):
            channel = publisher.state.get("trades", {}).get(symbol)
            if channel is None:
                continue
            rows = [
                [
                    self.price_text(symbol, t.price),
                    self.volume_text(t.size),
                    f"{t.ts_ms / 1000:.6f}",
                    "b" if t.side == "buy" else "s",
                    "l",
                    "",
                ]
                for t in fills
            ]
            self._send_json(publisher, [channel, rows, "trade", self.wsname(symbol)])

    async def _heartbeats(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_s)
            if time.time() < self.faults.silent_until:
                continue
            for publisher in list(self.publishers):
                if publisher.state.get("greeted"):
                    self._send_json(publisher, {"event": "heartbeat"})

    async def _serve(self, port: int) -> None:
        await super()._serve(port)
        self._heartbeat = asyncio.ensure_future(self._heartbeats())

    async def _shutdown(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
        await super()._shutdown()
