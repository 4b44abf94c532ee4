"""Hyperliquid perpetuals market data over the venue's documented websocket (``wss://api.hyperliquid.xyz/ws``).

cryptofeed 2.4.1 has no Hyperliquid class, so the venue is declared here as a small cryptofeed ``Feed`` (its
endpoints, channel names and symbol map as class attributes; the subscribe step and the dispatch are ours),
which runs under the same live feed and replay as every other venue. Protocol facts (Hyperliquid API docs,
"Websocket > Subscriptions"; message types of the official ``hyperliquid-python-sdk``, ``utils/types.py``):

- subscribe ``{"method": "subscribe", "subscription": {"type": "l2Book", "coin": "BTC"}}``; the venue answers
  ``{"channel": "subscriptionResponse", ...}`` and then pushes ``{"channel": "l2Book", "data": L2BookData}``
  with ``L2BookData = {coin, levels: [bids, asks], time}`` and levels ``{px: str, sz: str, n: int}`` (bids
  best first, descending; asks ascending). Every message is a **full** book (up to 20 levels a side), so
  there is nothing to chain: each replaces the book. A snapshot older than the book's is skipped (counted).
- ``activeAssetCtx`` (per coin): ``{"channel": "activeAssetCtx", "data": {"coin", "ctx": {"funding",
  "markPx", "oraclePx", "openInterest", ...}}}``. ``funding`` is the current hourly rate; funding is charged
  every hour on the hour, so each context becomes a ``Funding`` event due at the next whole hour.
- the symbol list is ``POST /info {"type": "meta"}`` (``universe``: ``name``, ``szDecimals``,
  ``maxLeverage``); a coin ``BTC`` is our ``BTC-USD-PERP`` (USDC-margined, quoted in USD).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from typing import Any, ClassVar

import aiohttp
from cryptofeed.connection import RestEndpoint, Routes, WebsocketEndpoint
from cryptofeed.defines import FUNDING, L2_BOOK, PERPETUAL, TRADES
from cryptofeed.feed import Feed
from cryptofeed.symbols import Symbol
from yapic import json as yjson  # type: ignore[import-untyped]

from agents.feeds.live import HttpRest, rebase
from agents.feeds.session import RestSource
from agents.feeds.venues.cryptofeed_bridge import CryptofeedSession
from agents.feeds.venues.guard import MessageRefused, integer, level
from sdk.adapters.events import Funding, Level, Side, Trade

HOUR_MS = 3_600_000
MAX_TIMESTAMP_MS = 10**14
INFO_URL = "https://api.hyperliquid.xyz/info"
QUIET_CHANNELS = frozenset({"subscriptionResponse", "pong"})


def book_levels(entries: object, field: str) -> list[Level]:
    """``[{px, sz, n}, ...]`` as checked ``(price, size)`` floats."""
    if type(entries) is not list:
        raise MessageRefused(f"{field}: expected a list of levels, got {type(entries).__name__}")
    out: list[Level] = []
    for i, entry in enumerate(entries):
        if type(entry) is not dict:
            raise MessageRefused(f"{field}[{i}]: expected an object {{px, sz, n}}")
        integer(entry.get("n"), f"{field}[{i}].n")
        out.append(level(entry.get("px"), entry.get("sz"), f"{field}[{i}]"))
    return out


class _HyperliquidFeed(Feed):  # type: ignore[misc]
    id = "HYPERLIQUID"
    websocket_channels: ClassVar[dict[str, str]] = {
        L2_BOOK: "l2Book",
        TRADES: "trades",
        FUNDING: "activeAssetCtx",
    }
    websocket_endpoints: ClassVar[list[Any]] = [WebsocketEndpoint("wss://api.hyperliquid.xyz/ws")]
    rest_endpoints: ClassVar[list[Any]] = [
        RestEndpoint("https://api.hyperliquid.xyz", routes=Routes("/info"))
    ]
    arb_session: HyperliquidSession

    @classmethod
    def _parse_symbol_data(cls, data: Any) -> tuple[dict[str, str], dict[str, Any]]:
        universe = data.get("universe") if isinstance(data, dict) else None
        if not isinstance(universe, list):
            raise ValueError("meta: expected an object with a 'universe' list")
        symbols: dict[str, str] = {}
        info: dict[str, Any] = {"instrument_type": {}}
        for asset in universe:
            coin = asset.get("name") if isinstance(asset, dict) else None
            if not isinstance(coin, str) or not coin:
                raise ValueError(f"meta.universe: expected an asset with a 'name', got {str(asset)[:80]}")
            normalized = Symbol(coin, "USD", type=PERPETUAL).normalized
            symbols[normalized] = coin
            info["instrument_type"][normalized] = PERPETUAL
        return symbols, info

    async def subscribe(self, conn: Any) -> None:
        """``l2Book`` and ``activeAssetCtx`` (funding and mark) per coin, and ``trades`` if asked."""
        self.arb_session.reconnect_requested = False
        for channel, coins in conn.subscription.items():
            for coin in sorted(coins):
                kinds = ["l2Book", "activeAssetCtx"] if channel == "l2Book" else [channel]
                for kind in kinds:
                    request = {"method": "subscribe", "subscription": {"type": kind, "coin": coin}}
                    await conn.write(json.dumps(request))

    async def message_handler(self, msg: str, conn: Any, timestamp: float) -> None:
        data = yjson.loads(msg)
        if type(data) is not dict or type(data.get("channel")) is not str:
            raise MessageRefused(f"expected an object with a 'channel': {msg[:120]}")
        channel: str = data["channel"]
        body = data.get("data")
        if channel in QUIET_CHANNELS:
            return
        if channel == "l2Book":
            self.arb_session.on_book(body)
        elif channel == "activeAssetCtx":
            self.arb_session.on_asset_context(body)
        elif channel == "trades":
            self.arb_session.on_trades(body)
        elif channel == "error":
            raise MessageRefused(f"the venue answered an error: {str(body)[:200]}")
        else:
            raise MessageRefused(f"channel {channel[:40]!r} is not one this session reads")


class HyperliquidSession(CryptofeedSession):
    """Hyperliquid perpetuals: full ``l2Book`` snapshots, hourly funding from ``activeAssetCtx``."""

    venue: ClassVar[str] = "hyperliquid"
    feed_class: ClassVar[Any] = _HyperliquidFeed
    max_depth: ClassVar[int | None] = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.book_ms: dict[str, int] = {}
        """Venue time of each coin's last applied book."""
        self.stale = 0
        """Snapshots skipped as older than the book already held."""
        self.contexts: dict[str, dict[str, Any]] = {}
        """The last ``activeAssetCtx`` per symbol (open interest, oracle price, premium)."""
        super().__init__(*args, **kwargs)

    @classmethod
    async def fetch_symbol_bodies(cls, rest: RestSource) -> list[str]:
        """``POST /info {"type": "meta"}`` (the info endpoint answers POSTs only)."""
        if isinstance(rest, HttpRest):
            async with (
                aiohttp.ClientSession(timeout=rest.timeout) as http,
                http.post(rebase(INFO_URL, rest.base), json={"type": "meta"}) as response,
            ):
                response.raise_for_status()
                return [await response.text()]
        return [await rest.read(INFO_URL)]

    @classmethod
    def symbol_metadata(cls, bodies: Sequence[str]) -> object:
        if not bodies:
            raise ValueError("hyperliquid: no recorded meta answer to build the symbol map from")
        return json.loads(bodies[0])

    def _symbol(self, coin: object, field: str) -> str:
        if type(coin) is not str or not coin:
            raise MessageRefused(f"{field}: expected a coin name, got {str(coin)[:40]!r}")
        symbol: str = self.feed.exchange_symbol_to_std_symbol(coin)
        return symbol

    def on_book(self, data: object) -> None:
        """One full ``L2BookData``: replaces the coin's book unless older than it."""
        if type(data) is not dict:
            raise MessageRefused("l2Book: 'data' must be an object")
        symbol = self._symbol(data.get("coin"), "data.coin")
        time_ms = integer(data.get("time"), "data.time", high=MAX_TIMESTAMP_MS)
        sides = data.get("levels")
        if type(sides) is not list or len(sides) != 2:
            raise MessageRefused("data.levels: expected [bids, asks]")
        bids, asks = book_levels(sides[0], "data.levels[0]"), book_levels(sides[1], "data.levels[1]")
        if any(b[0] >= a[0] for a, b in itertools.pairwise(bids)):
            raise MessageRefused("data.levels[0]: bids must be in descending price order")
        if any(b[0] <= a[0] for a, b in itertools.pairwise(asks)):
            raise MessageRefused("data.levels[1]: asks must be in ascending price order")
        if time_ms < self.book_ms.get(symbol, -1) and symbol in self.maintainer.live:
            self.stale += 1
            return
        live = self.maintainer.snapshot(symbol, bids, asks, self._now, exchange_ts=time_ms / 1000.0)
        if live:
            self.book_ms[symbol] = time_ms

    def on_asset_context(self, data: object) -> None:
        """``{coin, ctx}``: the hourly rate and the mark, due at the next whole hour of the venue's clock
        (the message carries no time: the receipt time stands in)."""
        if type(data) is not dict or type(data.get("ctx")) is not dict:
            raise MessageRefused("activeAssetCtx: expected {coin, ctx}")
        symbol = self._symbol(data.get("coin"), "data.coin")
        ctx: dict[str, Any] = data["ctx"]
        self.contexts[symbol] = ctx
        rate = _finite(ctx.get("funding"), "ctx.funding")
        mark = _finite(ctx.get("markPx"), "ctx.markPx")
        now_ms = int(self._now * 1000)
        due_ms = (now_ms // HOUR_MS + 1) * HOUR_MS
        self.maintainer.events.append(
            Funding(
                self.venue,
                symbol,
                rate,
                self._now,
                mark_price=mark,
                next_funding_ts=due_ms / 1000.0,
                interval_s=3600.0,
            )
        )

    def on_trades(self, data: object) -> None:
        if type(data) is not list:
            raise MessageRefused("trades: 'data' must be a list")
        for i, trade in enumerate(data):
            if type(trade) is not dict:
                raise MessageRefused(f"trades[{i}]: expected an object")
            symbol = self._symbol(trade.get("coin"), f"trades[{i}].coin")
            price, size = level(trade.get("px"), trade.get("sz"), f"trades[{i}]")
            side = trade.get("side")
            if side not in ("A", "B"):
                raise MessageRefused(f"trades[{i}].side: expected 'A' or 'B', got {str(side)[:10]!r}")
            time_ms = integer(trade.get("time"), f"trades[{i}].time", high=MAX_TIMESTAMP_MS)
            self.maintainer.events.append(
                Trade(
                    self.venue,
                    symbol,
                    Side.BUY if side == "B" else Side.SELL,
                    price,
                    size,
                    self._now,
                    time_ms / 1000.0,
                    str(trade.get("tid", ""))[:128] or None,
                )
            )


def _finite(value: object, field: str) -> float:
    if type(value) is not str or not value:
        raise MessageRefused(f"{field}: expected a decimal string, got {str(value)[:40]!r}")
    try:
        number = float(value)
    except ValueError:
        raise MessageRefused(f"{field}: expected a decimal string, got {value[:40]!r}") from None
    if number - number != 0.0:
        raise MessageRefused(f"{field}: must be finite, got {value!r}")
    return number
