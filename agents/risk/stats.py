"""Rolling windows the gates need: timestamps in a window and return volatility (floats: statistics only)."""

from __future__ import annotations

import math
from collections import deque


class EventWindow:
    """Timestamps of events; counts those within ``window_ms`` of now."""

    def __init__(self, window_ms: int) -> None:
        self.window_ms = window_ms
        self._times: deque[int] = deque()

    def add(self, ts_ms: int, count: int = 1) -> None:
        self._times.extend([ts_ms] * count)

    def count(self, now_ms: int) -> int:
        """Events in ``(now - window, now]``; pure (does not drop old entries)."""
        return sum(1 for t in self._times if now_ms - self.window_ms < t <= now_ms)

    def prune(self, now_ms: int) -> None:
        while self._times and self._times[0] <= now_ms - self.window_ms:
            self._times.popleft()


class ReturnWindow:
    """Log returns of successive prices within a time window, for the k-sigma jump test.

    Fed on every feed update, so it keeps running sums: ``jump_sigmas`` and ``add`` are O(1) amortised
    (the sums are recomputed exactly whenever as many returns left the window as it holds, so rounding
    drift stays bounded).
    """

    def __init__(self, window_ms: int) -> None:
        self.window_ms = window_ms
        self._returns: deque[tuple[int, float]] = deque()
        self._last: float | None = None
        self._sum = 0.0
        self._sumsq = 0.0
        self._dropped = 0

    def jump_sigmas(self, price: float) -> tuple[float, int]:
        """``|log(price/last)| / stdev`` of returns in the window, and how many returns that stdev used."""
        n = len(self._returns)
        if self._last is None or n < 2:
            return 0.0, n
        r = math.log(price / self._last)
        mean = self._sum / n
        var = max(self._sumsq - n * mean * mean, 0.0) / (n - 1)
        sd = math.sqrt(var)
        if sd <= 1e-12 * max(abs(mean), 1e-300):
            return (math.inf if r != mean else 0.0), n
        return abs(r - mean) / sd, n

    def add(self, ts_ms: int, price: float) -> None:
        if self._last is not None:
            r = math.log(price / self._last)
            self._returns.append((ts_ms, r))
            self._sum += r
            self._sumsq += r * r
        self._last = price
        while self._returns and self._returns[0][0] <= ts_ms - self.window_ms:
            _, old = self._returns.popleft()
            self._sum -= old
            self._sumsq -= old * old
            self._dropped += 1
        if self._dropped and self._dropped >= len(self._returns):
            self._dropped = 0
            self._sum = math.fsum(v for _, v in self._returns)
            self._sumsq = math.fsum(v * v for _, v in self._returns)
