"""One normalized L2 order book: price -> size per side, sorted access to the best levels.

Each side keeps a dict (price -> size) for O(1) lookups and one ascending list of keys kept sorted with
``bisect``, arranged so that the best level sits at the END of the list (bids keyed by ``price``, asks by
``-price``). Venue updates cluster near the top of the book, so inserts and deletes there shift only the few
entries behind them. Measured against sortedcontainers and a heap variant in bench/bench_feeds.py.

Each side also counts the changes that land within its best ``watch_depth`` levels (``top_changes``): a cost
curve built from the top ``n <= watch_depth`` levels is still exact while the count is unchanged, so consumers
rebuild only when it moved (``agents.feeds.curve_cache``). Deciding "within the top" is one comparison with
the ``watch_depth``-th best key, no extra search.

Every mutation validates its input (finite price > 0, finite size >= 0) and raises ``BookValueError`` naming
the side and level: a NaN or negative size never enters the book.
"""

from __future__ import annotations

import math
import sys
from bisect import bisect_left, insort
from collections.abc import Iterable, Sequence
from operator import gt as _gt
from operator import lt as _lt

from sdk.adapters.events import Level

_INF = math.inf
UNWATCHED = sys.maxsize
"""``watch_depth`` of a side nobody narrowed: every change counts as a top change."""


class BookValueError(ValueError):
    """A price or size handed to the book is not a valid level."""


class BookSide:
    """One side of the book; ``sign`` is +1 for bids (best = highest), -1 for asks (best = lowest)."""

    __slots__ = ("_keys", "_sizes", "name", "sign", "top_changes", "watch_depth")

    def __init__(self, name: str, sign: int) -> None:
        self.name = name
        self.sign = sign
        self._sizes: dict[float, float] = {}
        self._keys: list[float] = []
        self.watch_depth = UNWATCHED
        """Changes within this many best levels count in ``top_changes``."""
        self.top_changes = 0
        """How many changes touched the best ``watch_depth`` levels (a version number, only ever grows)."""

    def __len__(self) -> int:
        return len(self._sizes)

    def __contains__(self, price: float) -> bool:
        return price in self._sizes

    def watch(self, depth: int) -> None:
        """Count only changes within the best ``depth`` levels (the widest depth any consumer asked for)."""
        if isinstance(depth, bool) or not isinstance(depth, int) or depth <= 0:
            raise BookValueError(f"{self.name} watch depth must be an int > 0, got {depth!r}")
        self.watch_depth = depth if self.watch_depth == UNWATCHED else max(self.watch_depth, depth)

    def size_at(self, price: float) -> float:
        """Size resting at ``price`` (0.0 when the level is absent)."""
        return self._sizes.get(price, 0.0)

    def set(self, price: float, size: float) -> None:
        """Set the absolute size at ``price``; ``0.0`` removes the level."""
        self.update(((price, size),))

    def update(self, levels: Iterable[Level]) -> None:
        """Set the absolute size of each ``(price, size)``, in order; ``0.0`` removes the level.

        The hot path of every venue update: one call per side and message, the per-level work inlined (the
        sorted keys, the size map and the top-change counter held in locals)."""
        sizes = self._sizes
        keys = self._keys
        sign = self.sign
        watch = self.watch_depth
        top = 0
        for price, size in levels:
            if not 0.0 < price < _INF:
                self.top_changes += top
                raise BookValueError(
                    f"{self.name} price must be finite and > 0, got {price!r} (size {size!r})"
                )
            if not 0.0 <= size < _INF:
                self.top_changes += top
                raise BookValueError(f"{self.name} size at {price!r} must be finite and >= 0, got {size!r}")
            old = sizes.get(price)
            if old == size or (old is None and size == 0.0):
                continue
            key = price * sign
            # ``key`` is among the best ``watch`` levels iff fewer than ``watch`` keys lie above it.
            if old is None:
                if len(keys) < watch or key > keys[-watch]:
                    top += 1
                insort(keys, key)
                sizes[price] = size
                continue
            if len(keys) <= watch or key >= keys[-watch]:
                top += 1
            if size == 0.0:
                del sizes[price]
                del keys[bisect_left(keys, key)]
            else:
                sizes[price] = size
        if top:
            self.top_changes += top

    def replace(self, levels: Iterable[Level]) -> tuple[Level, ...]:
        """Replace the whole side (a snapshot) and return its levels best first; zero-size levels are
        skipped, invalid ones raise.

        Snapshots run to thousands of levels and usually arrive valid and sorted best first: that case is
        checked in bulk (C-level sums, minima and pairwise comparisons) and installed without re-sorting or
        rebuilding the level tuples. Any doubt falls back to the per-level loop, which names the bad level.
        """
        pairs = tuple(levels)
        sign = self.sign
        if pairs:
            prices, amounts = zip(*pairs, strict=True)
            total = sum(prices) + sum(amounts)
            if total - total == 0.0 and min(prices) > 0.0 and min(amounts) > 0.0:
                if all(map(_gt if sign > 0 else _lt, prices, prices[1:])):
                    self._sizes = dict(pairs)
                    self._keys = list(reversed(prices)) if sign > 0 else [-p for p in reversed(prices)]
                    self.top_changes += 1
                    return pairs
                sizes = dict(pairs)
                if len(sizes) != len(pairs):  # duplicated prices: keep the per-level semantics
                    sizes = self._checked(pairs)
            else:
                sizes = self._checked(pairs)
        else:
            sizes = {}
        self._sizes = sizes
        self._keys = sorted(sizes) if sign > 0 else sorted([-p for p in sizes])
        self.top_changes += 1
        return self.all_levels()

    def _checked(self, levels: Iterable[Level]) -> dict[float, float]:
        sizes: dict[float, float] = {}
        for price, size in levels:
            if not 0.0 < price < _INF:
                raise BookValueError(
                    f"{self.name} price must be finite and > 0, got {price!r} (size {size!r})"
                )
            if not 0.0 <= size < _INF:
                raise BookValueError(f"{self.name} size at {price!r} must be finite and >= 0, got {size!r}")
            if size > 0.0:
                sizes[price] = size
        return sizes

    def clear(self) -> None:
        self._sizes = {}
        self._keys = []
        self.top_changes += 1

    def best(self) -> float | None:
        """Best price, or ``None`` on an empty side."""
        keys = self._keys
        return keys[-1] * self.sign if keys else None

    def prices(self, n: int) -> list[float]:
        """The best ``n`` prices, best first."""
        top = self._keys[: -n - 1 : -1] if n > 0 else []
        return top if self.sign > 0 else [-k for k in top]

    def levels(self, n: int) -> list[Level]:
        """The best ``n`` levels as ``(price, size)``, best first."""
        sizes = self._sizes
        return [(price, sizes[price]) for price in self.prices(n)]

    def all_levels(self) -> tuple[Level, ...]:
        """Every level, best first (what a ``BookSnapshot`` carries)."""
        top = self._keys[::-1] if self.sign > 0 else [-k for k in reversed(self._keys)]
        return tuple(zip(top, map(self._sizes.__getitem__, top), strict=True))

    def nth_price(self, n: int) -> float | None:
        """The ``n``-th best price (0 = best), ``None`` when the side is shallower."""
        keys = self._keys
        return keys[-1 - n] * self.sign if n < len(keys) else None


class L2Book:
    """Normalized L2 book of one symbol on one venue, with crossed-book and staleness checks."""

    __slots__ = ("asks", "bids", "last_exchange_ts", "last_update_ts", "symbol", "venue")

    def __init__(self, venue: str, symbol: str) -> None:
        self.venue = venue
        self.symbol = symbol
        self.bids = BookSide("bid", 1)
        self.asks = BookSide("ask", -1)
        self.last_update_ts: float | None = None
        """Receipt time (unix s) of the last applied snapshot or update."""
        self.last_exchange_ts: float | None = None

    def apply_snapshot(
        self, bids: Iterable[Level], asks: Iterable[Level], ts: float, exchange_ts: float | None = None
    ) -> tuple[tuple[Level, ...], tuple[Level, ...]]:
        """Replace both sides; returns their levels best first, ``(bids, asks)``."""
        bid_levels = self.bids.replace(bids)
        ask_levels = self.asks.replace(asks)
        self.last_update_ts = ts
        self.last_exchange_ts = exchange_ts
        return bid_levels, ask_levels

    def apply_update(
        self, bids: Sequence[Level], asks: Sequence[Level], ts: float, exchange_ts: float | None = None
    ) -> None:
        """Apply absolute level changes (size 0 deletes)."""
        if bids:
            self.bids.update(bids)
        if asks:
            self.asks.update(asks)
        self.last_update_ts = ts
        if exchange_ts is not None:
            self.last_exchange_ts = exchange_ts

    def clear(self) -> None:
        self.bids.clear()
        self.asks.clear()
        self.last_update_ts = None
        self.last_exchange_ts = None

    def watch(self, depth: int) -> None:
        """Track changes within the best ``depth`` levels of each side in ``top_version``."""
        self.bids.watch(depth)
        self.asks.watch(depth)

    @property
    def top_version(self) -> int:
        """Grows whenever a level within the watched top of either side changes (or the book is replaced or
        cleared); equal values mean the watched top levels are unchanged."""
        return self.bids.top_changes + self.asks.top_changes

    def best_bid(self) -> float | None:
        return self.bids.best()

    def best_ask(self) -> float | None:
        return self.asks.best()

    def mid(self) -> float | None:
        bid, ask = self.bids.best(), self.asks.best()
        if bid is None or ask is None:
            return None
        return (bid + ask) / 2.0

    def is_crossed(self) -> bool:
        """Best bid >= best ask: impossible on a correct book of a continuous market."""
        bid_keys = self.bids._keys
        ask_keys = self.asks._keys
        return bool(bid_keys) and bool(ask_keys) and bid_keys[-1] >= -ask_keys[-1]

    def age(self, now: float) -> float:
        """Seconds since the last applied message (``inf`` before the first one)."""
        if self.last_update_ts is None:
            return _INF
        return now - self.last_update_ts

    def is_stale(self, now: float, max_age_s: float) -> bool:
        """True when no message was applied within ``max_age_s`` seconds of ``now``."""
        if not max_age_s > 0.0:
            raise BookValueError(f"max_age_s must be > 0, got {max_age_s!r}")
        return self.age(now) > max_age_s

    def curve_levels(self, n: int) -> tuple[list[Level], list[Level]]:
        """Cost-curve input: the best ``n`` ``(price, size)`` levels per side, ``(asks, bids)``, best first.

        Buying walks the asks and selling walks the bids, so asks come first, as the order-book cost curve
        consumes them (positive trade = buy).
        """
        return self.asks.levels(n), self.bids.levels(n)

    def __repr__(self) -> str:
        return (
            f"L2Book({self.venue}:{self.symbol} bid={self.best_bid()} ask={self.best_ask()} "
            f"depth={len(self.bids)}/{len(self.asks)})"
        )


def truncate_side(side: BookSide, depth: int) -> None:
    """Drop the worst levels beyond ``depth`` (venues that stream a fixed depth never delete them)."""
    keys = side._keys
    excess = len(keys) - depth
    if excess > 0:
        sizes = side._sizes
        sign = side.sign
        for key in keys[:excess]:
            del sizes[key * sign]
        del keys[:excess]
        if depth < side.watch_depth:
            side.top_changes += 1
