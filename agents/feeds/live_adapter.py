"""The SDK's ``DataFeedAdapter`` over a live venue connection (``LiveFeed``), one class per venue.

What the conformance kit and adapter authors see of a live venue: ``connect`` installs the venue's
instrument list from its REST API, builds the venue's session for the subscribed symbols and starts the
websocket task; ``events()`` yields what the session emits; ``disconnect`` closes the connection and voids
every book. Each venue gets its own subclass (``feed_adapter_class``) so its manifest is a class attribute,
as the contract asks.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Sequence
from functools import cache
from typing import ClassVar

from agents.feeds.book import L2Book
from agents.feeds.live import HttpRest, LiveFeed, load_live_symbols
from agents.feeds.venues.cryptofeed_bridge import CryptofeedSession
from agents.venues.spec import VenueSpec
from sdk.adapters.events import BookSnapshot, BookUpdate, FeedEvent
from sdk.adapters.interfaces import LatencyStats
from sdk.adapters.manifest import DEFAULT_IR_RANGE, AdapterKind, AdapterManifest, Capability, VenueKind


class LiveFeedAdapter:
    """A venue's live market data as a ``DataFeedAdapter`` (see ``feed_adapter``)."""

    manifest: ClassVar[AdapterManifest]
    spec: ClassVar[VenueSpec]

    def __init__(self, *, ws_base: str | None = None, rest_base: str | None = None) -> None:
        self.ws_base = ws_base or self.spec.ws_url
        self.rest_base = rest_base or self.spec.rest_url
        self._symbols: list[str] = []
        self._connected = False
        self._queue: asyncio.Queue[FeedEvent] = asyncio.Queue()
        self._drained = asyncio.Event()
        self._drained.set()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._rest: HttpRest | None = None
        self.feed: LiveFeed | None = None
        self.session: CryptofeedSession | None = None

    async def connect(self) -> None:
        """Start the connection; with no symbols yet it starts at the first ``subscribe_books``."""
        self._connected = True
        if self._task is None and self._symbols:
            await self._start()

    async def _start(self) -> None:
        session_class = self.spec.feed_session
        if not issubclass(session_class, CryptofeedSession):
            raise TypeError(f"{self.spec.name}: {session_class.__name__} has no live connection")
        self._rest = HttpRest(self.rest_base)
        await load_live_symbols(session_class, self._rest)
        self.session = session_class(self._symbols, rest=self._rest)
        self.feed = LiveFeed(self.session, ws_base=self.ws_base, on_events=self._put, pace=self._pace)
        self._stop = asyncio.Event()
        self._task = asyncio.ensure_future(self.feed.run(self._stop))

    async def _pace(self) -> None:
        """Hold the next message until the consumer took the last one's events (never once stopping)."""
        if not self._stop.is_set():
            await self._drained.wait()

    def _put(self, events: Sequence[FeedEvent]) -> None:
        for event in events:
            self._queue.put_nowait(event)
        if events:
            self._drained.clear()

    async def disconnect(self) -> None:
        self._connected = False
        if self._task is None:
            return
        self._stop.set()
        self._drained.set()  # a message held for the consumer must not hold up the stop
        if self.feed is not None:
            await self.feed.drop()
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            await asyncio.wait_for(self._task, timeout=5)
        self._task = None
        # Book events still queued describe a connection that is gone (its final Resyncs void every book it
        # carried) while book() already answers for it, or for the next one: drop them, keep the rest.
        queued = [self._queue.get_nowait() for _ in range(self._queue.qsize())]
        for event in queued:
            if not isinstance(event, BookSnapshot | BookUpdate):
                self._queue.put_nowait(event)
        if self._rest is not None:
            await self._rest.close()

    async def reconnect(self) -> None:
        """Drop the connection; the feed voids its books and reconnects by itself."""
        if self.feed is not None:
            await self.feed.drop()

    async def subscribe_books(self, symbols: Sequence[str]) -> None:
        """Books of ``symbols``; a running connection restarts with the widened subscription."""
        added = [s for s in symbols if s not in self._symbols]
        self._symbols.extend(added)
        if not self._connected or not added:
            return
        if self._task is not None:
            await self.disconnect()
            self._connected = True
        await self._start()

    async def subscribe_trades(self, symbols: Sequence[str]) -> None:
        await self.subscribe_books(symbols)

    async def subscribe_funding(self, symbols: Sequence[str]) -> None:
        raise NotImplementedError(f"{self.spec.name} is a spot venue: no funding")

    async def events(self) -> AsyncIterator[FeedEvent]:
        """The feed's events in order. The next message is parsed only once the consumer has taken every
        event of the previous one and comes back for more, so ``book()`` always matches the events seen
        (what the conformance kit checks); the agent itself reads books through ``LiveMarket``, unpaced."""
        while self._task is not None or not self._queue.empty():
            if self._queue.empty():
                self._drained.set()
            try:
                event = await asyncio.wait_for(self._queue.get(), timeout=0.25)
            except TimeoutError:
                if self._task is None or self._task.done():
                    return
                continue
            yield event

    def book(self, symbol: str) -> L2Book | None:
        return self.session.book(symbol) if self.session is not None else None

    async def server_time(self) -> float:
        """Our clock at the last message's arrival (spot venues' REST time endpoints are not needed)."""
        return self.feed.last_message if self.feed is not None and self.feed.last_message else time.time()

    def latency(self) -> LatencyStats:
        return LatencyStats(0, None, None, None)


@cache
def feed_adapter_class(spec: VenueSpec) -> type[LiveFeedAdapter]:
    """The ``LiveFeedAdapter`` subclass of one venue, with its manifest."""
    manifest = AdapterManifest(
        ir_range=DEFAULT_IR_RANGE,
        name=f"{spec.name}-live-feed",
        version="1.0.0",
        venue=spec.name,
        kind=AdapterKind.DATA_FEED,
        venue_kind=VenueKind.ORDER_BOOK,
        symbols=(),
        capabilities=frozenset({Capability.BOOKS, Capability.TRADES}),
        endpoints={"ws": spec.ws_url, "rest": spec.rest_url},
        library="cryptofeed==2.4.1",
    )
    return type(f"{spec.name.capitalize()}LiveFeed", (LiveFeedAdapter,), {"manifest": manifest, "spec": spec})


def feed_adapter(
    spec: VenueSpec, symbols: Sequence[str], *, ws_base: str | None = None, rest_base: str | None = None
) -> LiveFeedAdapter:
    """A live feed adapter of ``spec``'s venue, subscribed to ``symbols`` (connect to start it)."""
    adapter = feed_adapter_class(spec)(ws_base=ws_base, rest_base=rest_base)
    adapter._symbols = list(symbols)
    return adapter
