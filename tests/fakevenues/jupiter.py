"""A fake Jupiter quote server (``GET /swap/v1/quote``) answering from one Whirlpool's exact swap math.

Quotes take the Swap API v1 shape (amounts as decimal strings, one ``routePlan`` leg on the pool's address,
``otherAmountThreshold`` from ``slippageBps``). Only the pool's pair is quoted; ``delay_s`` adds latency.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from sdk.curves.whirlpool import WhirlpoolCurve
from tests.fakevenues.base import AppServer


class FakeJupiter(AppServer):
    name = "jupiter"

    def __init__(self, curve: WhirlpoolCurve, *, pool_key: str, base_mint: str, quote_mint: str) -> None:
        super().__init__()
        if curve.decimals_a or curve.decimals_b:
            raise ValueError("the fake quotes raw units: build the curve with decimals 0")
        self.curve = curve
        self.pool_key = pool_key
        self.base_mint = base_mint
        self.quote_mint = quote_mint
        self.delay_s = 0.0
        self.requests = 0

    def answer(self, query: dict[str, str]) -> dict[str, Any] | None:
        amount = int(query["amount"])
        mode = query.get("swapMode", "ExactIn")
        bps = int(query.get("slippageBps", "50"))
        pair = (query["inputMint"], query["outputMint"])
        if mode == "ExactIn" and pair == (self.base_mint, self.quote_mint):
            amounts = self.curve.exact_amounts(-float(amount))
            if amounts is None:
                return None
            in_amount, out_amount = amounts
            threshold = out_amount * (10_000 - bps) // 10_000
        elif mode == "ExactOut" and pair == (self.quote_mint, self.base_mint):
            amounts = self.curve.exact_amounts(float(amount))
            if amounts is None:
                return None
            out_amount, in_amount = amounts
            threshold = -(-in_amount * (10_000 + bps) // 10_000)
        else:
            return None
        return {
            "inputMint": pair[0],
            "inAmount": str(in_amount),
            "outputMint": pair[1],
            "outAmount": str(out_amount),
            "otherAmountThreshold": str(threshold),
            "swapMode": mode,
            "slippageBps": bps,
            "platformFee": None,
            "priceImpactPct": "0",
            "routePlan": [
                {
                    "swapInfo": {
                        "ammKey": self.pool_key,
                        "label": "Whirlpool",
                        "inputMint": pair[0],
                        "outputMint": pair[1],
                        "inAmount": str(in_amount),
                        "outAmount": str(out_amount),
                    },
                    "percent": 100,
                }
            ],
            "contextSlot": 1,
            "timeTaken": 0.001,
        }

    async def _quote(self, request: web.Request) -> web.Response:
        self.requests += 1
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        body = self.answer(dict(request.query))
        if body is None:
            return web.json_response(
                {"error": "Could not find any route", "errorCode": "COULD_NOT_FIND_ANY_ROUTE"}
            )
        return web.json_response(body)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/swap/v1/quote"

    def build_app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/swap/v1/quote", self._quote)
        return app
