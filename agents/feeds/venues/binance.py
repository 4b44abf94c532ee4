"""Binance spot diff-depth stream through cryptofeed's parser, with our update-id chain per symbol.

cryptofeed checks the chain too, but on a gap it silently clears every symbol's book. Here a gap voids only
the symbol concerned, is reported (``FeedError`` + ``Resync``), and the next message of that symbol fetches a
fresh REST snapshot through the session's REST source (live HTTP, or the recording's captured answers). A
snapshot that cannot be fetched is reported (``SNAPSHOT_UNAVAILABLE``) and retried at the symbol's next
message; the venue's ``serverShutdown`` notice makes the live feed reconnect before the server drops it.

cryptofeed decodes and dispatches every message (and parses trades and tickers); depth updates and REST
snapshots go from the decoded message straight into our book, fetched at the address cryptofeed would use.
cryptofeed's own Decimal book would only duplicate ours: building it from a 1000-level REST snapshot costs
about a millisecond (two ``Decimal`` per level), as much as fifty depth updates.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from cryptofeed.exchanges import Binance

from agents.feeds.sequence import UpdateIdChain, Verdict
from agents.feeds.session import SnapshotUnavailable
from agents.feeds.venues.cryptofeed_bridge import CryptofeedSession
from sdk.adapters.events import FeedErrorKind, Level

SNAPSHOT_DEPTH = 1000
"""Levels asked of the REST depth endpoint (cryptofeed's default for an unlimited book)."""


def _levels(pairs: list[list[str]]) -> list[Level]:
    return [(float(p), float(q)) for p, q in pairs]


class _BinanceFeed(Binance):  # type: ignore[misc]
    arb_session: BinanceSession

    async def message_handler(self, msg: str, conn: Any, timestamp: float) -> None:
        # cryptofeed splits every combined stream name on "@"; the shutdown notice ("!serverShutdown") has
        # none and would be reported as a malformed message voiding every book.
        if "serverShutdown" in msg:
            self.arb_session.reconnect_requested = True
            return
        await super().message_handler(msg, conn, timestamp)

    async def _book(self, msg: dict[str, Any], pair: str, timestamp: float) -> None:
        await self.arb_session.on_depth(msg, pair)

    def snapshot_address(self, pair: str) -> str:
        """The REST depth URL cryptofeed's ``_snapshot`` asks for ``pair`` (exchange symbol)."""
        depth = self.max_depth or SNAPSHOT_DEPTH
        if depth not in self.valid_depths:
            depth = next((d for d in self.valid_depths if d > depth), depth)
        route: str = self.rest_endpoints[0].route("l2book", self.sandbox)
        return route.format(pair, depth)


class BinanceSession(CryptofeedSession):
    venue: ClassVar[str] = "binance"
    feed_class: ClassVar[Any] = _BinanceFeed

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.chains: dict[str, UpdateIdChain] = {}
        self.gaps = 0
        super().__init__(*args, **kwargs)

    async def on_depth(self, msg: dict[str, Any], pair: str) -> None:
        """One decoded ``depthUpdate`` of ``pair`` (exchange symbol); a symbol without a chain first
        fetches its REST snapshot."""
        symbol = self.feed.exchange_symbol_to_std_symbol(pair)
        if symbol not in self.chains:
            await self._install_snapshot(pair, symbol)
        if self.skip_update(symbol, int(msg["U"]), int(msg["u"])):
            return
        self.maintainer.update(
            symbol,
            _levels(msg["b"]),
            _levels(msg["a"]),
            self._now,
            exchange_ts=self.feed.timestamp_normalize(msg["E"]),
            sequence=int(msg["u"]),
        )

    async def _install_snapshot(self, pair: str, symbol: str) -> None:
        address = self.feed.snapshot_address(pair)
        try:
            text = await self.feed.http_conn.read(address)
        except SnapshotUnavailable:
            raise
        except Exception as exc:  # transport or HTTP status: no book yet, retried at the next message
            raise SnapshotUnavailable(
                f"{symbol}: depth snapshot failed: {type(exc).__name__}: {exc}"
            ) from exc
        body = json.loads(text)
        last_id = int(body["lastUpdateId"])
        live = self.maintainer.snapshot(
            symbol,
            _levels(body["bids"]),
            _levels(body["asks"]),
            self._now,
            exchange_ts=self.feed.timestamp_normalize(body["E"]) if "E" in body else None,
            sequence=last_id,
        )
        if live:
            self.chains[symbol] = UpdateIdChain(last_id)

    def skip_update(self, symbol: str, first_id: int, last_id: int) -> bool:
        chain = self.chains.get(symbol)
        if chain is None:
            return True
        verdict = chain.accept(first_id, last_id)
        if verdict is Verdict.APPLY:
            return False
        if verdict is Verdict.GAP:
            self.gaps += 1
            self.maintainer.invalidate(
                symbol, FeedErrorKind.SEQUENCE_GAP, chain.gap_detail(first_id, last_id), self._now
            )
            self.chains.pop(symbol, None)
        return True

    def after_invalidate(self) -> None:
        for symbol in list(self.chains):
            if symbol not in self.maintainer.live:
                del self.chains[symbol]
