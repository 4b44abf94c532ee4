"""A loopback Coinbase Advanced Trade: the brokerage REST API ccxt's ``coinbase`` module calls, and the
market data websocket (``level2``/``l2_data``, ``market_trades``, ``heartbeats``) as the Advanced Trade docs
describe.

REST (``/api/v3/brokerage``): ``market/products`` (public; ``product_type=FUTURE`` answers no products),
``products``, ``transaction_summary`` (fee tier), ``accounts`` (``available_balance`` + ``hold``), ``orders``
(create: ``client_order_id`` + one ``order_configuration``), ``orders/historical/{order_id}``,
``orders/historical/batch`` (List Orders: ``order_ids``, ``product_id(s)``, ``order_status``, ``limit``,
``cursor``/``has_next``), ``orders/historical/fills``, ``orders/batch_cancel``, ``market/product_book``,
``time``. Refusals have the venue's shapes: ``success: false`` + ``error_response`` (insufficient funds, bad
precision, below minimum), ``{"error", "message", "error_details"}`` for 400/401/404, 429 with
``Retry-After``.
A repeated ``client_order_id`` creates nothing: the answer names the order that already has it.

Private calls must carry what ccxt signs with: a CDP key's ES256 JWT (``Authorization: Bearer``; signature,
``kid``/``sub``, expiry and ``uri`` are checked against the key the fake issued) or a legacy key's HMAC
``CB-ACCESS-KEY``/``CB-ACCESS-SIGN``/``CB-ACCESS-TIMESTAMP`` (checked against ``legacy_secret``).

Websocket (root path, like ``wss://advanced-trade-ws.coinbase.com``): one ``sequence_num`` per connection
across all channels, starting at 0; ``gap_ws()`` skips one. Asks are spelled ``ask_side`` (``"offer"`` as the
live venue sends them).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import itertools
import json
import time
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

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

PREFIX = "/api/v3/brokerage"
USER_ID = "11111111-2222-3333-4444-555555555555"
_TIF = {"IOC": "IMMEDIATE_OR_CANCEL", "GTC": "GOOD_UNTIL_CANCELLED", "FOK": "FILL_OR_KILL"}
_STATUS = {
    "open": "OPEN",
    "filled": "FILLED",
    "canceled": "CANCELLED",
    "expired": "EXPIRED",
    "rejected": "FAILED",
}
_CONFIGS = {"sor_limit_ioc": "IOC", "limit_limit_gtc": "GTC", "limit_limit_fok": "FOK"}


def iso(ms: int | None = None) -> str:
    stamp = datetime.fromtimestamp((now_ms() if ms is None else ms) / 1000, tz=UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def error(status: int, code: str, message: str) -> web.Response:
    """The brokerage API's error body (``error`` is what ccxt matches)."""
    return web.json_response({"error": code, "error_details": message, "message": message}, status=status)


class FakeCoinbase(FakeVenue):
    name = "coinbase"
    ws_path = "/"

    def __init__(
        self,
        symbols: Mapping[str, SymbolInfo] | None = None,
        *,
        ask_side: str = "offer",
        heartbeat_s: float | None = 1.0,
        legacy_key: str = API_KEY,
        legacy_secret: str = SECRET,
        **kwargs: Any,
    ) -> None:
        super().__init__(symbols, **kwargs)
        self.ask_side = ask_side
        self.heartbeat_s = heartbeat_s
        self.private_key = ec.generate_private_key(ec.SECP256R1())
        self.key_name = "organizations/fake-org/apiKeys/fake-key-1"
        self.legacy_key = legacy_key
        self.legacy_secret = legacy_secret
        self.auth_seen: list[str] = []
        """How each private request was signed: ``"jwt"`` or ``"hmac"``."""
        self.order_configs: dict[str, dict[str, Any]] = {}
        self.subscribe_messages: list[dict[str, Any]] = []
        self.hide_new_orders = 0
        """Get Order answers 404 for the next N reads (an order not yet visible right after it was made)."""
        self._beats: set[asyncio.Task[None]] = set()

    # -- credentials ccxt signs with ----------------------------------------------------------------
    @property
    def api_key(self) -> str:
        """A CDP key name (``organizations/{org}/apiKeys/{id}``)."""
        return self.key_name

    @property
    def secret(self) -> str:
        """The CDP key's EC P-256 private key in PEM (SEC1, as the CDP portal hands it out)."""
        return self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        ).decode()

    def credentials(self) -> dict[str, str]:
        return {"apiKey": self.api_key, "secret": self.secret}

    def _authorized(self, request: web.Request, body: str) -> str | None:
        """``None`` when the request is signed by a key of ours, else why not."""
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            problem = self._check_jwt(header[len("Bearer ") :], request)
            if problem is None:
                self.auth_seen.append("jwt")
            return problem
        key = request.headers.get("CB-ACCESS-KEY")
        if key is None:
            return "missing Authorization (Bearer JWT) or CB-ACCESS-KEY header"
        if key != self.legacy_key:
            return "unknown API key"
        stamp = request.headers.get("CB-ACCESS-TIMESTAMP", "")
        payload = f"{stamp}{request.method}{request.path}{body}"
        want = hmac.new(self.legacy_secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(want, request.headers.get("CB-ACCESS-SIGN", "")):
            return "invalid signature"
        self.auth_seen.append("hmac")
        return None

    def _check_jwt(self, token: str, request: web.Request) -> str | None:
        try:
            head_text, claims_text, signature_text = token.split(".")
            head = json.loads(_b64url(head_text))
            claims = json.loads(_b64url(claims_text))
            raw = _b64url(signature_text)
        except ValueError:
            return "malformed JWT"
        if (
            head.get("alg") != "ES256"
            or head.get("kid") != self.key_name
            or claims.get("sub") != self.key_name
        ):
            return "JWT is not signed by this API key"
        if len(raw) != 64:
            return "ES256 signature must be 64 bytes"
        signature = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
        try:
            self.private_key.public_key().verify(
                signature, f"{head_text}.{claims_text}".encode(), ec.ECDSA(hashes.SHA256())
            )
        except InvalidSignature:
            return "invalid JWT signature"
        now = time.time()
        if not (float(claims.get("nbf", 0)) - 5 <= now <= float(claims.get("exp", 0))):
            return "JWT expired"
        method, _, url = str(claims.get("uri", "")).partition(" ")
        path = urlsplit(url if "://" in url else f"//{url}").path
        if method != request.method or path != request.path:
            return f"JWT uri {claims.get('uri')!r} does not match {request.method} {request.path}"
        return None

    # -- REST ------------------------------------------------------------------------------------------
    def add_routes(self, app: web.Application) -> None:
        get, post = app.router.add_get, app.router.add_post
        get(f"{PREFIX}/time", self._time)
        get(f"{PREFIX}/market/products", self._products)
        get(f"{PREFIX}/market/product_book", self._product_book)
        get(f"{PREFIX}/products", self._private(self._products))
        get(f"{PREFIX}/product_book", self._private(self._product_book))
        get(f"{PREFIX}/transaction_summary", self._private(self._transaction_summary))
        get(f"{PREFIX}/accounts", self._private(self._accounts))
        post(f"{PREFIX}/orders", self._private(self._create))
        post(f"{PREFIX}/orders/batch_cancel", self._private(self._batch_cancel))
        get(f"{PREFIX}/orders/historical/batch", self._private(self._list_orders))
        get(f"{PREFIX}/orders/historical/fills", self._private(self._fills))
        get(f"{PREFIX}/orders/historical/{{order_id}}", self._private(self._get_order))

    def _private(self, handler: Any) -> Any:
        async def guarded(request: web.Request) -> web.StreamResponse:
            body = await request.text()
            problem = self._authorized(request, body)
            if problem is not None:
                return error(401, "unauthorized", problem)
            response: web.StreamResponse = await handler(request)
            return response

        return guarded

    async def _time(self, request: web.Request) -> web.Response:
        ms = now_ms()
        return web.json_response({"iso": iso(ms), "epochSeconds": str(ms // 1000), "epochMillis": str(ms)})

    def _product(self, info: SymbolInfo) -> dict[str, Any]:
        bids, asks = self.book(info.name)
        mid = (bids[0][0] + asks[0][0]) / 2 if bids and asks else Decimal(0)
        return {
            "product_id": info.name,
            "price": str(mid),
            "price_percentage_change_24h": "0",
            "volume_24h": "0",
            "volume_percentage_change_24h": "0",
            "base_increment": str(info.lot),
            "quote_increment": str(info.tick),
            "quote_min_size": str(info.min_notional),
            "quote_max_size": "10000000",
            "base_min_size": str(info.lot),
            "base_max_size": "10000",
            "base_name": info.base,
            "quote_name": info.quote,
            "watched": False,
            "is_disabled": False,
            "new": False,
            "status": "online",
            "cancel_only": False,
            "limit_only": False,
            "post_only": False,
            "trading_disabled": False,
            "auction_mode": False,
            "product_type": "SPOT",
            "quote_currency_id": info.quote,
            "base_currency_id": info.base,
            "fcm_trading_session_details": None,
            "mid_market_price": "",
            "alias": "",
            "alias_to": [],
            "base_display_symbol": info.base,
            "quote_display_symbol": info.quote,
            "view_only": False,
            "price_increment": str(info.tick),
            "display_name": info.name,
            "product_venue": "CBE",
        }

    async def _products(self, request: web.Request) -> web.Response:
        kind = request.query.get("product_type", "SPOT").upper()
        products = [self._product(info) for info in self.symbols.values()] if kind == "SPOT" else []
        return web.json_response({"products": products, "num_products": len(products)})

    async def _product_book(self, request: web.Request) -> web.Response:
        product = request.query.get("product_id", "")
        if product not in self.symbols:
            return error(404, "NOT_FOUND", f"product {product!r} not found")
        limit = int(request.query.get("limit", "50") or 50)
        bids, asks = self.book(product)
        return web.json_response(
            {
                "pricebook": {
                    "product_id": product,
                    "bids": [{"price": str(p), "size": str(q)} for p, q in bids[:limit]],
                    "asks": [{"price": str(p), "size": str(q)} for p, q in asks[:limit]],
                    "time": iso(),
                }
            }
        )

    async def _transaction_summary(self, request: web.Request) -> web.Response:
        rate = str(self.fee_rate)
        return web.json_response(
            {
                "total_volume": 0,
                "total_fees": 0,
                "fee_tier": {
                    "pricing_tier": "Advanced 1",
                    "usd_from": "0",
                    "usd_to": "10000",
                    "taker_fee_rate": rate,
                    "maker_fee_rate": rate,
                },
                "margin_rate": None,
                "goods_and_services_tax": None,
            }
        )

    def _holds(self) -> dict[str, Decimal]:
        holds: dict[str, Decimal] = {}
        for order in self.orders.values():
            if order.status != "open":
                continue
            info = self.symbols[order.symbol]
            if order.side == "buy":
                holds[info.quote] = holds.get(info.quote, Decimal(0)) + order.remaining * order.price
            else:
                holds[info.base] = holds.get(info.base, Decimal(0)) + order.remaining
        return holds

    async def _accounts(self, request: web.Request) -> web.Response:
        with self.lock:
            holds = self._holds()
            accounts = [
                {
                    "uuid": f"acct-{asset.lower()}",
                    "name": f"{asset} Wallet",
                    "currency": asset,
                    "available_balance": {
                        "value": str(amount - holds.get(asset, Decimal(0))),
                        "currency": asset,
                    },
                    "default": True,
                    "active": True,
                    "created_at": iso(0),
                    "updated_at": iso(),
                    "deleted_at": None,
                    "type": "ACCOUNT_TYPE_FIAT" if asset in ("USD", "EUR", "GBP") else "ACCOUNT_TYPE_CRYPTO",
                    "ready": True,
                    "hold": {"value": str(holds.get(asset, Decimal(0))), "currency": asset},
                }
                for asset, amount in sorted(self.balances.items())
            ]
        return web.json_response(
            {"accounts": accounts, "has_next": False, "cursor": "", "size": len(accounts)}
        )

    # -- orders ----------------------------------------------------------------------------------------
    @staticmethod
    def _failure(code: str, message: str, preview: str, config: object) -> web.Response:
        """``success: false``: how the create endpoint refuses an order it understood."""
        return web.json_response(
            {
                "success": False,
                "failure_reason": "UNKNOWN_FAILURE_REASON",
                "order_id": "",
                "error_response": {
                    "error": code,
                    "message": message,
                    "error_details": "",
                    "preview_failure_reason": preview,
                    "new_order_failure_reason": code,
                },
                "order_configuration": config,
            }
        )

    @staticmethod
    def _accepted(order: Order, config: object) -> web.Response:
        return web.json_response(
            {
                "success": True,
                "failure_reason": "UNKNOWN_FAILURE_REASON",
                "order_id": order.order_id,
                "success_response": {
                    "order_id": order.order_id,
                    "product_id": order.symbol,
                    "side": order.side.upper(),
                    "client_order_id": order.client_order_id,
                },
                "order_configuration": config,
            }
        )

    async def _create(self, request: web.Request) -> web.Response:
        fault = self.take_fault()
        if fault is not None:
            if fault.status == 429:
                return web.json_response(
                    {
                        "error": "rate_limit_exceeded",
                        "error_details": "Too many requests",
                        "message": "Too many requests",
                    },
                    status=429,
                    headers={"Retry-After": str(self.faults.retry_after_s)},
                )
            return fault
        try:
            body = json.loads(await request.text())
        except json.JSONDecodeError:
            return error(400, "INVALID_ARGUMENT", "request body must be JSON")
        with self.lock:
            self.create_requests.append(body)
        cid = str(body.get("client_order_id") or "")
        product = str(body.get("product_id") or "")
        side = str(body.get("side") or "").lower()
        config = body.get("order_configuration") or {}
        if not cid or len(cid) > 128:
            return error(400, "INVALID_ARGUMENT", "client_order_id is required")
        if product not in self.symbols:
            return error(400, "INVALID_ARGUMENT", "valid product_id is required")
        if side not in ("buy", "sell"):
            return error(400, "INVALID_ARGUMENT", "side must be BUY or SELL")
        kinds = [k for k in config if k in _CONFIGS]
        if len(config) != 1 or not kinds:
            return self._failure(
                "UNSUPPORTED_ORDER_CONFIGURATION",
                "unsupported order configuration",
                "UNKNOWN_PREVIEW_FAILURE_REASON",
                config,
            )
        with self.lock:
            existing = self.by_client_id.get(cid)
        if existing is not None:
            return self._accepted(existing, self.order_configs.get(existing.order_id, config))
        refusal = self._refusal(product, side, config[kinds[0]], config)
        if refusal is not None:
            return refusal
        spec = config[kinds[0]]
        with self.lock:
            order = self.place(
                cid,
                product,
                side,
                Decimal(spec["limit_price"]),
                Decimal(spec["base_size"]),
                _CONFIGS[kinds[0]],
            )
            self.order_configs[order.order_id] = config
        if self.ack_lost():
            raise LostAck
        return self._accepted(order, config)

    def _refusal(self, product: str, side: str, spec: Any, config: object) -> web.Response | None:
        info = self.symbols[product]
        try:
            price, size = Decimal(str(spec["limit_price"])), Decimal(str(spec["base_size"]))
        except (KeyError, ArithmeticError, ValueError):
            return self._failure(
                "INVALID_ARGUMENT",
                "limit_price and base_size are required",
                "UNKNOWN_PREVIEW_FAILURE_REASON",
                config,
            )
        if price <= 0 or price % info.tick != 0:
            return self._failure(
                "INVALID_LIMIT_PRICE_PRECISION",
                "Invalid limit price precision",
                "PREVIEW_INVALID_LIMIT_PRICE_PRECISION",
                config,
            )
        if size <= 0 or size % info.lot != 0:
            return self._failure(
                "INVALID_SIZE_PRECISION",
                "Invalid order size precision",
                "PREVIEW_INVALID_SIZE_PRECISION",
                config,
            )
        if price * size < info.min_notional:
            return self._failure(
                "INVALID_ORDER_SIZE",
                "Order size is too small",
                "PREVIEW_INVALID_QUOTE_SIZE_TOO_SMALL",
                config,
            )
        with self.lock:
            holds = self._holds()
            if side == "buy":
                asset, need = info.quote, price * size * (1 + self.fee_rate)
            else:
                asset, need = info.base, size
            if need > self.balances.get(asset, Decimal(0)) - holds.get(asset, Decimal(0)):
                return self._failure(
                    "INSUFFICIENT_FUND",
                    "Insufficient balance in source account",
                    "PREVIEW_INSUFFICIENT_FUND",
                    config,
                )
        return None

    def place(
        self, client_order_id: str, symbol: str, side: str, price: Decimal, size: Decimal, tif: str
    ) -> Order:
        """Match, then publish the fills on ``market_trades``."""
        order = super().place(client_order_id, symbol, side, price, size, tif)
        trades = self.trades_of(order)
        if trades:
            self._call(lambda: self.publish_trades(symbol, trades))
        return order

    def _order_json(self, order: Order) -> dict[str, Any]:
        info = self.symbols[order.symbol]
        trades = self.trades_of(order)
        config = self.order_configs.get(order.order_id) or {
            {"IOC": "sor_limit_ioc", "FOK": "limit_limit_fok"}.get(order.tif, "limit_limit_gtc"): {
                "base_size": str(order.size),
                "limit_price": str(order.price),
            }
        }
        done = order.status != "open"
        return {
            "order_id": order.order_id,
            "product_id": order.symbol,
            "user_id": USER_ID,
            "order_configuration": config,
            "side": order.side.upper(),
            "client_order_id": order.client_order_id,
            "status": _STATUS[order.status],
            "time_in_force": _TIF.get(order.tif, "GOOD_UNTIL_CANCELLED"),
            "created_time": iso(order.created_ms),
            "completion_percentage": str((order.filled / order.size * 100).quantize(Decimal("0.01"))),
            "filled_size": str(order.filled),
            "average_filled_price": str(order.average),
            "fee": "",
            "number_of_fills": str(len(trades)),
            "filled_value": str(order.notional),
            "pending_cancel": False,
            "size_in_quote": False,
            "total_fees": str(order.fees),
            "size_inclusive_of_fees": False,
            "total_value_after_fees": str(
                order.notional + order.fees if order.side == "buy" else order.notional - order.fees
            ),
            "trigger_status": "INVALID_ORDER_TYPE",
            "order_type": "LIMIT",
            "reject_reason": "REJECT_REASON_UNSPECIFIED",
            "settled": done,
            "product_type": "SPOT",
            "reject_message": "",
            "cancel_message": "",
            "order_placement_source": "RETAIL_ADVANCED",
            "outstanding_hold_amount": "0" if done else str(order.remaining * order.price),
            "is_liquidation": False,
            "last_fill_time": iso(trades[-1].ts_ms) if trades else None,
            "leverage": "",
            "margin_type": "",
            "retail_portfolio_id": "",
            "originating_order_id": "",
            "attached_order_id": "",
            "quote": info.quote,
        }

    async def _get_order(self, request: web.Request) -> web.Response:
        with self.lock:
            order = self.orders.get(request.match_info["order_id"])
            if self.hide_new_orders > 0:
                self.hide_new_orders -= 1
                order = None
            if order is None:
                return error(404, "NOT_FOUND", "order with this orderID was not found")
            return web.json_response({"order": self._order_json(order)})

    async def _list_orders(self, request: web.Request) -> web.Response:
        query = request.query
        products = set(query.getall("product_ids", [])) | set(query.getall("product_id", []))
        ids = set(query.getall("order_ids", []))
        statuses = set(query.getall("order_status", []))
        limit = min(int(query.get("limit", "100") or 100), 1000)
        offset = int(query.get("cursor", "0") or 0)
        with self.lock:
            chosen = [
                o
                for o in sorted(self.orders.values(), key=lambda o: (o.created_ms, o.order_id), reverse=True)
                if (not products or o.symbol in products)
                and (not ids or o.order_id in ids)
                and (not statuses or _STATUS[o.status] in statuses)
            ]
            page = [self._order_json(o) for o in chosen[offset : offset + limit]]
        more = offset + limit < len(chosen)
        return web.json_response(
            {"orders": page, "sequence": "0", "has_next": more, "cursor": str(offset + limit) if more else ""}
        )

    def _fill_json(self, trade: Trade) -> dict[str, Any]:
        return {
            "entry_id": hashlib.sha256(trade.trade_id.encode()).hexdigest(),
            "trade_id": trade.trade_id,
            "order_id": trade.order_id,
            "trade_time": iso(trade.ts_ms),
            "trade_type": "FILL",
            "price": str(trade.price),
            "size": str(trade.size),
            "commission": str(trade.fee),
            "product_id": trade.symbol,
            "sequence_timestamp": iso(trade.ts_ms),
            "liquidity_indicator": "TAKER",
            "size_in_quote": False,
            "user_id": USER_ID,
            "side": trade.side.upper(),
            "retail_portfolio_id": "",
        }

    async def _fills(self, request: web.Request) -> web.Response:
        query = request.query
        ids = set(query.getall("order_ids", [])) | set(query.getall("order_id", []))
        products = set(query.getall("product_ids", [])) | set(query.getall("product_id", []))
        limit = min(int(query.get("limit", "100") or 100), 1000)
        offset = int(query.get("cursor", "0") or 0)
        with self.lock:
            chosen = [
                t
                for t in reversed(self.trades)
                if (not ids or t.order_id in ids) and (not products or t.symbol in products)
            ]
            page = [self._fill_json(t) for t in chosen[offset : offset + limit]]
        more = offset + limit < len(chosen)
        return web.json_response({"fills": page, "cursor": str(offset + limit) if more else ""})

    async def _batch_cancel(self, request: web.Request) -> web.Response:
        try:
            body = json.loads(await request.text())
        except json.JSONDecodeError:
            return error(400, "INVALID_ARGUMENT", "request body must be JSON")
        results = []
        for order_id in body.get("order_ids") or []:
            with self.lock:
                order = self.orders.get(str(order_id))
                if order is not None and order.status == "open":
                    self.cancel(order)
                    results.append(
                        {
                            "success": True,
                            "failure_reason": "UNKNOWN_CANCEL_FAILURE_REASON",
                            "order_id": order.order_id,
                        }
                    )
                else:
                    results.append(
                        {
                            "success": False,
                            "failure_reason": "UNKNOWN_CANCEL_ORDER",
                            "order_id": str(order_id),
                        }
                    )
        return web.json_response({"results": results})

    # -- websocket -------------------------------------------------------------------------------------
    def _envelope(
        self, publisher: Publisher, channel: str, events: list[dict[str, Any]], *, gap: bool = False
    ) -> str:
        seq = publisher.state.get("seq", 0)
        if gap:
            seq += 1  # one message "lost" on the way
        publisher.state["seq"] = seq + 1
        return json.dumps(
            {"channel": channel, "client_id": "", "timestamp": iso(), "sequence_num": seq, "events": events}
        )

    def _updates(
        self, side: str, levels: list[tuple[Decimal, Decimal]], event_time: str
    ) -> list[dict[str, str]]:
        return [
            {"side": side, "event_time": event_time, "price_level": str(p), "new_quantity": str(q)}
            for p, q in levels
        ]

    def encode_snapshot(self, publisher: Publisher, symbol: str) -> list[str]:
        if symbol not in publisher.state.get("level2", set()):
            return []
        bids, asks = self.book(symbol)
        epoch = "1970-01-01T00:00:00Z"
        updates = self._updates("bid", bids, epoch) + self._updates(self.ask_side, asks, epoch)
        return [
            self._envelope(
                publisher, "l2_data", [{"type": "snapshot", "product_id": symbol, "updates": updates}]
            )
        ]

    def encode_update(
        self, publisher: Publisher, symbol: str, changes: list[tuple[str, Decimal, Decimal]]
    ) -> list[str]:
        if symbol not in publisher.state.get("level2", set()):
            return []
        stamp = iso()
        updates = [
            {
                "side": "bid" if side == "buy" else self.ask_side,
                "event_time": stamp,
                "price_level": str(price),
                "new_quantity": str(size),
            }
            for side, price, size in changes
        ]
        events = [{"type": "update", "product_id": symbol, "updates": updates}]
        return [self._envelope(publisher, "l2_data", events, gap=self.faults.gap_next)]

    def publish_trades(self, symbol: str, trades: list[Trade]) -> None:
        if time.time() < self.faults.silent_until:
            return
        for publisher in list(self.publishers):
            if symbol in publisher.state.get("market_trades", set()):
                events = [
                    {
                        "type": "update",
                        "trades": [
                            {
                                "trade_id": t.trade_id,
                                "product_id": t.symbol,
                                "price": str(t.price),
                                "size": str(t.size),
                                "side": t.side.upper(),
                                "time": iso(t.ts_ms),
                            }
                            for t in trades
                        ],
                    }
                ]
                self._send(publisher, self._envelope(publisher, "market_trades", events))

    async def on_ws_message(self, publisher: Publisher, text: str) -> None:
        try:
            msg = json.loads(text)
        except json.JSONDecodeError:
            self._send(publisher, json.dumps({"type": "error", "message": "malformed request"}))
            return
        self.subscribe_messages.append(msg)
        channel = msg.get("channel")
        products = [str(p) for p in msg.get("product_ids") or []]
        if msg.get("type") not in ("subscribe", "unsubscribe") or channel not in (
            "level2",
            "market_trades",
            "heartbeats",
        ):
            self._send(
                publisher,
                json.dumps(
                    {
                        "type": "error",
                        "message": "Failure to subscribe",
                        "reason": f"unsupported channel {channel!r}",
                    }
                ),
            )
            return
        unknown = [p for p in products if p not in self.symbols]
        if unknown:
            self._send(
                publisher,
                json.dumps(
                    {
                        "type": "error",
                        "message": "Failure to subscribe",
                        "reason": f"unknown product ids {unknown}",
                    }
                ),
            )
            return
        subscribed: set[str] = publisher.state.setdefault(channel, set())
        if msg["type"] == "unsubscribe":
            subscribed.difference_update(products)
        else:
            subscribed.update(products)
        publisher.symbols = set(publisher.state.get("level2", set())) | set(
            publisher.state.get("market_trades", set())
        )
        listing = {name: sorted(publisher.state.get(name, set())) for name in ("level2", "market_trades")}
        if "heartbeats" in publisher.state:
            listing["heartbeats"] = ["heartbeats"]
        self._send(
            publisher,
            self._envelope(
                publisher, "subscriptions", [{"subscriptions": {k: v for k, v in listing.items() if v}}]
            ),
        )
        if msg["type"] == "subscribe" and channel == "level2":
            for product in products:
                for text_ in self.encode_snapshot(publisher, product):
                    self._send(publisher, text_)
        if channel == "heartbeats" and self.heartbeat_s and "beat" not in publisher.state:
            beat = publisher.state["beat"] = asyncio.ensure_future(self._heartbeats(publisher))
            self._beats.add(beat)
            beat.add_done_callback(self._beats.discard)

    async def _shutdown(self) -> None:
        for beat in list(self._beats):
            beat.cancel()
        await super()._shutdown()

    async def _heartbeats(self, publisher: Publisher) -> None:
        counter = itertools.count(1)
        while not publisher.socket.closed:
            await asyncio.sleep(self.heartbeat_s or 1.0)
            if publisher.socket.closed or publisher not in self.publishers:
                return
            if time.time() < self.faults.silent_until:
                continue
            self._send(
                publisher,
                self._envelope(
                    publisher, "heartbeats", [{"current_time": iso(), "heartbeat_counter": next(counter)}]
                ),
            )


def advanced_trade(legacy_payloads: Iterable[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """The legacy Coinbase Pro ``snapshot`` / ``l2update`` / ``match`` messages as Advanced Trade
    ``(channel, event)`` pairs (asks spelt ``"offer"``, as the live venue does); tickers and
    subscription acknowledgements are left out. ``sequence_num`` is the sender's business."""
    for text in legacy_payloads:
        msg = json.loads(text)
        kind, time = msg.get("type"), msg.get("time") or "2021-04-17T00:00:00.000000Z"
        if kind == "snapshot":
            updates = [
                {"side": side, "event_time": time, "price_level": p, "new_quantity": q}
                for side, key in (("bid", "bids"), ("offer", "asks"))
                for p, q in msg[key]
            ]
            yield "l2_data", {"type": "snapshot", "product_id": msg["product_id"], "updates": updates}
        elif kind == "l2update":
            updates = [
                {
                    "side": "bid" if s == "buy" else "offer",
                    "event_time": time,
                    "price_level": p,
                    "new_quantity": q,
                }
                for s, p, q in msg["changes"]
            ]
            yield "l2_data", {"type": "update", "product_id": msg["product_id"], "updates": updates}
        elif kind == "match":
            trade = {
                "trade_id": str(msg["trade_id"]),
                "product_id": msg["product_id"],
                "price": msg["price"],
                "size": msg["size"],
                "side": "BUY" if msg["side"] == "sell" else "SELL",  # legacy: maker side; AT: taker side
                "time": time,
            }
            yield "market_trades", {"type": "update", "trades": [trade]}
