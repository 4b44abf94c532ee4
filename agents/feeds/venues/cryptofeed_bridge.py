"""Drive cryptofeed's exchange classes as the venue parsers, live and in replay alike.

cryptofeed (2.4.1, the newest release for Python 3.11) decodes and dispatches each venue's messages; by
default it also keeps its own Decimal book and its callbacks hand us every snapshot and delta with the raw
message (``CryptofeedSession._on_book``). The venues here override the exchange class's book handler instead
and put the decoded levels straight into our book: dropping that second, Decimal, book halved the time per
message on Binance, Gemini and Bitstamp and cut Kraken's by a third (``bench/bench_feeds.py``). We add what
the library lacks: a normalized float book (``BookMaintainer``), checksum and sequence checks that surface as
events, crossed-book detection and resynchronisation.

Replay calls the exact same ``message_handler`` coroutine: every REST answer it awaits is served from the
recording, so the coroutine never suspends and is driven with ``send(None)`` without an event loop
(``run_sync``); live, the adapter awaits it inside asyncio.

Every message passes ``guard.check_message`` (length, nesting) before any decoder sees it, and whatever the
handler raises (an undocumented message, a refused value, a library error) voids the connection's books with a
``FeedError`` and a ``Resync``: a message is either applied in full or the books are void, never skipped.
Venues without a REST snapshot (``resubscribe_to_resync``) also set ``reconnect_requested`` whenever a book
went void, since only a fresh subscription rebuilds it.
"""

from __future__ import annotations

import decimal
import json
from collections.abc import Coroutine, Sequence
from typing import Any, ClassVar

from cryptofeed.defines import L2_BOOK, TRADES
from cryptofeed.exceptions import UnsupportedSymbol
from cryptofeed.symbols import Symbols

from agents.feeds.maintainer import BookMaintainer, ChecksumFn
from agents.feeds.session import RestSource, SnapshotUnavailable, VenueSession
from agents.feeds.venues.guard import MessageRefused, check_message, trade_values
from sdk.adapters.events import FeedError, FeedErrorKind, FeedEvent, Level, Resync, Side, Trade


class ReplaySuspendedError(RuntimeError):
    """A handler awaited real I/O during a synchronous replay step (a REST source that is not recorded)."""


def run_sync(coro: Coroutine[Any, Any, Any]) -> None:
    """Run a coroutine that must complete without suspending (every await it makes is already resolved)."""
    try:
        coro.send(None)
    except StopIteration:
        return
    coro.close()
    raise ReplaySuspendedError("a feed handler awaited real I/O in synchronous replay")


class ReplayConnection:
    """Stands in for cryptofeed's websocket connection in replay: subscriptions are kept, not sent."""

    conn_type = "wss"

    def __init__(self, subscription: dict[str, list[str]], uuid: str = "replay") -> None:
        self.subscription = subscription
        self.uuid = uuid
        self.sent: list[str] = []

    async def write(self, msg: str) -> None:
        self.sent.append(msg)


def install_symbols(feed_class: Any, metadata: object) -> None:
    """Give cryptofeed the venue's instrument list from a recorded REST answer (no network)."""
    normalized, info = feed_class._parse_symbol_data(metadata)
    Symbols.set(feed_class.id, normalized, info)


def _levels(pairs: Sequence[tuple[Any, Any]]) -> list[Level]:
    return [(float(p), float(s)) for p, s in pairs]


class CryptofeedSession(VenueSession):
    """A venue session whose parsing is a cryptofeed ``Feed`` subclass (``feed_class``)."""

    feed_class: ClassVar[Any]
    max_depth: ClassVar[int | None] = None
    """Depth the venue streams; levels beyond it are truncated (the venue never deletes them)."""
    rest_in_stream: ClassVar[bool] = False
    """Replay: REST answers are applied when recorded (True) or served when the parser asks (False)."""
    resubscribe_to_resync: ClassVar[bool] = False
    """The venue has no REST snapshot in step with the stream: a void book asks for a resubscription."""

    @classmethod
    def symbol_metadata(cls, bodies: Sequence[str]) -> object:
        """The recorded instrument-list answer(s) in the shape ``feed_class._parse_symbol_data`` takes."""
        if not bodies:
            raise ValueError(f"{cls.venue}: no recorded instrument list to build the symbol map from")
        return json.loads(bodies[0])

    @classmethod
    async def fetch_symbol_bodies(cls, rest: RestSource) -> list[str]:
        """Live: the REST answers ``symbol_metadata`` takes, fetched through ``rest`` (default: the
        instrument list at cryptofeed's ``instruments`` route)."""
        endpoint = cls.feed_class.rest_endpoints[0]
        return [await rest.read(endpoint.address + endpoint.routes.instruments)]

    @classmethod
    def load_symbols(cls, bodies: Sequence[str]) -> None:
        """Install the venue's symbol map from recorded REST answers (replay never asks the network)."""
        install_symbols(cls.feed_class, cls.symbol_metadata(bodies))

    def __init__(
        self,
        symbols: Sequence[str],
        *,
        rest: RestSource | None = None,
        trades: bool = True,
        cross_check: bool = True,
    ) -> None:
        if not symbols:
            raise ValueError("symbols must name at least one instrument, got an empty list")
        super().__init__(
            BookMaintainer(
                self.venue, checksum=self.checksum_fn(), max_depth=self.max_depth, cross_check=cross_check
            )
        )
        self._symbols = list(symbols)
        self._now = 0.0
        self._unavailable: set[str] = set()
        self._alarms_seen = 0
        subscription: dict[str, list[str]] = {L2_BOOK: list(symbols)}
        callbacks: dict[str, Any] = {L2_BOOK: self._on_book}
        if trades:
            subscription[TRADES] = list(symbols)
            callbacks[TRADES] = self._on_trade
        self.feed = self.feed_class(
            subscription=subscription, callbacks=callbacks, checksum_validation=False, **self.feed_options()
        )
        self.feed.arb_session = self
        if rest is not None:
            self.feed.http_conn = rest
        self.connections = self.feed.connect()
        self._handler = self.connections[0][2]

    def feed_options(self) -> dict[str, Any]:
        """Extra keyword arguments for the cryptofeed class."""
        return {}

    def checksum_fn(self) -> ChecksumFn | None:
        return None

    def symbols(self) -> list[str]:
        return list(self._symbols)

    def start(self) -> list[FeedEvent]:
        """Replay: run each connection's subscribe step against a recording stand-in."""
        for conn, subscribe, _handler, _auth in self.connections:
            run_sync(subscribe(ReplayConnection(dict(conn.subscription))))
        return self.maintainer.drain()

    def on_message(self, text: str, receipt_ts: float) -> list[FeedEvent]:
        self._now = receipt_ts
        self.messages += 1
        try:
            run_sync(self._handler(check_message(text), None, receipt_ts))
        except Exception as exc:  # every library error becomes an event; the books are voided, not guessed
            self._on_error(exc, receipt_ts)
        return self._drained()

    async def on_message_async(self, text: str, receipt_ts: float) -> list[FeedEvent]:
        self._now = receipt_ts
        self.messages += 1
        try:
            await self._handler(check_message(text), None, receipt_ts)
        except Exception as exc:
            self._on_error(exc, receipt_ts)
        maintainer = self.maintainer  # ``_drained`` inlined for the usual message (no error, no resync)
        events = maintainer.events
        maintainer.events = []
        if maintainer.alarms != self._alarms_seen:
            events = self._alarmed(events)
        if self.rest_after_messages and self.wants_rest():
            events.extend(await self.fetch_rest(receipt_ts))
        return events

    rest_after_messages: ClassVar[bool] = False
    """Live: the venue may have REST requests to make after a message (``wants_rest``, ``fetch_rest``).
    A flag and a plain call on every message, not an overriding coroutine: an extra ``await`` layer cost
    Bitstamp about 5% of its live path."""

    def wants_rest(self) -> bool:
        """Live: whether ``fetch_rest`` has anything to request after the current message."""
        return False

    async def fetch_rest(self, receipt_ts: float) -> list[FeedEvent]:
        """Live: the REST requests due after a message, and the events of their answers."""
        return []

    def _drained(self) -> list[FeedEvent]:
        """The message's events; a book voided by the maintainer's own checks (a crossed book, a refused
        level) also drops the venue's sync state for it, so it resynchronises like after any other void."""
        maintainer = self.maintainer
        events = maintainer.drain()
        if maintainer.alarms == self._alarms_seen:
            return events  # no error or resync since the last message: nothing below could apply
        return self._alarmed(events)

    def _alarmed(self, events: list[FeedEvent]) -> list[FeedEvent]:
        """``events`` after errors or resyncs were emitted: the venue's sync state follows the voids."""
        self._alarms_seen = self.maintainer.alarms
        if any(isinstance(e, Resync) for e in events):
            self.after_invalidate()
        if self.resubscribe_to_resync and voided(events):
            self.reconnect_requested = True
        return events

    def on_corrupt(self, detail: str, receipt_ts: float) -> list[FeedEvent]:
        events = super().on_corrupt(detail, receipt_ts)
        if self.resubscribe_to_resync:
            self.reconnect_requested = True
        return events

    def _on_error(self, exc: Exception, receipt_ts: float) -> None:
        if isinstance(exc, SnapshotUnavailable):
            if str(exc) not in self._unavailable:
                self._unavailable.add(str(exc))
                self.maintainer.events.append(self._error(FeedErrorKind.SNAPSHOT_UNAVAILABLE, str(exc)))
            return
        if isinstance(exc, ReplaySuspendedError):
            raise exc
        self.errors += 1
        if isinstance(exc, MessageRefused):
            kind = exc.kind
        elif isinstance(exc, decimal.InvalidOperation | ValueError) and not isinstance(
            exc, UnsupportedSymbol
        ):
            kind = FeedErrorKind.INVALID_VALUE
            if isinstance(exc, json.JSONDecodeError) or "json" in type(exc).__module__.lower():
                kind = FeedErrorKind.MALFORMED
        else:
            kind = FeedErrorKind.MALFORMED
        detail = f"{type(exc).__name__}: {exc}"[:300]
        self.maintainer.invalidate_all(kind, detail, receipt_ts)
        self.after_invalidate()

    def _error(self, kind: FeedErrorKind, detail: str) -> FeedError:
        return FeedError(self.venue, None, kind, detail, self._now)

    async def _on_book(self, book: Any, _receipt_ts: float) -> None:
        delta = book.delta
        if delta is None or self.is_snapshot(book):
            self.on_library_snapshot(book)
        else:
            self.maintainer.update(
                book.symbol,
                _levels(delta["bid"]),
                _levels(delta["ask"]),
                self._now,
                exchange_ts=book.timestamp,
                sequence=book.sequence_number,
            )

    def is_snapshot(self, book: Any) -> bool:
        """Venue rule for a full-book message that cryptofeed reports with a delta."""
        return False

    def on_library_snapshot(self, book: Any) -> None:
        self.maintainer.snapshot(
            book.symbol,
            _levels(book.book.bids.to_list()),
            _levels(book.book.asks.to_list()),
            self._now,
            exchange_ts=book.timestamp,
            sequence=book.sequence_number,
        )

    async def _on_trade(self, trade: Any, _receipt_ts: float) -> None:
        """A trade cryptofeed parsed, refused (voiding the books) unless its numbers are in range."""
        price, amount = trade_values(trade.price, trade.amount, f"{trade.symbol} trade")
        timestamp = trade.timestamp
        if timestamp is not None and not (isinstance(timestamp, float | int) and 0 <= timestamp < 1e11):
            raise MessageRefused(
                f"{trade.symbol} trade: timestamp {str(timestamp)[:40]!r} is not epoch seconds"
            )
        self.maintainer.events.append(
            Trade(
                self.venue,
                trade.symbol,
                Side.BUY if trade.side == "buy" else Side.SELL,
                price,
                amount,
                self._now,
                None if timestamp is None else float(timestamp),
                None if trade.id is None else str(trade.id)[:128],
            )
        )


def voided(events: Sequence[FeedEvent]) -> bool:
    """Whether a book went void (or could not be built) while handling one message."""
    return any(
        isinstance(e, Resync)
        or (isinstance(e, FeedError) and e.kind is not FeedErrorKind.SNAPSHOT_UNAVAILABLE)
        for e in events
    )
