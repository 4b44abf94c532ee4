"""What every venue session does: turn raw messages of one connection into normalized, checked events.

A session is the parsing path shared by live feeds and replay: the live adapter feeds it the websocket's
messages as they arrive, the replayer feeds it recorded ones. It never does I/O itself except through the
REST source it is given (live HTTP, or the recording's captured responses).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Protocol

from agents.feeds.book import L2Book
from agents.feeds.maintainer import BookMaintainer
from sdk.adapters.events import FeedErrorKind, FeedEvent


class SnapshotUnavailable(LookupError):
    """No REST snapshot can be had for a resync (replay ran past its recorded ones, or the venue refused)."""


class RestSource(Protocol):
    """Where a session gets REST answers (depth snapshots); async so live HTTP and recordings fit alike."""

    async def read(self, address: str, **kwargs: object) -> str: ...


class RecordedRest:
    """REST answers captured in a recording, served in recorded order per URL (as they were fetched)."""

    def __init__(self, responses: Sequence[tuple[str, str]] = ()) -> None:
        self._queues: dict[str, list[str]] = {}
        for url, body in responses:
            self.add(url, body)

    def add(self, url: str, body: str) -> None:
        self._queues.setdefault(url, []).append(body)

    def pending(self, url: str) -> int:
        return len(self._queues.get(url, ()))

    async def read(self, address: str, **kwargs: object) -> str:
        queue = self._queues.get(address)
        if not queue:
            raise SnapshotUnavailable(f"no recorded REST answer left for {address}")
        return queue.pop(0)

    async def close(self) -> None:
        """cryptofeed closes its HTTP connection on shutdown."""


class VenueSession:
    """Base of the venue sessions: a ``BookMaintainer`` plus the venue's message handling."""

    venue: ClassVar[str]
    """Our venue name (lower case), also the manifest's ``venue``."""

    def __init__(self, maintainer: BookMaintainer) -> None:
        self.maintainer = maintainer
        self.messages = 0
        self.errors = 0
        self.reconnect_requested = False
        """Set by venues without REST snapshots when a book must be rebuilt: the live feed then drops the
        connection and resubscribes (the venue sends a fresh snapshot on subscription)."""

    def on_message(self, text: str, receipt_ts: float) -> list[FeedEvent]:
        """Handle one received websocket message synchronously; return the events it produced."""
        raise NotImplementedError

    async def on_message_async(self, text: str, receipt_ts: float) -> list[FeedEvent]:
        """Live path: the same handling, allowed to await REST snapshots."""
        return self.on_message(text, receipt_ts)

    def on_rest(self, url: str, body: str, receipt_ts: float) -> list[FeedEvent]:
        """A REST answer that arrived in the stream (snapshot venues); default: ignored."""
        return self.maintainer.drain()

    def on_corrupt(self, detail: str, receipt_ts: float) -> list[FeedEvent]:
        """An unreadable message of this connection: every book it carries may have missed an update."""
        self.errors += 1
        self.maintainer.invalidate_all(FeedErrorKind.MALFORMED, detail, receipt_ts)
        self.after_invalidate()
        return self.maintainer.drain()

    def on_disconnect(self, receipt_ts: float) -> list[FeedEvent]:
        """The connection dropped: every book is void until its next snapshot."""
        self.maintainer.invalidate_all(FeedErrorKind.DISCONNECTED, "connection lost", receipt_ts)
        self.after_invalidate()
        return self.maintainer.drain()

    def after_invalidate(self) -> None:
        """Hook: forget library-side state of the voided books so the next snapshot starts clean."""

    def book(self, symbol: str) -> L2Book | None:
        return self.maintainer.book(symbol)

    def symbols(self) -> list[str]:
        raise NotImplementedError
