"""Cost curves of one venue's books, rebuilt only when the planner asks and the levels they use changed.

Building an order-book cost curve from its top levels costs about as much as parsing one venue message.
A planner reads curves once per planning tick, not once per message, so book events only mark their symbol
(O(1)) and the planner pulls: ``refresh()`` rebuilds the curve of each marked symbol whose watched top levels
actually changed (each side's ``top_changes``, see ``agents.feeds.book``) and drops the curve of each symbol
whose book is void. When only one side moved and the cache has an ``update`` hook (order books:
``OrderBookCurve.with_levels``), only that side's levels are read and walked. A curve is never served from a
void book, and ``curve(symbol)`` checks the book's versions itself, so a direct pull is never stale even for
a symbol nobody marked. ``order_book_curves`` wires the order-book fast path.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

from agents.feeds.book import L2Book
from sdk.adapters.events import BookSnapshot, BookUpdate, FeedEvent, Level, Resync
from sdk.curves.order_book import DEFAULT_BOOK_USAGE, OrderBookCurve

CurveT = TypeVar("CurveT")

BookSource = Callable[[str], L2Book | None]
"""``symbol -> synchronised book or None`` (``VenueSession.book``, ``BookMaintainer.book``)."""

CurveBuilder = Callable[[list[Level], list[Level]], CurveT]
"""``(bids, asks) -> curve``, each side best first (``OrderBookCurve``'s argument order)."""

CurveUpdater = Callable[[CurveT, list[Level] | None, list[Level] | None], CurveT]
"""``(curve, bids, asks) -> curve`` of the same book with new levels on one side or both (``None``: that side
is unchanged); must equal what the builder gives on the full levels (``OrderBookCurve.with_levels``)."""

DEFAULT_DEPTH = 20
"""Levels per side a curve is built from."""

_MARKING = (BookUpdate, BookSnapshot, Resync)


@dataclass(slots=True)
class _Entry(Generic[CurveT]):
    book: L2Book
    bid_version: int
    ask_version: int
    curve: CurveT


class CurveCache(Generic[CurveT]):
    """The current cost curve of each live book of one venue, rebuilt lazily.

    Parameters
    ----------
    books:
        Where the maintained books come from; ``None`` means the symbol's book is void.
    build:
        Builds a curve from the best ``depth`` levels per side, ``(bids, asks)``, best first.
    depth:
        Levels per side the curve uses; only changes within them trigger a rebuild.
    update:
        Optional: rebuilds a curve of the same book when only one side moved (see ``CurveUpdater``).
    """

    def __init__(
        self,
        books: BookSource,
        build: CurveBuilder[CurveT],
        *,
        depth: int = DEFAULT_DEPTH,
        update: CurveUpdater[CurveT] | None = None,
    ) -> None:
        if isinstance(depth, bool) or not isinstance(depth, int) or depth <= 0:
            raise ValueError(f"depth must be an int > 0, got {depth!r}")
        self._books = books
        self._build = build
        self._update = update
        self.depth = depth
        self._entries: dict[str, _Entry[CurveT]] = {}
        self._dirty: set[str] = set()
        self.builds = 0
        """Curves built so far (whole or one side)."""
        self.side_builds = 0
        """Of ``builds``, those that rebuilt one side through ``update`` and kept the other."""
        self.reused = 0
        """Pulls answered with the cached curve because the watched levels had not changed."""

    def mark(self, symbol: str) -> None:
        """The book of ``symbol`` may have changed (a book event or a resync arrived)."""
        self._dirty.add(symbol)

    def observe(self, events: Iterable[FeedEvent]) -> None:
        """Mark the symbol of every book event and resync among ``events``."""
        dirty = self._dirty
        for event in events:
            if isinstance(event, _MARKING):
                dirty.add(event.symbol)

    @property
    def pending(self) -> frozenset[str]:
        """Symbols marked since the last ``refresh``."""
        return frozenset(self._dirty)

    def refresh(self) -> dict[str, CurveT | None]:
        """Bring every marked symbol up to date; returns the curves that changed (``None``: book void)."""
        changed: dict[str, CurveT | None] = {}
        dirty = self._dirty
        if not dirty:
            return changed
        self._dirty = set()
        for symbol in sorted(dirty) if len(dirty) > 1 else dirty:
            moved, curve = self._pull(symbol)
            if moved:
                changed[symbol] = curve
        return changed

    def curve(self, symbol: str) -> CurveT | None:
        """The curve of ``symbol``'s current book (rebuilt first if its watched levels changed), ``None``
        while the book is void."""
        self._dirty.discard(symbol)
        return self._pull(symbol)[1]

    def curves(self) -> Mapping[str, CurveT]:
        """Every curve as of the last ``refresh`` (or direct pull), by symbol."""
        return {symbol: entry.curve for symbol, entry in self._entries.items()}

    def _pull(self, symbol: str) -> tuple[bool, CurveT | None]:
        """``(changed, curve)`` of ``symbol`` now, rebuilding when its watched levels moved."""
        entry = self._entries.get(symbol)
        book = self._books(symbol)
        if book is None:
            if entry is None:
                return False, None
            del self._entries[symbol]
            return True, None
        bids = book.bids
        asks = book.asks
        if entry is not None and entry.book is book:
            bid_version = bids.top_changes
            ask_version = asks.top_changes
            bids_moved = entry.bid_version != bid_version
            asks_moved = entry.ask_version != ask_version
            if not (bids_moved or asks_moved):
                self.reused += 1
                return False, entry.curve
            depth = self.depth
            if self._update is not None and not (bids_moved and asks_moved):
                curve = self._update(
                    entry.curve,
                    bids.levels(depth) if bids_moved else None,
                    asks.levels(depth) if asks_moved else None,
                )
                self.side_builds += 1
            else:
                curve = self._build(bids.levels(depth), asks.levels(depth))
            entry.bid_version = bid_version
            entry.ask_version = ask_version
            entry.curve = curve
        else:
            book.watch(self.depth)
            asks_levels, bids_levels = book.curve_levels(self.depth)
            curve = self._build(bids_levels, asks_levels)
            self._entries[symbol] = _Entry(book, bids.top_changes, asks.top_changes, curve)
        self.builds += 1
        return True, curve


def order_book_curves(
    books: BookSource,
    *,
    depth: int = DEFAULT_DEPTH,
    taker_fee_bps: float = 0.0,
    book_usage: float = DEFAULT_BOOK_USAGE,
    lot_size: float = 0.0,
    min_notional: float = 0.0,
    max_buy: float | None = None,
    max_sell: float | None = None,
) -> CurveCache[OrderBookCurve]:
    """A cache of ``OrderBookCurve``s on the fast path: built from the book's sorted levels with the
    parameters checked once (``OrderBookCurve.sorted_levels_builder``), one side rebuilt when only it moved
    (``OrderBookCurve.with_levels``). The curves equal ``OrderBookCurve(bids, asks, ...)`` float for float."""
    build = OrderBookCurve.sorted_levels_builder(
        taker_fee_bps=taker_fee_bps,
        book_usage=book_usage,
        lot_size=lot_size,
        min_notional=min_notional,
        max_buy=max_buy,
        max_sell=max_sell,
    )
    return CurveCache(books, build, depth=depth, update=OrderBookCurve.with_levels)
