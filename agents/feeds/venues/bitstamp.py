"""Bitstamp ``diff_order_book`` through cryptofeed's parser, synchronised on REST snapshots by microtimestamp.

Bitstamp's procedure: subscribe, buffer the diffs, fetch ``/api/v2/order_book/<pair>``, drop every diff whose
``microtimestamp`` is not after the snapshot's, apply the rest. cryptofeed compares whole-second timestamps as
strings and waits a fixed 5 s before fetching; here the snapshot is installed when its answer arrives (live or
from the recording), buffered diffs are replayed behind it, and nothing is applied to a symbol before it.
"""

from __future__ import annotations

import json
from collections import deque
from decimal import Decimal
from typing import Any, ClassVar

from cryptofeed.connection import AsyncConnection
from cryptofeed.exchanges import Bitstamp
from cryptofeed.types import OrderBook

from agents.feeds.venues.cryptofeed_bridge import CryptofeedSession, run_sync
from sdk.adapters.events import FeedErrorKind, FeedEvent

MAX_BUFFERED = 10_000
"""Diffs kept per symbol while its snapshot is awaited."""


class _BitstampFeed(Bitstamp):  # type: ignore[misc]
    arb_session: BitstampSession

    async def subscribe(self, conn: AsyncConnection) -> None:
        """Subscribe only; snapshots are the session's business (no fixed sleep)."""
        self.last_update_id: dict[str, str] = {}
        for chan in self.subscription:
            for pair in self.subscription[chan]:
                await conn.write(
                    json.dumps({"event": "bts:subscribe", "data": {"channel": f"{chan}_{pair}"}})
                )

    async def _process_l2_book(self, msg: dict[str, Any], timestamp: float) -> None:
        if self.arb_session.admit(msg, timestamp):
            await super()._process_l2_book(msg, timestamp)


class BitstampSession(CryptofeedSession):
    venue: ClassVar[str] = "bitstamp"
    feed_class: ClassVar[Any] = _BitstampFeed
    snapshot_route: ClassVar[str] = "/api/v2/order_book/"
    rest_in_stream: ClassVar[bool] = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.gates: dict[str, int] = {}
        """Symbol -> microtimestamp of the snapshot its book was built from."""
        self.buffers: dict[str, deque[tuple[dict[str, Any], float]]] = {}
        self.discarded = 0
        super().__init__(*args, **kwargs)

    def snapshot_url(self, symbol: str) -> str:
        """REST address of the depth snapshot for ``symbol`` (normalized)."""
        route: str = self.feed.rest_endpoints[0].route("l2book")
        return route.format(self.feed.std_symbol_to_exchange_symbol(symbol))

    def admit(self, msg: dict[str, Any], timestamp: float) -> bool:
        pair = self.feed.exchange_symbol_to_std_symbol(msg["channel"].rsplit("_", 1)[-1])
        micro = int(msg["data"]["microtimestamp"])
        gate = self.gates.get(pair)
        if gate is None:
            buffer = self.buffers.setdefault(pair, deque())
            if len(buffer) >= MAX_BUFFERED:
                buffer.clear()
                self.maintainer.invalidate(
                    pair,
                    FeedErrorKind.SNAPSHOT_UNAVAILABLE,
                    "diff buffer overflowed awaiting a snapshot",
                    self._now,
                )
            buffer.append((msg, timestamp))
            return False
        if micro <= gate:
            self.discarded += 1
            return False
        return True

    def on_rest(self, url: str, body: str, receipt_ts: float) -> list[FeedEvent]:
        self._now = receipt_ts
        if self.snapshot_route not in url:
            return self.maintainer.drain()
        try:
            self.install_snapshot(url.rstrip("/").rsplit("/", 1)[-1], body)
        except Exception as exc:
            self._on_error(exc, receipt_ts)
        return self.maintainer.drain()

    def install_snapshot(self, exchange_pair: str, body: str) -> None:
        data = json.loads(body, parse_float=Decimal)
        symbol = self.feed.exchange_symbol_to_std_symbol(exchange_pair)
        bids = {Decimal(p): Decimal(s) for p, s, *_ in data["bids"]}
        asks = {Decimal(p): Decimal(s) for p, s, *_ in data["asks"]}
        micro = int(data["microtimestamp"])
        self.feed._l2_book[symbol] = OrderBook(
            self.feed.id, symbol, max_depth=self.feed.max_depth, bids=bids, asks=asks
        )
        self.feed.last_update_id = {}
        live = self.maintainer.snapshot(
            symbol,
            [(float(p), float(s)) for p, s in bids.items()],
            [(float(p), float(s)) for p, s in asks.items()],
            self._now,
            exchange_ts=micro / 1e6,
        )
        if not live:
            return
        self.gates[symbol] = micro
        for msg, ts in self.buffers.pop(symbol, deque()):
            run_sync(self.feed._process_l2_book(msg, ts))

    def after_invalidate(self) -> None:
        for symbol in list(self.gates):
            if symbol not in self.maintainer.live:
                del self.gates[symbol]
