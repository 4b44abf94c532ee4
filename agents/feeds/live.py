"""A venue's market data, live: its websocket, parsed by the same session (cryptofeed's classes) as replay.

``LiveFeed`` owns one websocket connection per cryptofeed connection of a ``CryptofeedSession``: it fetches
the venue's instrument list over REST (so cryptofeed never reaches out on its own), connects, lets the
library's own subscribe step write the subscription, and hands every received message to the session,
which keeps the books (``BookMaintainer``: checksums, sequence chains, crossed-book checks, resync). On a
drop every book of the connection is voided (``FeedError`` + ``Resync``) and the feed reconnects with
jittered backoff; books come back only with a fresh snapshot. ``last_message`` is when the last message
arrived (our clock): staleness is judged on real arrivals, not on the venue's timestamps.

Endpoints are the venue's own unless the venue config points them elsewhere (tests use loopback fakes that
speak the venue's protocol): the configured base replaces scheme and host, cryptofeed's path is kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import websockets

from agents.feeds.session import RestSource
from agents.feeds.venues.cryptofeed_bridge import CryptofeedSession
from agents.retry import Backoff
from sdk.adapters.events import FeedEvent

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 16 * 1024 * 1024
"""Largest websocket message accepted (full-book snapshots of deep books are a few MiB)."""


def rebase(url: str, base: str | None) -> str:
    """``url`` with scheme and host of ``base`` (path and query kept); ``url`` itself without a base."""
    if not base:
        return url
    target = urlsplit(base)
    parts = urlsplit(url)
    return urlunsplit((target.scheme, target.netloc, parts.path, parts.query, parts.fragment))


class HttpRest:
    """``RestSource`` over aiohttp, every address rebased onto the venue's configured REST base."""

    def __init__(self, base: str | None, *, timeout_s: float = 10.0) -> None:
        self.base = base
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None
        self.requests = 0

    async def read(self, address: str, **kwargs: object) -> str:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        self.requests += 1
        async with self._session.get(rebase(address, self.base)) as response:
            response.raise_for_status()
            return await response.text()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class _SocketWriter:
    """What cryptofeed's subscribe step writes to: our websocket, with the connection's subscription."""

    conn_type = "wss"

    def __init__(self, socket: Any, subscription: dict[str, list[str]], uuid: str) -> None:
        self._socket = socket
        self.subscription = subscription
        self.uuid = uuid

    async def write(self, msg: str) -> None:
        await self._socket.send(msg)


EventSink = Callable[[Sequence[FeedEvent]], None]


class LiveFeed:
    """One live connection of a venue session.

    Parameters
    ----------
    session:
        The venue's parser; it was built with ``rest`` as its REST source.
    ws_base:
        Scheme and host replacing the venue's websocket endpoint (``None``: the venue's own).
    on_events:
        Receives the normalized events of each message, on the feed's event loop.
    """

    def __init__(
        self,
        session: CryptofeedSession,
        *,
        ws_base: str | None = None,
        on_events: EventSink | None = None,
        backoff: Backoff | None = None,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.time,
        pace: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        self.session = session
        self.pace = pace
        """Awaited before each message (a consumer that must see every event before the book moves on)."""
        self.ws_base = ws_base
        self.on_events = on_events
        self.backoff = backoff or Backoff(initial=0.2, maximum=5.0)
        self.rng = rng or random.SystemRandom()
        self.clock = clock
        self.connects = 0
        self.reconnects = 0
        self.messages = 0
        """Messages received over every connection (``LiveMarket.health`` turns it into a rate)."""
        self.last_message = 0.0
        self.last_error = ""
        self._socket: Any = None

    def address(self) -> str:
        conn = self.session.connections[0][0]
        return rebase(str(conn.address), self.ws_base)

    def _emit(self, events: Sequence[FeedEvent]) -> None:
        if events and self.on_events is not None:
            self.on_events(events)

    async def run(self, stop: asyncio.Event) -> None:
        """Connect, subscribe, parse; reconnect after every drop until ``stop`` is set."""
        attempt = 0
        conn, subscribe, _handler, _auth = self.session.connections[0]
        while not stop.is_set():
            try:
                async with websockets.connect(
                    self.address(), max_size=MAX_MESSAGE_BYTES, ping_interval=20, open_timeout=10
                ) as socket:
                    self._socket = socket
                    self.connects += 1
                    attempt = 0
                    await subscribe(_SocketWriter(socket, dict(conn.subscription), f"live-{self.connects}"))
                    self._emit(self.session.maintainer.drain())
                    await self._pump(socket, stop)
            except asyncio.CancelledError:
                self._emit(self.session.on_disconnect(self.clock()))  # cancelled: books void, never stale
                raise
            except Exception as exc:  # every transport failure means the same: void, back off, reconnect
                self.last_error = f"{type(exc).__name__}: {exc}"[:300]
                log.warning("%s: feed connection failed: %s", self.session.venue, self.last_error)
            finally:
                self._socket = None
            self._emit(self.session.on_disconnect(self.clock()))
            if stop.is_set():
                return
            self.reconnects += 1
            delay = self.backoff.delay(attempt, self.rng)
            attempt += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay)

    async def _pump(self, socket: Any, stop: asyncio.Event) -> None:
        """Hand every message to the session until the socket closes or ``stop`` is set (a watcher closes
        the socket then, so the receive loop itself stays one ``await`` per message)."""

        async def watch() -> None:
            await stop.wait()
            await socket.close()

        watcher = asyncio.ensure_future(watch())
        session = self.session
        clock = self.clock
        pace = self.pace
        try:
            async for message in socket:
                if pace is not None:
                    await pace()
                now = clock()
                self.last_message = now
                self.messages += 1
                text = message if isinstance(message, str) else message.decode("utf-8", "replace")
                events = await session.on_message_async(text, now)
                if events and self.on_events is not None:
                    self.on_events(events)
                if session.reconnect_requested:
                    session.reconnect_requested = False
                    return  # resubscribe on a fresh connection: the venue's snapshot rebuilds the book
        finally:
            watcher.cancel()

    async def drop(self) -> None:
        """Close the current connection (tests and operators); the feed reconnects by itself."""
        if self._socket is not None:
            await self._socket.close()

    def age(self, now: float | None = None) -> float:
        """Seconds since the last message arrived (``inf`` before any)."""
        if self.last_message == 0.0:
            return float("inf")
        return (self.clock() if now is None else now) - self.last_message


async def load_live_symbols(session_class: type[CryptofeedSession], rest: RestSource) -> None:
    """Install the venue's instrument list in cryptofeed from its REST API (through ``rest``), so the
    library never fetches it on its own (and a fake venue's list is the one used)."""
    session_class.load_symbols(await session_class.fetch_symbol_bodies(rest))
