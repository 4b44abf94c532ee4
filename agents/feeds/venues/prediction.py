"""Prediction-market feeds: the shared parsing base, and the live market source that turns books into curves.

Prediction venues (Kalshi, Polymarket) are not in cryptofeed, so their sessions do not ride
``CryptofeedSession``; they keep the same contract in a smaller form: a session turns one connection's raw
messages into checked books (``on_message``), voids every book on a drop or an unreadable message
(``on_disconnect``, ``on_corrupt``) and asks for a fresh subscription when a book cannot be vouched for
(``reconnect_requested``: the venue's snapshot on subscription rebuilds it). Replay and live run the same
class: tests feed it the recorded messages in ``../shared/data/recordings/prediction_markets``.

A book is kept per *venue market id* (a Kalshi ticker, a Polymarket CLOB token id) in probability units, and
``book(market, outcome)`` gives one outcome's ``(bids, asks)``: Kalshi lists bids only (YES and NO), so the
YES asks are the NO bids reflected (``1 - p``) and the NO book is the mirror image; a Polymarket token is its
own outcome's book.

``PredictionMarket`` is the agent's market source on such a venue (``agents.market.source.MarketSource``): the
websocket in a background event loop (reconnect with jittered backoff), and before each session one
``PredictionMarketCurve`` per instrument with the venue's exact fee model (``sdk.curves.prediction``), the
config's book-usage share and caps. A void, crossed, stale or resolved book pauses its asset.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar, Literal

import websockets

from agents.market.background import BackgroundLoop, wait_ready
from agents.market.source import FeedHealth, MarketView, TickObserver
from agents.retry import Backoff
from sdk.curves.base import CostCurve, CurveInputError
from sdk.curves.prediction import FeeModel, PredictionMarketCurve

log = logging.getLogger(__name__)

Outcome = Literal["yes", "no"]
Level = tuple[Decimal, Decimal]
_ONE = Decimal(1)


class FeedMessageError(ValueError):
    """A message that does not follow the venue's documented shape; the text names the field."""


def decimal_field(value: object, name: str) -> Decimal:
    """A venue's decimal string (or number) as a finite ``Decimal``; the error names the field."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise FeedMessageError(f"{name} must be a decimal string, got {value!r}")
    try:
        out = Decimal(str(value))
    except InvalidOperation:
        raise FeedMessageError(f"{name} must be a decimal string, got {value!r}") from None
    if not out.is_finite():
        raise FeedMessageError(f"{name} must be finite, got {value!r}")
    return out


def probability(value: object, name: str) -> Decimal:
    p = decimal_field(value, name)
    if not Decimal(0) < p < _ONE:
        raise FeedMessageError(f"{name} must be a probability in (0, 1), got {value!r}")
    return p


def size_field(value: object, name: str) -> Decimal:
    q = decimal_field(value, name)
    if q < 0:
        raise FeedMessageError(f"{name} must be >= 0, got {value!r}")
    return q


def mapping(value: object, name: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise FeedMessageError(f"{name} must be an object, got {type(value).__name__}")
    return value


class PredictionSession:
    """Base of the prediction-venue sessions (see the module docstring)."""

    venue: ClassVar[str]
    ws_path: ClassVar[str]
    """Path of the market-data websocket on the venue's host."""

    def __init__(self, markets: Sequence[str]) -> None:
        if not markets:
            raise ValueError("markets: a session needs at least one market id")
        self.markets = tuple(markets)
        self.messages = 0
        self.errors = 0
        self.reconnect_requested = False
        self.void: dict[str, str] = dict.fromkeys(self.markets, "awaiting a snapshot")
        """market id -> why its book cannot be used now."""
        self.resolved: dict[str, str] = {}
        """market id -> winning outcome (``yes``/``no``) once the venue announced the resolution."""

    # -- what the venue module implements -------------------------------------------------------------
    def subscribe_messages(self) -> list[str]:
        """What to send after connecting."""
        raise NotImplementedError

    def handle(self, message: Any) -> set[str]:
        """Apply one decoded message; the market ids whose book changed."""
        raise NotImplementedError

    def clear(self, market: str) -> None:
        """Forget ``market``'s levels (it is void until its next snapshot)."""
        raise NotImplementedError

    def book(self, market: str, outcome: Outcome = "yes") -> tuple[list[Level], list[Level]] | None:
        """``(bids best first, asks best first)`` of one outcome, or ``None`` while the book is void."""
        raise NotImplementedError

    # -- shared behaviour ------------------------------------------------------------------------------
    def on_message(self, text: str, receipt_ts: float) -> set[str]:
        self.messages += 1
        try:
            return self.handle(json.loads(text))
        except (json.JSONDecodeError, FeedMessageError, KeyError, TypeError) as exc:
            return self.on_corrupt(f"{type(exc).__name__}: {exc}"[:300])

    def on_corrupt(self, detail: str) -> set[str]:
        """An unreadable message: every book may have missed an update; resubscribe for fresh snapshots."""
        self.errors += 1
        log.warning("%s: unreadable message, books void until resubscribed: %s", self.venue, detail)
        self.invalidate_all(f"unreadable message: {detail}")
        self.reconnect_requested = True
        return set(self.markets)

    def on_disconnect(self) -> set[str]:
        self.invalidate_all("connection lost")
        return set(self.markets)

    def invalidate_all(self, reason: str) -> None:
        for market in self.markets:
            self.invalidate(market, reason)

    def invalidate(self, market: str, reason: str) -> None:
        self.clear(market)
        self.void[market] = reason


@dataclass(frozen=True)
class PredictionRules:
    """How one instrument's book becomes its curve."""

    asset: str
    market: str
    """The venue's market id (Kalshi ticker, Polymarket token id)."""
    outcome: Outcome
    fees: FeeModel
    book_usage: float
    lot_size: float = 1.0
    max_buy: float | None = None
    max_sell: float | None = None


def curve_of(session: PredictionSession, rule: PredictionRules) -> tuple[CostCurve | None, float | None, str]:
    """``(curve, mid, why paused)`` of one instrument from its session's book; ``why`` is ``""`` when the
    curve may trade."""
    if rule.market in session.resolved:
        return None, None, f"{rule.market} resolved {session.resolved[rule.market]}"
    book = session.book(rule.market, rule.outcome)
    if book is None:
        return None, None, f"{rule.market} book void ({session.void.get(rule.market, 'no snapshot')})"
    bids, asks = book
    try:
        curve = PredictionMarketCurve(
            [(float(p), float(q)) for p, q in bids],
            [(float(p), float(q)) for p, q in asks],
            fees=rule.fees,
            book_usage=rule.book_usage,
            lot_size=rule.lot_size,
            max_buy=rule.max_buy,
            max_sell=rule.max_sell,
        )
    except CurveInputError as exc:
        return None, None, f"{rule.market} book unusable: {exc}"
    mid = float((bids[0][0] + asks[0][0]) / 2) if bids and asks else None
    return curve, mid, ""


SessionFactory = Callable[[Sequence[str]], PredictionSession]
Handshake = Callable[[str], Mapping[str, str]]
"""Headers of the websocket handshake for a path (Kalshi signs it); ``{}`` for public feeds."""
StatusSink = Callable[[dict[str, object]], None]


class PredictionMarket:
    """One prediction venue's live books and curves (see the module docstring)."""

    def __init__(
        self,
        venue: str,
        session: PredictionSession,
        rules: Sequence[PredictionRules],
        *,
        ws_base: str,
        handshake: Handshake | None = None,
        stale_after_s: float = 30.0,
        on_status: StatusSink | None = None,
        clock: Callable[[], float] = time.time,
        backoff: Backoff | None = None,
    ) -> None:
        self.venue = venue
        self.session = session
        self.rules = {r.asset: r for r in rules}
        self.ws_base = ws_base.rstrip("/")
        self.handshake = handshake
        self.stale_after_s = stale_after_s
        self.on_status = on_status
        self.clock = clock
        self.backoff = backoff or Backoff(initial=0.2, maximum=5.0)
        self.connects = 0
        self.reconnects = 0
        self.last_message = 0.0
        self.last_error = ""
        self._asset_of: dict[str, list[str]] = {}
        for r in rules:
            self._asset_of.setdefault(r.market, []).append(r.asset)
        self._observer: TickObserver | None = None
        self._background = BackgroundLoop(f"feed-{venue}")
        self._socket: Any = None
        self._paused: dict[str, str] = {}
        self._health_mark: tuple[int, float] = (0, 0.0)

    @property
    def address(self) -> str:
        return self.ws_base + self.session.ws_path

    # -- lifecycle --------------------------------------------------------------------------------------
    def start(self) -> None:
        if not self._background.start(self._main, 10):
            raise TimeoutError(f"{self.venue}: the feed loop did not start")

    async def _main(self, stop: asyncio.Event) -> None:
        rng = random.SystemRandom()
        attempt = 0
        while not stop.is_set():
            try:
                headers = dict(self.handshake(self.session.ws_path)) if self.handshake else {}
                async with websockets.connect(
                    self.address, additional_headers=headers, open_timeout=10, ping_interval=20
                ) as socket:
                    self._socket = socket
                    self.connects += 1
                    attempt = 0
                    for text in self.session.subscribe_messages():
                        await socket.send(text)
                    await self._pump(socket, stop)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # every transport failure means the same: void, back off, reconnect
                self.last_error = f"{type(exc).__name__}: {exc}"[:300]
                log.warning("%s: feed connection failed: %s", self.venue, self.last_error)
            finally:
                self._socket = None
            self._touched(self.session.on_disconnect())
            if stop.is_set():
                return
            self.reconnects += 1
            delay = self.backoff.delay(attempt, rng)
            attempt += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay)

    async def _pump(self, socket: Any, stop: asyncio.Event) -> None:
        async def watch() -> None:
            await stop.wait()
            await socket.close()

        watcher = asyncio.ensure_future(watch())
        try:
            async for message in socket:
                now = self.clock()
                self.last_message = now
                text = message if isinstance(message, str) else message.decode("utf-8", "replace")
                self._touched(self.session.on_message(text, now))
                if self.session.reconnect_requested:
                    self.session.reconnect_requested = False
                    return
        finally:
            watcher.cancel()

    def _touched(self, markets: set[str]) -> None:
        observer = self._observer
        if observer is None:
            return
        for market in sorted(markets):
            for asset in self._asset_of.get(market, ()):
                _, mid, why = curve_of(self.session, self.rules[asset])
                with contextlib.suppress(Exception):  # the feed must outlive a broken observer
                    observer(asset, None if why else mid)

    def set_observer(self, observer: TickObserver | None) -> None:
        self._observer = observer

    def payouts(self) -> dict[str, Decimal]:
        """asset -> what one share pays (1 or 0) for every asset whose market the venue announced resolved."""
        if self._background.loop is None:
            return {}

        async def read() -> dict[str, str]:
            return dict(self.session.resolved)

        resolved = self._background.call(read())
        return {
            asset: Decimal(1) if resolved[rule.market] == rule.outcome else Decimal(0)
            for asset, rule in self.rules.items()
            if rule.market in resolved
        }

    def drop(self) -> None:
        """Close the current connection (tests and operators); the feed reconnects by itself."""
        loop, socket = self._background.loop, self._socket
        if loop is not None and socket is not None:
            asyncio.run_coroutine_threadsafe(socket.close(), loop)

    def close(self) -> None:
        self._background.close()

    # -- what the planner reads -------------------------------------------------------------------------
    def refresh(self, index: int = 0) -> MarketView:
        if self._background.loop is None:
            raise RuntimeError(f"{self.venue}: the prediction market is not started")

        async def view() -> MarketView:
            return self._view()

        result = self._background.call(view())
        self._report(result.paused)
        return result

    def _view(self) -> MarketView:
        now = self.clock()
        age = now - self.last_message if self.last_message else float("inf")
        curves: dict[str, CostCurve] = {}
        mids: dict[str, float] = {}
        paused: dict[str, str] = {}
        for asset, rule in self.rules.items():
            curve, mid, why = curve_of(self.session, rule)
            if curve is None:
                paused[asset] = why
                continue
            if age > self.stale_after_s:
                paused[asset] = f"{rule.market} feed silent for {age:.1f} s (limit {self.stale_after_s:g} s)"
            curves[asset] = curve
            if mid is not None:
                mids[asset] = mid
        return MarketView(curves=curves, mids=mids, paused=paused)

    def wait_ready(self, timeout_s: float) -> MarketView:
        return wait_ready(self.refresh, timeout_s)

    def health(self) -> dict[str, FeedHealth]:
        now = self.clock()
        count, then = self._health_mark
        rate = (self.session.messages - count) / (now - then) if then and now > then else 0.0
        self._health_mark = (self.session.messages, now)
        staleness = None if self.last_message == 0.0 else max(0.0, (now - self.last_message) * 1e3)
        return {self.venue: FeedHealth(rate, staleness, self.reconnects)}

    def _report(self, paused: Mapping[str, str]) -> None:
        if self.on_status is not None:
            for asset, reason in paused.items():
                if self._paused.get(asset) is None:
                    self.on_status(
                        {"event": "trading_paused", "venue": self.venue, "asset": asset, "reason": reason}
                    )
            for asset in self._paused:
                if asset not in paused:
                    self.on_status({"event": "trading_resumed", "venue": self.venue, "asset": asset})
        self._paused = dict(paused)


__all__ = [
    "FeedMessageError",
    "Level",
    "Outcome",
    "PredictionMarket",
    "PredictionRules",
    "PredictionSession",
    "curve_of",
    "decimal_field",
    "mapping",
    "probability",
    "size_field",
]
