"""A loopback Kalshi (Trade API v2): signed REST (markets, order books, orders, fills, positions, settlements,
balance) and the ``orderbook_delta`` websocket, built from the recorded payloads.

The market is kept as YES bids and YES asks (``FakeVenue``'s books, one per ticker, in dollars); the protocol
shows it the way Kalshi does: bids only, ``yes_dollars`` the YES bids and ``no_dollars`` the NO bids
(``1 - ask`` of the YES asks), ascending, best last. Websocket deltas are *changes* of a level's resting
count (``delta_fp``), with ``seq`` per subscription ``sid``.

Authentication like the venue: every ``/portfolio`` call and the websocket handshake must carry
``KALSHI-ACCESS-KEY`` / ``-TIMESTAMP`` / ``-SIGNATURE`` (RSA-PSS over ``timestamp + METHOD + path``) for the
key this fake generated (``private_key_pem``); a bad signature is 401. Orders: ``client_order_id`` must be
unique (409 otherwise), ``time_in_force: immediate_or_cancel`` for IOC, a taker's fee is Kalshi's
``round_up(0.07 C P (1 - P))`` per order. ``resolve(ticker, result)`` settles the market at 1/0 and records
the settlement. Faults are the shared ones (``lose_ack``, ``fail_5xx``, ``rate_limit``, ``drop_ws``,
``gap_ws`` skips a ``seq``, ``corrupt_ws``, ``silence``).
"""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from agents.venues.kalshi import verify
from sdk.fees.kalshi import trading_fee
from tests.fakevenues.base import FakeVenue, LostAck, Publisher, SymbolInfo, json_body, now_ms

RECORDINGS = Path(__file__).resolve().parents[3] / "shared/data/recordings/prediction_markets/kalshi"
NAUTILUS = RECORDINGS / "nautilus_trader_unmerged_pr"
PREFIX = "/trade-api/v2"
KEY_ID = "fake-kalshi-key"
_ONE = Decimal(1)


def dollars(value: Decimal) -> str:
    return f"{value:.4f}"


def count(value: Decimal) -> str:
    return f"{value:.2f}"


class FakeKalshi(FakeVenue):
    name = "kalshi"
    ws_path = "/trade-api/ws/v2"

    def __init__(
        self, tickers: dict[str, dict[str, Any]] | None = None, *, cash: Decimal = Decimal(100_000)
    ) -> None:
        template = json.loads((NAUTILUS / "http_markets.json").read_text())["markets"][0]
        markets = tickers or {template["ticker"]: {}}
        super().__init__(
            {
                t: SymbolInfo(t, "USD", tick=Decimal("0.01"), lot=Decimal(1), min_notional=Decimal(0))
                for t in markets
            },
            balances={"USD": cash},
            fee_rate=Decimal(0),
        )
        self.markets: dict[str, dict[str, Any]] = {}
        for ticker, fields in markets.items():
            market = copy.deepcopy(template) | {"ticker": ticker} | fields
            self.markets[ticker] = market
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.public_key = key.public_key()
        self.private_key_pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        self.key_id = KEY_ID
        self.positions: dict[str, Decimal] = dict.fromkeys(markets, Decimal(0))
        self.settlements: list[dict[str, Any]] = []
        self.order_meta: dict[str, tuple[str, str]] = {}
        """order id -> (side, action) as the client sent them."""
        self.unauthorized = 0
        self.fees_paid = Decimal(0)

    def load_recorded_book(self, ticker: str) -> None:
        """The recorded ``orderbook_fp`` as this ticker's book."""
        book = json.loads((NAUTILUS / "http_orderbook.json").read_text())["orderbook_fp"]
        bids = [(Decimal(p), Decimal(q)) for p, q in book["yes_dollars"]]
        asks = [(_ONE - Decimal(p), Decimal(q)) for p, q in book["no_dollars"]]
        self.set_book(ticker, bids, asks)

    def credentials(self) -> dict[str, str]:
        return {"apiKey": self.key_id, "secret": self.private_key_pem}

    # -- protocol encodings -----------------------------------------------------------------------------
    def _sides(self, ticker: str) -> tuple[list[list[str]], list[list[str]]]:
        bids, asks = self.book(ticker)
        yes = [[dollars(p), count(q)] for p, q in sorted(bids)]
        no = [[dollars(_ONE - p), count(q)] for p, q in sorted(asks, key=lambda kv: -kv[0])]
        return yes, no

    def _next_seq(self, publisher: Publisher, sid: int) -> int:
        seqs: dict[int, int] = publisher.state.setdefault("seq", {})
        seqs[sid] = seqs.get(sid, 0) + (2 if self.faults.gap_next else 1)
        return seqs[sid]

    def encode_snapshot(self, publisher: Publisher, symbol: str) -> list[str]:
        sid = int(publisher.state.get("sid", 1))
        yes, no = self._sides(symbol)
        sent: dict[tuple[str, str, Decimal], Decimal] = publisher.state.setdefault("sent", {})
        for key in [k for k in sent if k[0] == symbol]:
            del sent[key]
        bids, asks = self.book(symbol)
        sent.update({(symbol, "yes", p): q for p, q in bids})
        sent.update({(symbol, "no", _ONE - p): q for p, q in asks})
        seq = publisher.state.setdefault("seq", {}).get(sid, 0) + 1
        publisher.state["seq"][sid] = seq
        body = {
            "market_ticker": symbol,
            "market_id": f"id-{symbol}",
            "yes_dollars_fp": yes,
            "no_dollars_fp": no,
        }
        return [json.dumps({"type": "orderbook_snapshot", "sid": sid, "seq": seq, "msg": body})]

    def encode_update(
        self, publisher: Publisher, symbol: str, changes: list[tuple[str, Decimal, Decimal]]
    ) -> list[str]:
        sid = int(publisher.state.get("sid", 1))
        sent: dict[tuple[str, str, Decimal], Decimal] = publisher.state.setdefault("sent", {})
        out: list[str] = []
        for side, price, size in changes:
            kalshi_side, level = ("yes", price) if side == "buy" else ("no", _ONE - price)
            key = (symbol, kalshi_side, level)
            delta = size - sent.get(key, Decimal(0))
            if delta == 0:
                continue
            sent[key] = size
            body = {
                "market_ticker": symbol,
                "price_dollars": dollars(level),
                "delta_fp": count(delta),
                "side": kalshi_side,
                "ts": "2026-12-08T00:00:00Z",
            }
            seq = self._next_seq(publisher, sid)
            out.append(json.dumps({"type": "orderbook_delta", "sid": sid, "seq": seq, "msg": body}))
        return out

    async def on_ws_message(self, publisher: Publisher, text: str) -> None:
        request = json_body(text)
        if not isinstance(request, dict) or request.get("cmd") != "subscribe":
            return
        params = request.get("params") or {}
        if "market_lifecycle_v2" in (params.get("channels") or []):
            publisher.state["lifecycle"] = True
        if "orderbook_delta" not in (params.get("channels") or []):
            return
        sid = int(publisher.state.setdefault("sid", 1))
        reply = {
            "type": "subscribed",
            "id": request.get("id"),
            "msg": {"channel": "orderbook_delta", "sid": sid},
        }
        self._send(publisher, json.dumps(reply))
        for ticker in params.get("market_tickers") or []:
            if ticker not in self.symbols:
                error = {
                    "type": "error",
                    "id": request.get("id"),
                    "msg": {"code": 8, "msg": f"unknown {ticker}"},
                }
                self._send(publisher, json.dumps(error))
                continue
            publisher.symbols.add(ticker)
            for out in self.encode_snapshot(publisher, ticker):
                self._send(publisher, out)

    async def _ws_handler(self, request: web.Request) -> web.WebSocketResponse:
        if not verify(self.public_key, request.headers, "GET", request.path):
            self.unauthorized += 1
            raise web.HTTPUnauthorized(text='{"error": "authentication required for orderbook_delta"}')
        return await super()._ws_handler(request)

    # -- REST ----------------------------------------------------------------------------------------------
    def add_routes(self, app: web.Application) -> None:
        app.router.add_get(PREFIX + "/markets", self._markets)
        app.router.add_get(PREFIX + "/markets/{ticker}/orderbook", self._orderbook)
        app.router.add_post(PREFIX + "/portfolio/orders", self._create)
        app.router.add_get(PREFIX + "/portfolio/orders", self._orders)
        app.router.add_delete(PREFIX + "/portfolio/orders/{order_id}", self._cancel)
        app.router.add_get(PREFIX + "/portfolio/fills", self._fills)
        app.router.add_get(PREFIX + "/portfolio/positions", self._positions)
        app.router.add_get(PREFIX + "/portfolio/settlements", self._settlements)
        app.router.add_get(PREFIX + "/portfolio/balance", self._balance)

    def _auth(self, request: web.Request) -> None:
        if request.headers.get("KALSHI-ACCESS-KEY") != self.key_id or not verify(
            self.public_key, request.headers, request.method, request.path
        ):
            self.unauthorized += 1
            raise web.HTTPUnauthorized(
                text=json.dumps({"error": {"code": "authentication_error", "message": "bad signature"}}),
                content_type="application/json",
            )

    async def _markets(self, request: web.Request) -> web.Response:
        wanted = request.query.get("tickers")
        names = wanted.split(",") if wanted else list(self.markets)
        rows = []
        for ticker in names:
            if ticker in self.markets:
                bids, asks = self.book(ticker)
                row = dict(self.markets[ticker])
                if bids:
                    row["yes_bid_dollars"] = dollars(bids[0][0])
                if asks:
                    row["yes_ask_dollars"] = dollars(asks[0][0])
                rows.append(row)
        return web.json_response({"markets": rows, "cursor": ""})

    async def _orderbook(self, request: web.Request) -> web.Response:
        ticker = request.match_info["ticker"]
        if ticker not in self.symbols:
            return web.json_response({"error": {"code": "not_found", "message": ticker}}, status=404)
        yes, no = self._sides(ticker)
        return web.json_response({"orderbook_fp": {"yes_dollars": yes, "no_dollars": no}})

    async def _create(self, request: web.Request) -> web.Response:
        self._auth(request)
        body = json_body(await request.text())
        self.create_requests.append(body)
        fault = self.take_fault()
        if fault is not None:
            return fault
        try:
            ticker, cid = str(body["ticker"]), str(body["client_order_id"])
            side, action = str(body["side"]), str(body["action"])
            contracts = Decimal(str(body.get("count_fp", body.get("count"))))
            price = Decimal(str(body[f"{side}_price_dollars"]))
        except (KeyError, ArithmeticError, ValueError) as exc:
            return web.json_response(
                {"error": {"code": "invalid_parameters", "message": str(exc)}}, status=400
            )
        if ticker not in self.symbols or side not in ("yes", "no") or action not in ("buy", "sell"):
            return web.json_response(
                {"error": {"code": "invalid_parameters", "message": "ticker/side/action"}}, status=400
            )
        if cid in self.by_client_id:
            return web.json_response({"error": {"code": "order_already_exists", "message": cid}}, status=409)
        # In YES-book terms: buying YES or selling NO takes the asks; selling YES or buying NO takes the bids.
        takes_asks = (side == "yes") == (action == "buy")
        book_price = price if side == "yes" else _ONE - price
        tif = "IOC" if body.get("time_in_force") in ("immediate_or_cancel", "fill_or_kill") else "GTC"
        order = self.place(cid, ticker, "buy" if takes_asks else "sell", book_price, contracts, tif)
        self.order_meta[order.order_id] = (side, action)
        with self.lock:
            yes_delta = order.filled if takes_asks else -order.filled
            self.positions[ticker] += yes_delta
            # ``place`` booked the YES cash; a NO trade pays (receives) its own price instead.
            if side == "no":
                self.balances["USD"] += (-1 if action == "buy" else 1) * order.filled
            fee = Decimal(0)
            for trade in self.trades_of(order):
                fee += trading_fee(trade.size, trade.price if side == "yes" else _ONE - trade.price)
            order.fees = fee
            self.balances["USD"] -= fee
            self.fees_paid += fee
        if self.ack_lost():
            raise LostAck
        return web.json_response({"order": self._order_json(order.order_id)}, status=201)

    def _order_json(self, order_id: str) -> dict[str, Any]:
        order = self.orders[order_id]
        side, action = self.order_meta.get(order_id, ("yes", order.side))
        price = order.price if side == "yes" else _ONE - order.price
        status = {"open": "resting", "filled": "executed", "canceled": "canceled"}.get(
            order.status, order.status
        )
        return {
            "order_id": order.order_id,
            "client_order_id": order.client_order_id,
            "ticker": order.symbol,
            "side": side,
            "action": action,
            "type": "limit",
            "status": status,
            f"{side}_price_dollars": dollars(price),
            "fill_count_fp": count(order.filled),
            "remaining_count_fp": count(order.remaining if order.status == "open" else Decimal(0)),
            "taker_fees_dollars": dollars(order.fees),
            "created_time": order.created_ms,
        }

    async def _orders(self, request: web.Request) -> web.Response:
        self._auth(request)
        ticker = request.query.get("ticker")
        rows = [self._order_json(o) for o, order in self.orders.items() if ticker in (None, order.symbol)]
        return web.json_response({"orders": rows, "cursor": ""})

    async def _cancel(self, request: web.Request) -> web.Response:
        self._auth(request)
        order = self.orders.get(request.match_info["order_id"])
        if order is None:
            return web.json_response({"error": {"code": "not_found", "message": "order"}}, status=404)
        self.cancel(order)
        return web.json_response({"order": self._order_json(order.order_id), "reduced_by_fp": "0.00"})

    async def _fills(self, request: web.Request) -> web.Response:
        self._auth(request)
        order_id, ticker = request.query.get("order_id"), request.query.get("ticker")
        rows = []
        for trade in self.trades:
            if order_id not in (None, trade.order_id) or ticker not in (None, trade.symbol):
                continue
            side, action = self.order_meta.get(trade.order_id, ("yes", trade.side))
            rows.append(
                {
                    "trade_id": trade.trade_id,
                    "order_id": trade.order_id,
                    "ticker": trade.symbol,
                    "side": side,
                    "action": action,
                    "count_fp": count(trade.size),
                    "yes_price_dollars": dollars(trade.price),
                    "no_price_dollars": dollars(_ONE - trade.price),
                    "is_taker": True,
                    "fee_cost": dollars(
                        trading_fee(trade.size, trade.price if side == "yes" else _ONE - trade.price)
                    ),
                    "created_time": trade.ts_ms,
                }
            )
        return web.json_response({"fills": rows, "cursor": ""})

    async def _positions(self, request: web.Request) -> web.Response:
        self._auth(request)
        rows = [{"ticker": t, "position_fp": count(q)} for t, q in self.positions.items() if q]
        return web.json_response({"market_positions": rows, "event_positions": [], "cursor": ""})

    async def _settlements(self, request: web.Request) -> web.Response:
        self._auth(request)
        return web.json_response({"settlements": list(self.settlements), "cursor": ""})

    async def _balance(self, request: web.Request) -> web.Response:
        self._auth(request)
        return web.json_response({"balance": int(self.balances["USD"] * 100)})

    # -- resolution ----------------------------------------------------------------------------------------
    def resolve(self, ticker: str, result: str) -> dict[str, Any]:
        """Settle ``ticker`` at 1 for the winning side, 0 for the other; the market closes."""
        if result not in ("yes", "no"):
            raise ValueError(f"result must be 'yes' or 'no', got {result!r}")
        with self.lock:
            position = self.positions.get(ticker, Decimal(0))
            yes, no = max(position, Decimal(0)), max(-position, Decimal(0))
            revenue = yes if result == "yes" else no
            self.balances["USD"] += revenue
            self.positions[ticker] = Decimal(0)
            self.markets[ticker]["status"] = "settled"
            self.markets[ticker]["result"] = result
            self.bids[ticker], self.asks[ticker] = {}, {}
            row = {
                "ticker": ticker,
                "market_result": result,
                "yes_count_fp": count(yes),
                "no_count_fp": count(no),
                "revenue": int(revenue * 100),
                "settled_time": now_ms(),
            }
            self.settlements.append(row)
        announcement = {
            "type": "market_lifecycle_v2",
            "sid": 2,
            "seq": len(self.settlements),
            "msg": {"market_ticker": ticker, "event_type": "determined", "result": result,
                    "determination_ts": now_ms() // 1000},
        }  # fmt: skip

        def send_all() -> None:
            for publisher in list(self.publishers):
                if publisher.state.get("lifecycle"):
                    self._send(publisher, json.dumps(announcement))

        self._call(send_all)
        return row
