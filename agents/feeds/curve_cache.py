"""Cost curves of one venue's books, rebuilt only when the planner asks and the levels they use changed.

Building an order-book cost curve from its top levels costs tens of microseconds (validation, knots,
cumulative costs): several times what parsing one venue message costs. A planner reads curves once per
planning tick, not once per message, so book events only mark their symbol (O(1)) and the planner pulls:
``refresh()`` rebuilds the curve of each marked symbol whose watched top levels actually changed (the book's
``top_version``, see ``agents.feeds.book``) and drops the curve of each symbol whose book is void. A curve is
never served from a void book, and ``curve(symbol)`` checks the book's version itself, so a direct pull is
never stale even for a symbol nobody marked.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

from agents.feeds.book import L2Book
from sdk.adapters.events import BookSnapshot, BookUpdate, FeedEvent, Level, Resync

CurveT = TypeVar("CurveT")

BookSource = Callable[[str], L2Book | None]
"""``symbol -> synchronised book or None`` (``VenueSession.book``, ``BookMaintainer.book``)."""

CurveBuilder = Callable[[list[Level], list[Level]], CurveT]
"""``(bids, asks) -> curve``, each side best first (``OrderBookCurve``'s argument order)."""

DEFAULT_DEPTH = 20
"""Levels per side a curve is built from."""

_MARKING = (BookUpdate, BookSnapshot, Resync)


@dataclass(slots=True)
class _Entry(Generic[CurveT]):
    book: L2Book
    version: int
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
    """

    def __init__(self, books: BookSource, build: CurveBuilder[CurveT], *, depth: int = DEFAULT_DEPTH) -> None:
        if isinstance(depth, bool) or not isinstance(depth, int) or depth <= 0:
            raise ValueError(f"depth must be an int > 0, got {depth!r}")
        self._books = books
        self._build = build
        self.depth = depth
        self._entries: dict[str, _Entry[CurveT]] = {}
        self._dirty: set[str] = set()
        self.builds = 0
        """Curves built so far."""
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
        if entry is not None and entry.book is book:
            version = book.top_version
            if entry.version == version:
                self.reused += 1
                return False, entry.curve
        else:
            book.watch(self.depth)
            version = book.top_version
        asks, bids = book.curve_levels(self.depth)
        curve = self._build(bids, asks)
        if entry is not None and entry.book is book:
            entry.version = version
            entry.curve = curve
        else:
            self._entries[symbol] = _Entry(book, version, curve)
        self.builds += 1
        return True, curve
