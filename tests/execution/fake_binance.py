"""A local fake Binance spot REST venue (127.0.0.1, ephemeral port) for ccxt-driven tests.

Speaks what ccxt's binance class calls for trading: exchangeInfo, time, depth, order (POST/GET/DELETE),
openOrders, myTrades, account. Private requests must carry the API key header and a valid HMAC-SHA256
signature. IOC limit orders walk the configured book (taking liquidity), GTC orders rest. Every order request
that reaches the venue is logged, so tests can prove no client order id was ever sent twice. ``hang_on_order``
makes the Nth order request block *after* the venue accepted and matched it, before answering: the client
can be killed with its order live at the venue but unacknowledged.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

API_KEY = "fake-key"
SECRET = "fake-secret"


@dataclass
class FakeOrder:
    order_id: int
    symbol: str
    client_order_id: str
    side: str
    price: Decimal
    qty: Decimal
    tif: str
    executed: Decimal = Decimal(0)
    quote_qty: Decimal = Decimal(0)
    status: str = "NEW"
    time: int = 0


@dataclass
class FakeTrade:
    trade_id: int
    order_id: int
    symbol: str
    price: Decimal
    qty: Decimal
    commission: Decimal
    commission_asset: str
    is_buyer: bool
    time: int


@dataclass
class FakeBinanceState:
    symbols: dict[str, tuple[str, str]] = field(default_factory=dict)  # SOLUSDT -> (SOL, USDT)
    books: dict[str, dict[str, list[list[Decimal]]]] = field(default_factory=dict)
    orders: list[FakeOrder] = field(default_factory=list)
    trades: list[FakeTrade] = field(default_factory=list)
    order_requests: list[dict[str, str]] = field(default_factory=list)  # every POST /order that arrived
    calls: list[str] = field(default_factory=list)
    fee_rate: Decimal = Decimal("0.001")
    max_order_notional: Decimal = Decimal(10**9)  # larger orders fail for "insufficient balance"
    drain_before_order: bool = False  # empty the book just before matching (someone else was faster)
    hang_on_order: int | None = None  # 1-based index of the order request to hang after matching
    released: threading.Event = field(default_factory=threading.Event)
    hung: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1000))


class FakeBinance:
    """Run with ``with FakeBinance() as venue:``; ``venue.url`` is the base URL to point ccxt at."""

    def __init__(self) -> None:
        self.state = FakeBinanceState()
        state = self.state

        class Handler(_Handler):
            venue_state = state

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def add_symbol(
        self, symbol: str, base: str, quote: str, bids: list[tuple[str, str]], asks: list[tuple[str, str]]
    ) -> None:
        with self.state.lock:
            self.state.symbols[symbol] = (base, quote)
            self.state.books[symbol] = {
                "bids": [[Decimal(p), Decimal(q)] for p, q in bids],
                "asks": [[Decimal(p), Decimal(q)] for p, q in asks],
            }

    def client_order_ids(self) -> list[str]:
        with self.state.lock:
            return [r.get("newClientOrderId", "") for r in self.state.order_requests]

    def __enter__(self) -> FakeBinance:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.state.released.set()
        self._server.shutdown()
        self._server.server_close()


def _sign(payload: str) -> str:
    return hmac.new(SECRET.encode(), payload.encode(), hashlib.sha256).hexdigest()


class _Handler(BaseHTTPRequestHandler):
    venue_state: FakeBinanceState

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        parts = urlsplit(self.path)
        query = parts.query
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        raw = body if method == "POST" and body else query
        params = dict(parse_qsl(raw, keep_blank_values=True))
        state = self.venue_state
        state.calls.append(f"{method} {parts.path}")
        route = {
            ("GET", "/api/v3/exchangeInfo"): self._exchange_info,
            ("GET", "/api/v3/time"): lambda p: (200, {"serverTime": _now()}),
            ("GET", "/api/v3/ping"): lambda p: (200, {}),
            ("GET", "/api/v3/depth"): self._depth,
            ("POST", "/api/v3/order"): self._new_order,
            ("GET", "/api/v3/order"): self._query_order,
            ("DELETE", "/api/v3/order"): self._cancel_order,
            ("GET", "/api/v3/openOrders"): self._open_orders,
            ("GET", "/api/v3/myTrades"): self._my_trades,
            ("GET", "/api/v3/account"): self._account,
        }.get((method, parts.path))
        if route is None:
            self._reply(404, {"code": -1000, "msg": f"fake venue has no {method} {parts.path}"})
            return
        if parts.path in ("/api/v3/order", "/api/v3/openOrders", "/api/v3/myTrades", "/api/v3/account"):
            error = self._authenticate(raw)
            if error:
                self._reply(401, {"code": -1022, "msg": error})
                return
        status, payload = route(params)
        self._reply(status, payload)

    def _authenticate(self, raw: str) -> str:
        if self.headers.get("X-MBX-APIKEY") != API_KEY:
            return "API-key format invalid."
        unsigned, sep, signature = raw.rpartition("&signature=")
        if not sep or not hmac.compare_digest(_sign(unsigned), signature):
            return "Signature for this request is not valid."
        return ""

    def _reply(self, status: int, payload: object) -> None:
        data = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client was killed while we hung

    # -- public --------------------------------------------------------------------------------------
    def _exchange_info(self, params: dict[str, str]) -> tuple[int, object]:
        state = self.venue_state
        symbols = []
        for symbol, (base, quote) in sorted(state.symbols.items()):
            symbols.append(
                {
                    "symbol": symbol,
                    "status": "TRADING",
                    "baseAsset": base,
                    "baseAssetPrecision": 8,
                    "quoteAsset": quote,
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
                            "minPrice": "0.01",
                            "maxPrice": "1000000",
                            "tickSize": "0.01",
                        },
                        {
                            "filterType": "LOT_SIZE",
                            "minQty": "0.001",
                            "maxQty": "100000",
                            "stepSize": "0.001",
                        },
                        {
                            "filterType": "NOTIONAL",
                            "minNotional": "1",
                            "applyMinToMarket": True,
                            "maxNotional": "9000000",
                            "applyMaxToMarket": False,
                            "avgPriceMins": 5,
                        },
                    ],
                    "permissions": ["SPOT"],
                    "permissionSets": [["SPOT"]],
                    "defaultSelfTradePreventionMode": "NONE",
                    "allowedSelfTradePreventionModes": ["NONE"],
                }
            )
        return 200, {
            "timezone": "UTC",
            "serverTime": _now(),
            "rateLimits": [],
            "exchangeFilters": [],
            "symbols": symbols,
        }

    def _depth(self, params: dict[str, str]) -> tuple[int, object]:
        state = self.venue_state
        with state.lock:
            book = state.books.get(params.get("symbol", ""))
            if book is None:
                return 400, {"code": -1121, "msg": "Invalid symbol."}
            return 200, {
                "lastUpdateId": 1,
                "bids": [[str(p), str(q)] for p, q in book["bids"]],
                "asks": [[str(p), str(q)] for p, q in book["asks"]],
            }

    # -- private -------------------------------------------------------------------------------------
    def _find(self, params: dict[str, str]) -> FakeOrder | None:
        state = self.venue_state
        symbol = params.get("symbol")
        cid = params.get("origClientOrderId")
        oid = params.get("orderId")
        for order in state.orders:
            if order.symbol != symbol:
                continue
            if (cid and order.client_order_id == cid) or (oid and str(order.order_id) == oid):
                return order
        return None

    def _new_order(self, params: dict[str, str]) -> tuple[int, object]:
        state = self.venue_state
        with state.lock:
            state.order_requests.append(dict(params))
            index = len(state.order_requests)
            symbol = params.get("symbol", "")
            if symbol not in state.symbols:
                return 400, {"code": -1121, "msg": "Invalid symbol."}
            cid = params.get("newClientOrderId") or f"auto{next(state.ids)}"
            if Decimal(params["price"]) * Decimal(params["quantity"]) > state.max_order_notional:
                return 400, {"code": -2010, "msg": "Account has insufficient balance for requested action."}
            if any(
                o.client_order_id == cid and o.status in ("NEW", "PARTIALLY_FILLED") for o in state.orders
            ):
                return 400, {"code": -2010, "msg": "Duplicate order sent."}
            order = FakeOrder(
                order_id=next(state.ids),
                symbol=symbol,
                client_order_id=cid,
                side=params["side"],
                price=Decimal(params["price"]),
                qty=Decimal(params["quantity"]),
                tif=params.get("timeInForce", "GTC"),
                time=_now(),
            )
            state.orders.append(order)
            if state.drain_before_order:
                state.books[symbol] = {"bids": [], "asks": []}
            fills = self._match(order)
            response = _order_json(order) | {
                "transactTime": order.time,
                "fills": [
                    {
                        "price": str(t.price),
                        "qty": str(t.qty),
                        "commission": str(t.commission),
                        "commissionAsset": t.commission_asset,
                        "tradeId": t.trade_id,
                    }
                    for t in fills
                ],
            }
        if state.hang_on_order == index:
            state.hung.set()
            state.released.wait(30)
        return 200, response

    def _match(self, order: FakeOrder) -> list[FakeTrade]:
        state = self.venue_state
        _base, quote = state.symbols[order.symbol]
        book = state.books[order.symbol]
        levels = book["asks"] if order.side == "BUY" else book["bids"]
        trades = []
        remaining = order.qty
        for level in levels:
            price, available = level
            better = price <= order.price if order.side == "BUY" else price >= order.price
            if remaining <= 0 or not better:
                break
            take = min(available, remaining)
            level[1] -= take
            remaining -= take
            trade = FakeTrade(
                next(state.ids),
                order.order_id,
                order.symbol,
                price,
                take,
                price * take * state.fee_rate,
                quote,
                order.side == "BUY",
                _now(),
            )
            trades.append(trade)
            state.trades.append(trade)
            order.executed += take
            order.quote_qty += price * take
        book["asks" if order.side == "BUY" else "bids"] = [lv for lv in levels if lv[1] > 0]
        if order.executed == order.qty:
            order.status = "FILLED"
        elif order.tif in ("IOC", "FOK"):
            order.status = "EXPIRED"
        else:
            order.status = "PARTIALLY_FILLED" if order.executed > 0 else "NEW"
        return trades

    def _query_order(self, params: dict[str, str]) -> tuple[int, object]:
        with self.venue_state.lock:
            order = self._find(params)
            if order is None:
                return 400, {"code": -2013, "msg": "Order does not exist."}
            return 200, _order_json(order)

    def _cancel_order(self, params: dict[str, str]) -> tuple[int, object]:
        with self.venue_state.lock:
            order = self._find(params)
            if order is None or order.status not in ("NEW", "PARTIALLY_FILLED"):
                return 400, {"code": -2011, "msg": "Unknown order sent."}
            order.status = "CANCELED"
            return 200, _order_json(order)

    def _open_orders(self, params: dict[str, str]) -> tuple[int, object]:
        with self.venue_state.lock:
            return 200, [
                _order_json(o)
                for o in self.venue_state.orders
                if o.status in ("NEW", "PARTIALLY_FILLED") and o.symbol == params.get("symbol", o.symbol)
            ]

    def _my_trades(self, params: dict[str, str]) -> tuple[int, object]:
        with self.venue_state.lock:
            out = []
            for t in self.venue_state.trades:
                if t.symbol != params.get("symbol") or (
                    "orderId" in params and str(t.order_id) != params["orderId"]
                ):
                    continue
                out.append(
                    {
                        "symbol": t.symbol,
                        "id": t.trade_id,
                        "orderId": t.order_id,
                        "orderListId": -1,
                        "price": str(t.price),
                        "qty": str(t.qty),
                        "quoteQty": str(t.price * t.qty),
                        "commission": str(t.commission),
                        "commissionAsset": t.commission_asset,
                        "time": t.time,
                        "isBuyer": t.is_buyer,
                        "isMaker": False,
                        "isBestMatch": True,
                    }
                )
            return 200, out

    def _account(self, params: dict[str, str]) -> tuple[int, object]:
        return 200, {
            "makerCommission": 10,
            "takerCommission": 10,
            "canTrade": True,
            "accountType": "SPOT",
            "balances": [{"asset": "USDT", "free": "100000", "locked": "0"}],
            "permissions": ["SPOT"],
        }


def _order_json(order: FakeOrder) -> dict[str, object]:
    return {
        "symbol": order.symbol,
        "orderId": order.order_id,
        "orderListId": -1,
        "clientOrderId": order.client_order_id,
        "price": str(order.price),
        "origQty": str(order.qty),
        "executedQty": str(order.executed),
        "cummulativeQuoteQty": str(order.quote_qty),
        "status": order.status,
        "timeInForce": order.tif,
        "type": "LIMIT",
        "side": order.side,
        "time": order.time,
        "updateTime": order.time,
        "workingTime": order.time,
        "isWorking": True,
        "selfTradePreventionMode": "NONE",
    }


def _now() -> int:
    return time.time_ns() // 1_000_000
