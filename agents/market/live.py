"""A real venue's market, live: its websocket in a background event loop, books -> curves on demand.

The feed thread runs the venue's ``LiveFeed`` (cryptofeed's parser inside our session: checksums, sequence
chains, crossed-book checks, reconnect with backoff, resync). The planner never touches the books from its
own thread: ``refresh`` runs on the feed's loop between two messages (``run_coroutine_threadsafe``),
reads each book's curve from a ``CurveCache`` (rebuilt only where the watched top levels changed) and
judges freshness on real message arrival: an asset whose book is void, or whose connection has been
silent longer than ``stale_after_s``, is paused (the agent plans nothing on it)
and resumes as soon as messages flow again.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from agents.feeds.curve_cache import CurveCache, order_book_curves
from agents.feeds.live import HttpRest, LiveFeed, load_live_symbols
from agents.feeds.session import RestSource
from agents.feeds.venues.cryptofeed_bridge import CryptofeedSession
from agents.market.background import BackgroundLoop, wait_ready
from agents.market.source import FeedHealth, MarketView, TickObserver
from agents.perps.funding import FundingEvent
from agents.perps.streams import FundingClock, PerpTerms, perp_curve
from agents.venues.spec import VenueSpec
from sdk.adapters.events import BookSnapshot, BookUpdate, FeedError, FeedEvent, Funding, Resync
from sdk.curves.base import CostCurve
from sdk.curves.order_book import OrderBookCurve

CURVE_DEPTH = 20


@dataclass(frozen=True)
class CurveRules:
    """How one instrument's book becomes its cost curve (fees, lots, caps)."""

    asset: str
    symbol: str
    taker_fee_bps: float
    book_usage: float
    lot_size: float
    min_notional: float
    max_buy: float | None = None
    max_sell: float | None = None


StatusSink = Callable[[dict[str, object]], None]


class LiveMarket:
    """One venue's live books and curves (see the module docstring)."""

    def __init__(
        self,
        spec: VenueSpec,
        rules: Sequence[CurveRules],
        *,
        ws_base: str | None = None,
        rest_base: str | None = None,
        stale_after_s: float = 5.0,
        on_status: StatusSink | None = None,
        clock: Callable[[], float] = time.time,
        rest: RestSource | None = None,
        perp: PerpTerms | None = None,
    ) -> None:
        if not issubclass(spec.feed_session, CryptofeedSession):
            raise TypeError(f"{spec.name}: {spec.feed_session.__name__} has no live connection")
        self.spec = spec
        self.rules = {r.asset: r for r in rules}
        self.ws_base = ws_base or spec.ws_url
        self.rest_base = rest_base or spec.rest_url
        self.stale_after_s = stale_after_s
        self.on_status = on_status
        self.clock = clock
        self.rest = rest
        """REST answers (instrument list, snapshots): the venue's API at ``rest_base`` unless given (replays
        and benchmarks pass recorded answers)."""
        self.session: CryptofeedSession | None = None
        self.feed: LiveFeed | None = None
        self.caches: dict[str, CurveCache[OrderBookCurve]] = {}
        self.errors: list[str] = []
        self.resyncs = 0
        self._background = BackgroundLoop(f"feed-{spec.name}")
        self._started = threading.Event()
        self._failure: BaseException | None = None
        self._paused: dict[str, str] = {}
        self._observer: TickObserver | None = None
        self._asset_of = {r.symbol: r.asset for r in rules}
        self._health_mark: tuple[int, float] = (0, 0.0)
        self.perp = perp
        """Perpetual venues: each asset's curve is a ``PerpetualCurve`` carrying the venue's funding."""
        self.funding: dict[str, Funding] = {}
        """The last funding and mark observation per symbol (the feed thread writes, ``_view`` reads)."""
        self.funding_clock = FundingClock()
        self.on_funding: Callable[[str, FundingEvent], object] | None = None
        """Told ``(asset, event)`` at each funding settlement the stream reveals (the runtime books it)."""

    # -- lifecycle --------------------------------------------------------------------------------------
    def start(self, timeout_s: float = 30.0) -> None:
        """Connect (instrument list over REST, then the websocket) in a background thread."""
        if self._background.started:
            return
        deadline = time.monotonic() + timeout_s
        if not self._background.start(self._main, timeout_s) or not self._started.wait(
            max(0.0, deadline - time.monotonic())
        ):
            raise TimeoutError(f"{self.spec.name}: the feed did not start within {timeout_s} s")
        if self._failure is not None:
            raise RuntimeError(
                f"{self.spec.name}: the feed could not start: {self._failure}"
            ) from self._failure

    async def _main(self, stop: asyncio.Event) -> None:
        http = HttpRest(self.rest_base)
        rest: RestSource = self.rest if self.rest is not None else http
        try:
            session_class = self.spec.feed_session
            assert issubclass(session_class, CryptofeedSession)
            await load_live_symbols(session_class, rest)
            session = session_class([r.symbol for r in self.rules.values()], rest=rest)
            self.session = session
            for asset, rule in self.rules.items():
                self.caches[asset] = order_book_curves(
                    session.book,
                    depth=CURVE_DEPTH,
                    taker_fee_bps=rule.taker_fee_bps,
                    book_usage=rule.book_usage,
                    lot_size=rule.lot_size,
                    min_notional=rule.min_notional,
                    max_buy=rule.max_buy,
                    max_sell=rule.max_sell,
                )
            self.feed = LiveFeed(session, ws_base=self.ws_base, on_events=self._on_events, clock=self.clock)
        except Exception as exc:
            self._failure = exc
            self._started.set()
            await http.close()
            return
        self._started.set()
        try:
            await self.feed.run(stop)
        finally:
            await http.close()

    def _on_events(self, events: Sequence[FeedEvent]) -> None:
        # No ``cache.observe(events)`` here: ``_view`` pulls each curve with ``CurveCache.curve``, which
        # compares the book's versions itself, so marking every cache on every message (one call per
        # instrument per message) changed nothing and cost ~15% of the feed thread on ten instruments.
        for event in events:  # exact types (the events are final dataclasses): cheaper than isinstance
            if type(event) is FeedError:
                self.errors.append(f"{event.kind.value}: {event.detail}"[:300])
                del self.errors[:-50]
            elif type(event) is Resync:
                self.resyncs += 1
            elif type(event) is Funding:
                self._on_funding(event)
        if self._observer is not None:
            self._observe(events, self._observer)

    def _on_funding(self, event: Funding) -> None:
        self.funding[event.symbol] = event
        asset = self._asset_of.get(event.symbol)
        for settled in self.funding_clock.observe(event):
            if asset is not None and self.on_funding is not None:
                try:
                    self.on_funding(asset, settled)
                except Exception as exc:  # the feed must outlive a failing booking; it is reported
                    self.errors.append(f"funding booking failed for {event.symbol}: {exc}"[:300])
                    del self.errors[:-50]

    # -- the risk gates' hook (separate from planning: called on the feed thread, on every update) --------
    def set_observer(self, observer: TickObserver | None) -> None:
        """Report every later book update to ``observer``: ``(asset, mid)``, ``None`` once a book is void."""
        self._observer = observer

    def _observe(self, events: Sequence[FeedEvent], observer: TickObserver) -> None:
        """One call per asset whose book these events touched, with its mid after them (the feed thread
        owns the books, so reading them here is safe); the observer only queues, so this never blocks."""
        session = self.session
        if session is None:
            return
        touched = {e.symbol for e in events if isinstance(e, BookSnapshot | BookUpdate | Resync)}
        for symbol in sorted(touched):
            asset = self._asset_of.get(symbol)
            if asset is None:
                continue
            book = session.book(symbol)
            try:
                observer(asset, book.mid() if book is not None else None)
            except Exception:  # the feed must outlive a broken observer
                self.errors.append(f"observer failed for {symbol}")
                del self.errors[:-50]

    def close(self) -> None:
        """Stop the feed (its receive loop closes the socket when the stop is set) and join the thread."""
        self._background.close()

    # -- what the planner reads ---------------------------------------------------------------------------
    def refresh(self, index: int = 0) -> MarketView:
        if self._background.loop is None or self.feed is None:
            raise RuntimeError(f"{self.spec.name}: the live market is not started")
        view = self._background.call(self._view())
        self._report(view.paused)
        return view

    async def _view(self) -> MarketView:
        assert self.session is not None and self.feed is not None
        now = self.clock()
        age = self.feed.age(now)
        curves: dict[str, CostCurve] = {}
        mids: dict[str, float] = {}
        paused: dict[str, str] = {}
        for asset, rule in self.rules.items():
            book = self.session.book(rule.symbol)
            curve = self.caches[asset].curve(rule.symbol)
            if book is None or curve is None:
                paused[asset] = f"{rule.symbol} book void (awaiting a snapshot)"
                continue
            if age > self.stale_after_s:
                paused[asset] = f"{rule.symbol} feed silent for {age:.1f} s (limit {self.stale_after_s:g} s)"
            mid = book.mid()
            if self.perp is not None and mid is not None:
                curves[asset] = perp_curve(curve, self.funding.get(rule.symbol), mid, self.perp)
            else:
                curves[asset] = curve
            if mid is not None:
                mids[asset] = mid
        return MarketView(curves=curves, mids=mids, paused=paused)

    def health(self) -> dict[str, FeedHealth]:
        """The websocket's health: messages per second since the previous call, staleness, reconnects."""
        feed = self.feed
        if feed is None:
            return {}
        now = self.clock()
        count, then = self._health_mark
        rate = (feed.messages - count) / (now - then) if then and now > then else 0.0
        self._health_mark = (feed.messages, now)
        staleness = None if feed.last_message == 0.0 else max(0.0, (now - feed.last_message) * 1e3)
        return {self.spec.name: FeedHealth(rate, staleness, feed.reconnects, self.resyncs)}

    def _report(self, paused: Mapping[str, str]) -> None:
        """Say when an asset pauses or resumes (once per change)."""
        if self.on_status is None:
            self._paused = dict(paused)
            return
        for asset, reason in paused.items():
            if self._paused.get(asset) is None:
                self.on_status(
                    {"event": "trading_paused", "venue": self.spec.name, "asset": asset, "reason": reason}
                )
        for asset in self._paused:
            if asset not in paused:
                self.on_status({"event": "trading_resumed", "venue": self.spec.name, "asset": asset})
        self._paused = dict(paused)

    def wait_ready(self, timeout_s: float) -> MarketView:
        """Block until every asset has a fresh curve (or the timeout); the last view either way."""
        return wait_ready(self.refresh, timeout_s)
