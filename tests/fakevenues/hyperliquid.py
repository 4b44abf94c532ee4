"""A loopback Hyperliquid: the info endpoint's ``meta`` and the websocket's ``l2Book`` and ``activeAssetCtx``.

REST: ``POST /info`` with ``{"type": "meta"}`` answers the ``universe`` (``name``, ``szDecimals``,
``maxLeverage``); other info types answer 400.

Websocket (``/ws``): ``{"method": "subscribe", "subscription": {"type": "l2Book", "coin": "BTC"}}`` is
answered ``{"channel": "subscriptionResponse", "data": {...}}`` and then a full ``l2Book`` (levels ``{px, sz,
n}``, bids then asks, with the venue's ``time``) at every change: Hyperliquid sends whole books, never deltas.
``activeAssetCtx`` sends the coin's context (``funding`` hourly, ``markPx``, ``oraclePx``, ``openInterest``)
at subscription and at every ``set_context``. ``{"method": "ping"}`` is answered ``{"channel": "pong"}``.
Orders are not served here (the perp agents under test trade on paper).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from aiohttp import web

from tests.fakevenues.base import FakeVenue, Publisher, SymbolInfo


def text(value: Decimal) -> str:
    return format(value.normalize(), "f")


class FakeHyperliquid(FakeVenue):
    name = "hyperliquid"
    ws_path = "/ws"

    def __init__(self, symbols: Mapping[str, SymbolInfo] | None = None, **kwargs: Any) -> None:
        super().__init__(
            symbols or {"BTC-USD-PERP": SymbolInfo("BTC", "USD", Decimal("1"), Decimal("0.00001"))}, **kwargs
        )
        self.contexts: dict[str, dict[str, str]] = {
            s: {"funding": "0.0000125", "markPx": "60000.0", "oraclePx": "59995.0", "openInterest": "1234.5"}
            for s in self.symbols
        }

    def coin(self, symbol: str) -> str:
        return self.symbols[symbol].base

    def symbol_of(self, coin: str) -> str | None:
        return next((s for s in self.symbols if self.coin(s) == coin), None)

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/info", self._info)

    async def _info(self, request: web.Request) -> web.Response:
        body = await request.json()
        if not isinstance(body, dict) or body.get("type") != "meta":
            return web.json_response({"error": "unsupported info type"}, status=400)
        universe = [{"name": self.coin(s), "szDecimals": 5, "maxLeverage": 40} for s in self.symbols]
        return web.json_response({"universe": universe})

    async def on_ws_message(self, publisher: Publisher, message: str) -> None:
        try:
            request = json.loads(message)
        except json.JSONDecodeError:
            return
        if not isinstance(request, dict):
            return
        if request.get("method") == "ping":
            self._send(publisher, json.dumps({"channel": "pong"}))
            return
        subscription = request.get("subscription")
        if request.get("method") != "subscribe" or not isinstance(subscription, dict):
            return
        symbol = self.symbol_of(str(subscription.get("coin")))
        if symbol is None:
            return
        ack = {
            "channel": "subscriptionResponse",
            "data": {"method": "subscribe", "subscription": subscription},
        }
        self._send(publisher, json.dumps(ack))
        if subscription.get("type") == "l2Book":
            publisher.symbols.add(symbol)
            for out in self.encode_snapshot(publisher, symbol):
                self._send(publisher, out)
        elif subscription.get("type") == "activeAssetCtx":
            publisher.state.setdefault("contexts", set()).add(symbol)
            self._send(publisher, self._context(symbol))

    def _context(self, symbol: str) -> str:
        return json.dumps(
            {"channel": "activeAssetCtx", "data": {"coin": self.coin(symbol), "ctx": self.contexts[symbol]}}
        )

    def set_context(self, symbol: str, **fields: str) -> None:
        with self.lock:
            self.contexts[symbol].update(fields)

        def publish() -> None:
            for publisher in list(self.publishers):
                if symbol in publisher.state.get("contexts", ()):
                    self._send(publisher, self._context(symbol))

        self._call(publish)

    def encode_snapshot(self, publisher: Publisher, symbol: str) -> list[str]:
        bids, asks = self.book(symbol)
        levels = [
            [{"px": text(p), "sz": text(q), "n": 1} for p, q in bids[:20]],
            [{"px": text(p), "sz": text(q), "n": 1} for p, q in asks[:20]],
        ]
        data = {"coin": self.coin(symbol), "time": int(time.time() * 1000), "levels": levels}
        return [json.dumps({"channel": "l2Book", "data": data})]

    def encode_update(
        self, publisher: Publisher, symbol: str, changes: list[tuple[str, Decimal, Decimal]]
    ) -> list[str]:
        return self.encode_snapshot(publisher, symbol)
