"""A loopback Bybit v5 (linear perpetuals): the public websocket and the instrument list.

REST: ``GET /v5/market/instruments-info?category=linear`` (``retCode``, ``result.list`` with ``symbol``,
``contractType: LinearPerpetual``, ``baseCoin``, ``quoteCoin``, ``priceFilter.tickSize``,
``lotSizeFilter.qtyStep``), what cryptofeed's ``Bybit`` reads its symbol map from.

Websocket (``/v5/public/linear``): ``{"op": "subscribe", "args": [...]}`` is answered ``{"success": true,
"op": "subscribe"}``; ``orderbook.{depth}.{SYMBOL}`` sends a ``snapshot`` of the book and then ``delta``
messages with absolute sizes, ``data.u`` counting every message of the topic by one and ``data.seq``
increasing by more; ``tickers.{SYMBOL}`` sends a ``snapshot`` (mark, index, ``fundingRate``,
``nextFundingTime``, ``fundingIntervalHour``, open interest) and then ``delta`` messages with the fields
that changed (``set_funding``). ``{"op": "ping"}`` is answered with a pong.

Faults (``FakeVenue``'s): ``gap_ws()`` skips one ``u`` in the next delta of every book; ``drop_ws()``,
``silence``, ``corrupt_ws()``. Orders are not served here (the perp agents under test trade on paper).
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from aiohttp import web

from tests.fakevenues.base import FakeVenue, Publisher, SymbolInfo

Book = tuple[dict[Decimal, Decimal], dict[Decimal, Decimal]]


def text(value: Decimal) -> str:
    return format(value.normalize(), "f")


class FakeBybit(FakeVenue):
    name = "bybit"
    ws_path = "/v5/public/linear"

    def __init__(
        self,
        symbols: Mapping[str, SymbolInfo] | None = None,
        *,
        depth: int = 50,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            symbols or {"BTC-USDT-PERP": SymbolInfo("BTC", "USDT", Decimal("0.1"), Decimal("0.001"))},
            **kwargs,
        )
        self.depth = depth
        self.funding: dict[str, dict[str, str]] = {
            s: {
                "markPrice": "60000.00",
                "indexPrice": "59990.00",
                "fundingRate": "0.0001",
                "nextFundingTime": str((int(time.time() * 1000) // 28_800_000 + 1) * 28_800_000),
                "fundingIntervalHour": "8",
                "openInterest": "50000.123",
            }
            for s in self.symbols
        }
        self.seq = itertools.count(10_000_000, 7)

    def venue_symbol(self, symbol: str) -> str:
        info = self.symbols[symbol]
        return f"{info.base}{info.quote}"

    def symbol_of(self, venue_symbol: str) -> str | None:
        return next((s for s in self.symbols if self.venue_symbol(s) == venue_symbol), None)

    # -- REST ------------------------------------------------------------------------------------------
    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/v5/market/instruments-info", self._instruments)

    async def _instruments(self, request: web.Request) -> web.Response:
        listed = [
            {
                "symbol": self.venue_symbol(s),
                "contractType": "LinearPerpetual",
                "status": "Trading",
                "baseCoin": info.base,
                "quoteCoin": info.quote,
                "settleCoin": info.quote,
                "priceFilter": {"tickSize": text(info.tick)},
                "lotSizeFilter": {"qtyStep": text(info.lot), "minOrderQty": text(info.lot)},
            }
            for s, info in self.symbols.items()
        ]
        body = {"retCode": 0, "retMsg": "OK", "result": {"category": "linear", "list": listed}}
        return web.json_response(body)

    # -- websocket -------------------------------------------------------------------------------------
    async def on_ws_message(self, publisher: Publisher, message: str) -> None:
        try:
            request = json.loads(message)
        except json.JSONDecodeError:
            return
        if not isinstance(request, dict):
            return
        if request.get("op") == "ping":
            self._send(publisher, json.dumps({"success": True, "ret_msg": "pong", "op": "ping"}))
            return
        if request.get("op") != "subscribe":
            return
        self._send(publisher, json.dumps({"success": True, "ret_msg": "", "op": "subscribe"}))
        for topic in request.get("args") or []:
            parts = str(topic).split(".")
            symbol = self.symbol_of(parts[-1])
            if symbol is None:
                continue
            if parts[0] == "orderbook" and parts[1] == str(self.depth):
                publisher.symbols.add(symbol)
                for out in self.encode_snapshot(publisher, symbol):
                    self._send(publisher, out)
            elif parts[0] == "tickers":
                publisher.state.setdefault("tickers", set()).add(symbol)
                self._send(publisher, self._ticker_message(symbol, "snapshot", self.funding[symbol]))

    def _ticker_message(self, symbol: str, kind: str, fields: Mapping[str, str]) -> str:
        data = {"symbol": self.venue_symbol(symbol), **fields}
        return json.dumps(
            {
                "topic": f"tickers.{self.venue_symbol(symbol)}",
                "type": kind,
                "data": data,
                "cs": next(self.seq),
                "ts": int(time.time() * 1000),
            }
        )

    def set_funding(self, symbol: str, **fields: str) -> None:
        """Change ticker fields (``fundingRate``, ``nextFundingTime``, ``markPrice``...) and publish them
        as a ``delta`` to every ticker subscriber."""
        with self.lock:
            self.funding[symbol].update(fields)

        def publish() -> None:
            for publisher in list(self.publishers):
                if symbol in publisher.state.get("tickers", ()):
                    self._send(publisher, self._ticker_message(symbol, "delta", fields))

        self._call(publish)

    def _topic(self, symbol: str) -> str:
        return f"orderbook.{self.depth}.{self.venue_symbol(symbol)}"

    def _message(self, publisher: Publisher, symbol: str, kind: str, book: Book) -> str:
        counters: dict[str, int] = publisher.state.setdefault("u", {})
        update_id = counters.get(symbol, 0) + (2 if self.faults.gap_next and kind == "delta" else 1)
        counters[symbol] = update_id
        bids, asks = book
        data = {
            "s": self.venue_symbol(symbol),
            "b": [[text(p), text(q)] for p, q in sorted(bids.items(), reverse=True)],
            "a": [[text(p), text(q)] for p, q in sorted(asks.items())],
            "u": update_id,
            "seq": next(self.seq),
        }
        now = int(time.time() * 1000)
        return json.dumps({"topic": self._topic(symbol), "type": kind, "ts": now, "data": data, "cts": now})

    def _sent(self, publisher: Publisher) -> dict[str, Book]:
        sent: dict[str, Book] = publisher.state.setdefault("sent", {})
        return sent

    def encode_snapshot(self, publisher: Publisher, symbol: str) -> list[str]:
        with self.lock:
            book = (dict(self.bids[symbol]), dict(self.asks[symbol]))
        self._sent(publisher)[symbol] = book
        return [self._message(publisher, symbol, "snapshot", book)]

    def encode_update(
        self, publisher: Publisher, symbol: str, changes: list[tuple[str, Decimal, Decimal]]
    ) -> list[str]:
        if symbol not in self._sent(publisher):
            return []
        old_bids, old_asks = self._sent(publisher)[symbol]
        with self.lock:
            bids, asks = dict(self.bids[symbol]), dict(self.asks[symbol])
        diff: Book = ({}, {})
        for out, old, new in ((diff[0], old_bids, bids), (diff[1], old_asks, asks)):
            for price in set(old) | set(new):
                if old.get(price) != new.get(price):
                    out[price] = new.get(price, Decimal(0))
        self._sent(publisher)[symbol] = (bids, asks)
        if not diff[0] and not diff[1]:
            return []
        return [self._message(publisher, symbol, "delta", diff)]
