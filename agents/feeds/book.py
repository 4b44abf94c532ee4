"""One normalized L2 order book: price -> size per side, sorted access to the best levels.

Each side keeps a dict (price -> size) for O(1) lookups and one ascending list of keys kept sorted with
``bisect``, arranged so that the best level sits at the END of the list (bids keyed by ``price``, asks by
``-price``). Venue updates cluster near the top of the book, so inserts and deletes there shift only the few
entries behind them. Measured against sortedcontainers and a heap variant in bench/bench_feeds.py.

Every mutation validates its input (finite price > 0, finite size >= 0) and raises ``BookValueError`` naming
the side and level: a NaN or negative size never enters the book.
"""

from __future__ import annotations

import math
from bisect import bisect_left, insort
from collections.abc import Iterable, Sequence

from sdk.adapters.events import Level

_INF = math.inf


class BookValueError(ValueError):
    """A price or size handed to the book is not a valid level."""


class BookSide:
    """One side of the book; ``sign`` is +1 for bids (best = highest), -1 for asks (best = lowest)."""

    __slots__ = ("_keys", "_sizes", "name", "sign")

    def __init__(self, name: str, sign: int) -> None:
        self.name = name
        self.sign = sign
        self._sizes: dict[float, float] = {}
        self._keys: list[float] = []

    def __len__(self) -> int:
        return len(self._sizes)

    def __contains__(self, price: float) -> bool:
        return price in self._sizes

    def size_at(self, price: float) -> float:
        """Size resting at ``price`` (0.0 when the level is absent)."""
        return self._sizes.get(price, 0.0)

    def set(self, price: float, size: float) -> None:
        """Set the absolute size at ``price``; ``0.0`` removes the level."""
        if not 0.0 < price < _INF:
            raise BookValueError(f"{self.name} price must be finite and > 0, got {price!r} (size {size!r})")
        if not 0.0 <= size < _INF:
            raise BookValueError(f"{self.name} size at {price!r} must be finite and >= 0, got {size!r}")
        sizes = self._sizes
        if size == 0.0:
            if price in sizes:
                del sizes[price]
                keys = self._keys
                del keys[bisect_left(keys, price * self.sign)]
        else:
            if price not in sizes:
                insort(self._keys, price * self.sign)
            sizes[price] = size

    def replace(self, levels: Iterable[Level]) -> None:
        """Replace the whole side (a snapshot); zero-size levels are skipped, invalid ones raise."""
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
        self._sizes = sizes
        sign = self.sign
        self._keys = sorted(p * sign for p in sizes)

    def clear(self) -> None:
        self._sizes = {}
        self._keys = []

    def best(self) -> float | None:
        """Best price, or ``None`` on an empty side."""
        keys = self._keys
        return keys[-1] * self.sign if keys else None

    def prices(self, n: int) -> list[float]:
        """The best ``n`` prices, best first."""
        keys = self._keys
        sign = self.sign
        return [keys[i] * sign for i in range(len(keys) - 1, max(len(keys) - n, 0) - 1, -1)]

    def levels(self, n: int) -> list[Level]:
        """The best ``n`` levels as ``(price, size)``, best first."""
        keys = self._keys
        sizes = self._sizes
        sign = self.sign
        out: list[Level] = []
        for i in range(len(keys) - 1, max(len(keys) - n, 0) - 1, -1):
            price = keys[i] * sign
            out.append((price, sizes[price]))
        return out

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
    ) -> None:
        """Replace both sides."""
        self.bids.replace(bids)
        self.asks.replace(asks)
        self.last_update_ts = ts
        self.last_exchange_ts = exchange_ts

    def apply_update(
        self, bids: Sequence[Level], asks: Sequence[Level], ts: float, exchange_ts: float | None = None
    ) -> None:
        """Apply absolute level changes (size 0 deletes)."""
        bid_set = self.bids.set
        for price, size in bids:
            bid_set(price, size)
        ask_set = self.asks.set
        for price, size in asks:
            ask_set(price, size)
        self.last_update_ts = ts
        if exchange_ts is not None:
            self.last_exchange_ts = exchange_ts

    def clear(self) -> None:
        self.bids.clear()
        self.asks.clear()
        self.last_update_ts = None
        self.last_exchange_ts = None

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
        bid, ask = self.bids.best(), self.asks.best()
        return bid is not None and ask is not None and bid >= ask

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
