"""A loopback Polymarket CLOB: ``GET /book``, ``GET /markets/{condition_id}``, ``GET /fee-rate`` and the
public market websocket (``/ws/market``), built from the recorded payloads.

One ``FakeVenue`` book per CLOB token id (prices in USDC per share). Subscribing with ``{"assets_ids":
[...], "type": "market"}`` answers one JSON array of ``book`` messages (bids ascending, asks descending, best
last, with ``hash`` and ``timestamp``), then ``price_change`` messages in the newer shape (``price_changes``
with the level's *absolute* size, ``best_bid``/``best_ask``). ``resolve(condition, winner)`` publishes
``market_resolved``. No orders: live Polymarket orders are signed on chain (see ``agents.venues.polymarket``).
Faults: ``fail_5xx``/``rate_limit`` on ``/book``, ``drop_ws``, ``corrupt_ws``, ``silence``.
"""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from aiohttp import web

from tests.fakevenues.base import FakeVenue, Publisher, SymbolInfo, json_body, now_ms

RECORDINGS = Path(__file__).resolve().parents[3] / "shared/data/recordings/prediction_markets/polymarket"
NAUTILUS = RECORDINGS / "nautilus_trader"


def text(value: Decimal) -> str:
    return format(value.normalize(), "f")


class FakePolymarket(FakeVenue):
    name = "polymarket"
    ws_path = "/ws/market"

    def __init__(self, markets: dict[str, list[str]] | None = None, *, fee_rate_bps: int = 0) -> None:
        """``markets``: condition id -> its token ids (default: the recorded book's market and token)."""
        recorded = json.loads((NAUTILUS / "tests__http_responses__book.json").read_text())
        self.conditions = markets or {recorded["market"]: [recorded["asset_id"]]}
        tokens = [t for ts in self.conditions.values() for t in ts]
        super().__init__(
            {
                t: SymbolInfo(t, "USDC", tick=Decimal("0.001"), lot=Decimal("0.01"), min_notional=Decimal(0))
                for t in tokens
            },
            balances={"USDC": Decimal(0)},
            fee_rate=Decimal(0),
        )
        self.fee_rate_bps = fee_rate_bps
        self.condition_of = {t: c for c, ts in self.conditions.items() for t in ts}
        self.resolved: dict[str, str] = {}

    def load_recorded_book(self, token: str) -> None:
        recorded = json.loads((NAUTILUS / "tests__http_responses__book.json").read_text())
        self.set_book(
            token,
            [(Decimal(b["price"]), Decimal(b["size"])) for b in recorded["bids"]],
            [(Decimal(a["price"]), Decimal(a["size"])) for a in recorded["asks"]],
        )

    def _book_json(self, token: str) -> dict[str, Any]:
        bids, asks = self.book(token)
        body = {
            "event_type": "book",
            "market": self.condition_of[token],
            "asset_id": token,
            "bids": [{"price": text(p), "size": text(q)} for p, q in sorted(bids)],
            "asks": [{"price": text(p), "size": text(q)} for p, q in sorted(asks, reverse=True)],
            "timestamp": str(now_ms()),
        }
        body["hash"] = hashlib.sha1(json.dumps(body, sort_keys=True).encode()).hexdigest()
        return body

    def encode_snapshot(self, publisher: Publisher, symbol: str) -> list[str]:
        return [json.dumps([self._book_json(symbol)])]

    def encode_update(
        self, publisher: Publisher, symbol: str, changes: list[tuple[str, Decimal, Decimal]]
    ) -> list[str]:
        bids, asks = self.book(symbol)
        best_bid = text(bids[0][0]) if bids else "0"
        best_ask = text(asks[0][0]) if asks else "1"
        rows = [
            {
                "asset_id": symbol,
                "price": text(price),
                "side": "BUY" if side == "buy" else "SELL",
                "size": text(size),
                "hash": hashlib.sha1(f"{symbol}{price}{size}".encode()).hexdigest(),
                "best_bid": best_bid,
                "best_ask": best_ask,
            }
            for side, price, size in changes
        ]
        message = {
            "event_type": "price_change",
            "market": self.condition_of[symbol],
            "price_changes": rows,
            "timestamp": str(now_ms()),
        }
        return [json.dumps(message)]

    async def on_ws_message(self, publisher: Publisher, message: str) -> None:
        request = json_body(message)
        if not isinstance(request, dict) or str(request.get("type", "")).lower() != "market":
            return
        books = []
        for token in request.get("assets_ids") or []:
            if token in self.symbols and token not in publisher.symbols:
                publisher.symbols.add(token)
                books.append(self._book_json(token))
        if books:
            self._send(publisher, json.dumps(books))

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/book", self._book)
        app.router.add_get("/markets/{condition_id}", self._market)
        app.router.add_get("/fee-rate", self._fee_rate)

    async def _book(self, request: web.Request) -> web.Response:
        fault = self.take_fault()
        if fault is not None:
            return fault
        token = request.query.get("token_id", "")
        if token not in self.symbols:
            return web.json_response({"error": "No orderbook exists for the requested token id"}, status=404)
        body = self._book_json(token)
        del body["event_type"]
        return web.json_response(body)

    async def _market(self, request: web.Request) -> web.Response:
        condition = request.match_info["condition_id"]
        tokens = self.conditions.get(condition)
        if tokens is None:
            return web.json_response({"error": "market not found"}, status=404)
        return web.json_response(
            {
                "condition_id": condition,
                "minimum_tick_size": "0.001",
                "minimum_order_size": "5",
                "accepting_orders": condition not in self.resolved,
                "closed": condition in self.resolved,
                "tokens": [{"token_id": t, "outcome": ["Yes", "No"][i % 2]} for i, t in enumerate(tokens)],
            }
        )

    async def _fee_rate(self, request: web.Request) -> web.Response:
        return web.json_response({"base_fee": self.fee_rate_bps})

    def resolve(self, condition: str, winner: str) -> None:
        """Publish ``market_resolved``: ``winner`` (a token of ``condition``) pays 1, the others 0."""
        tokens = self.conditions[condition]
        self.resolved[condition] = winner
        message = {
            "event_type": "market_resolved",
            "id": "1",
            "market": condition,
            "assets_ids": tokens,
            "winning_asset_id": winner,
            "winning_outcome": "Yes",
            "timestamp": str(now_ms()),
        }

        def send_all() -> None:
            for publisher in list(self.publishers):
                self._send(publisher, json.dumps(message))

        self._call(send_all)
