"""Bitstamp ``diff_order_book`` through cryptofeed's parser, synchronised on REST snapshots by microtimestamp.

Bitstamp's procedure: subscribe, buffer the diffs, fetch ``/api/v2/order_book/<pair>``, drop every diff whose
``microtimestamp`` is not after the snapshot's, apply the rest. cryptofeed compares whole-second timestamps as
strings and waits a fixed 5 s before fetching; here the snapshot is installed when its answer arrives (live or
from the recording), buffered diffs are replayed behind it, and nothing is applied to a symbol before it.

Live, a symbol's snapshot is fetched (through the session's REST source) once its ``diff_order_book``
channel is known to be active on the current connection (``bts:subscription_succeeded`` or a first diff): a
snapshot taken before the subscription took effect could miss a diff. The same happens after anything voided
the book (a drop, an unreadable message, a crossed book); a failed fetch is reported
(``SNAPSHOT_UNAVAILABLE``) and retried. ``bts:request_reconnect`` (the server is about to go away) makes
the live feed reconnect.

Dispatch is our own and strict (cryptofeed's logs and skips an event it does not know, which for a mangled
diff would leave a wrong book behind): anything but a documented event voids the books. A diff is read in
full when it arrives, buffered or not, so a bad one is refused at once. cryptofeed parses the trades; the diff
levels go from the decoded message straight into our book. Its own Decimal book would only duplicate ours:
building it from each REST snapshot cost about a millisecond (a thousand levels, two ``Decimal`` per level),
as much as 200 diffs, and it served only to drop deletions of absent levels, which our book ignores anyway.
"""

from __future__ import annotations

import json
from collections import deque
from typing import Any, ClassVar

from cryptofeed.connection import AsyncConnection
from cryptofeed.defines import L2_BOOK
from cryptofeed.exceptions import UnsupportedSymbol
from cryptofeed.exchanges import Bitstamp
from yapic import json as yjson  # type: ignore[import-untyped]

from agents.feeds.session import SnapshotUnavailable
from agents.feeds.venues.cryptofeed_bridge import CryptofeedSession
from agents.feeds.venues.guard import MessageRefused, check_message, decimal_hook, integer, levels
from sdk.adapters.events import FeedErrorKind, FeedEvent, Level

MAX_BUFFERED = 10_000
"""Diffs kept per symbol while its snapshot is awaited."""
SNAPSHOT_RETRY_S = 1.0
"""Live: seconds before a failed snapshot request of a symbol is retried (a failing API is not hammered)."""
DIFF_CHANNEL = "diff_order_book_"
TRADES_CHANNEL = "live_trades_"
QUIET_EVENTS = frozenset({"bts:connection_established", "bts:unsubscription_succeeded", "bts:heartbeat"})
"""Control events that carry nothing for the books."""

Diff = tuple[int, list[Level], list[Level]]
"""A read ``diff_order_book`` message: microtimestamp, bids, asks."""


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

    async def message_handler(self, msg: str, conn: Any, timestamp: float) -> None:
        """``{"event", "channel", "data"}`` messages, strictly: an event not documented here is unreadable."""
        data = yjson.loads(msg, parse_float=decimal_hook)
        if (
            type(data) is not dict
            or type(data.get("event")) is not str
            or type(data.get("channel")) is not str
        ):
            raise MessageRefused(f"expected an object with string 'event' and 'channel': {msg[:120]}")
        name: str = data["event"]
        channel: str = data["channel"]
        if name == "data" and channel.startswith(DIFF_CHANNEL):
            self.arb_session.on_diff(data, timestamp)
        elif name == "trade" and channel.startswith(TRADES_CHANNEL):
            body = data.get("data")
            if type(body) is not dict:
                raise MessageRefused(f"{channel[:60]}: trade 'data' must be an object")
            integer(body.get("microtimestamp"), "microtimestamp")  # cryptofeed int()s it
            await self._trades(data, timestamp)
        elif name == "bts:subscription_succeeded":
            if channel.startswith(DIFF_CHANNEL):
                self.arb_session.on_subscribed(channel[len(DIFF_CHANNEL) :])
        elif name == "bts:request_reconnect":
            self.arb_session.reconnect_requested = True
        elif name not in QUIET_EVENTS:
            raise MessageRefused(f"event {name[:40]!r} on {channel[:60]!r} is not one this session reads")


class BitstampSession(CryptofeedSession):
    venue: ClassVar[str] = "bitstamp"
    feed_class: ClassVar[Any] = _BitstampFeed
    snapshot_route: ClassVar[str] = "/api/v2/order_book/"
    rest_in_stream: ClassVar[bool] = True
    rest_after_messages: ClassVar[bool] = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.gates: dict[str, int] = {}
        """Symbol -> microtimestamp of the snapshot its book was built from."""
        self.applied: dict[str, int] = {}
        """Symbol -> microtimestamp of the last diff applied since that snapshot."""
        self.buffers: dict[str, deque[Diff]] = {}
        self.discarded = 0
        self.subscribed: set[str] = set()
        """Symbols whose diff channel is active on the current connection (their snapshot may be fetched)."""
        self._retry_at: dict[str, float] = {}
        super().__init__(*args, **kwargs)
        self._wanted = frozenset(self._symbols)
        self._complete = False
        """Every wanted symbol has a snapshot gate (``wants_rest`` is asked after every message)."""
        pairs = self.feed.subscription.get(self.feed.websocket_channels[L2_BOOK], ())
        self.diff_pairs = frozenset(pairs)
        """Exchange pairs of the diff subscription (fixed for the session's life)."""
        self._diff_symbols = {p: self.feed.exchange_symbol_to_std_symbol(p) for p in pairs}

    def snapshot_url(self, symbol: str) -> str:
        """REST address of the depth snapshot for ``symbol`` (normalized)."""
        route: str = self.feed.rest_endpoints[0].route("l2book")
        return route.format(self.feed.std_symbol_to_exchange_symbol(symbol))

    def on_subscribed(self, exchange_pair: str) -> None:
        """The venue confirmed the diff channel of ``exchange_pair``: its snapshot may now be fetched."""
        try:
            self.subscribed.add(self.feed.exchange_symbol_to_std_symbol(exchange_pair))
        except UnsupportedSymbol:
            return  # not one of ours: nothing to synchronise

    def on_diff(self, msg: dict[str, Any], timestamp: float) -> None:
        """Read one decoded ``diff_order_book`` message in full, then apply it if its symbol's snapshot
        admits it (or buffer it until the snapshot arrives)."""
        exchange_pair = msg["channel"][len(DIFF_CHANNEL) :]
        pair = self._diff_symbols.get(exchange_pair)
        if pair is None:
            raise MessageRefused(f"diff for a pair not subscribed: {exchange_pair[:40]!r}")
        data = msg["data"]
        if type(data) is not dict:
            raise MessageRefused(f"{pair}: diff 'data' must be an object")
        micro = data["microtimestamp"]
        if type(micro) is str and 0 < len(micro) <= 18 and micro.isascii() and micro.isdigit():
            micro = int(micro)  # ``integer``'s usual case inlined (18 digits stay below its bound)
        else:
            micro = integer(micro, "microtimestamp")
        diff = (micro, levels(data["bids"], "bids"), levels(data["asks"], "asks"))
        self.subscribed.add(pair)
        last = self.applied.get(pair)
        if last is not None and diff[0] >= last and pair in self.gates:
            # ``admit``'s usual case, inlined: the stream moves forward behind an applied diff.
            self.applied[pair] = diff[0]
            self.maintainer.update(pair, diff[1], diff[2], self._now, exchange_ts=diff[0] / 1e6)
        else:
            self._apply(pair, diff)

    def _apply(self, pair: str, diff: Diff) -> None:
        micro, bids, asks = diff
        if self.admit(pair, micro, diff):
            self.maintainer.update(pair, bids, asks, self._now, exchange_ts=micro / 1e6)

    def admit(self, pair: str, micro: int, diff: Diff) -> bool:
        """Whether a diff of ``pair`` stamped ``micro`` applies now; buffered while no snapshot is in.

        Diffs not after the snapshot are dropped only until the first one after it applied: from then on
        the stream moves forward, and a diff from its past is a mangled one (refused, never skipped)."""
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
            buffer.append(diff)
            return False
        last = self.applied.get(pair)
        if last is None:
            if micro <= gate:
                self.discarded += 1
                return False
        elif micro < last:
            raise MessageRefused(f"{pair}: diff at {micro} is older than the one applied at {last}")
        self.applied[pair] = micro
        return True

    def on_rest(self, url: str, body: str, receipt_ts: float) -> list[FeedEvent]:
        self._now = receipt_ts
        if self.snapshot_route not in url:
            return self.maintainer.drain()
        try:
            self.install_snapshot(url.rstrip("/").rsplit("/", 1)[-1], body)
        except Exception as exc:
            self._on_error(exc, receipt_ts)
        return self._drained()

    def install_snapshot(self, exchange_pair: str, body: str) -> None:
        data = json.loads(check_message(body), parse_float=decimal_hook)
        if type(data) is not dict:
            raise MessageRefused(f"{exchange_pair[:40]}: order_book snapshot must be a JSON object")
        symbol = self.feed.exchange_symbol_to_std_symbol(exchange_pair)
        micro = integer(data["microtimestamp"], "microtimestamp")
        live = self.maintainer.snapshot(
            symbol,
            levels(data["bids"], "bids"),
            levels(data["asks"], "asks"),
            self._now,
            exchange_ts=micro / 1e6,
        )
        if not live:
            return
        self.gates[symbol] = micro
        self._complete = self.gates.keys() >= self._wanted
        self.applied.pop(symbol, None)
        for diff in self.buffers.pop(symbol, deque()):
            self._apply(symbol, diff)

    def after_invalidate(self) -> None:
        for symbol in list(self.gates):
            if symbol not in self.maintainer.live:
                del self.gates[symbol]
                self.applied.pop(symbol, None)
        self._complete = self.gates.keys() >= self._wanted

    def wants_rest(self) -> bool:
        """Some symbol has no book yet (the usual case: every one has, and nothing is fetched)."""
        return not self._complete

    async def fetch_rest(self, receipt_ts: float) -> list[FeedEvent]:
        """Live, after each message: fetch the snapshot of every subscribed symbol without a book."""
        events: list[FeedEvent] = []
        for symbol in self._symbols:
            waiting = symbol in self.subscribed and symbol not in self.gates
            if waiting and receipt_ts >= self._retry_at.get(symbol, float("-inf")):
                events.extend(await self._fetch_snapshot(symbol, receipt_ts))
        return events

    async def _fetch_snapshot(self, symbol: str, receipt_ts: float) -> list[FeedEvent]:
        url = self.snapshot_url(symbol)
        try:
            body = await self.feed.http_conn.read(url)
        except Exception as exc:  # transport or HTTP status: no book yet, retried later
            self._retry_at[symbol] = receipt_ts + SNAPSHOT_RETRY_S
            self._now = receipt_ts
            self._on_error(SnapshotUnavailable(f"{symbol}: order_book snapshot failed: {exc}"), receipt_ts)
            return self.maintainer.drain()
        events = self.on_rest(url, body, receipt_ts)
        if symbol in self.gates:
            self._retry_at.pop(symbol, None)
        else:  # the answer was refused (unreadable, crossed): ask again later, not at every message
            self._retry_at[symbol] = receipt_ts + SNAPSHOT_RETRY_S
        return events

    def on_disconnect(self, receipt_ts: float) -> list[FeedEvent]:
        """The connection dropped: no channel is active any more and buffered diffs belong to it."""
        self.subscribed.clear()
        self.buffers.clear()
        self._retry_at.clear()
        return super().on_disconnect(receipt_ts)
