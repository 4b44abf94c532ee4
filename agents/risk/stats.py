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
    """Log returns of successive prices within a time window, for the k-sigma jump test."""

    def __init__(self, window_ms: int) -> None:
        self.window_ms = window_ms
        self._returns: deque[tuple[int, float]] = deque()
        self._last: float | None = None

    def jump_sigmas(self, price: float) -> tuple[float, int]:
        """``|log(price/last)| / stdev`` of returns in the window, and how many returns that stdev used."""
        if self._last is None or len(self._returns) < 2:
            return 0.0, len(self._returns)
        r = math.log(price / self._last)
        values = [v for _, v in self._returns]
        mean = sum(values) / len(values)
        var = sum((v - mean) ** 2 for v in values) / (len(values) - 1)
        sd = math.sqrt(var)
        if sd == 0.0:
            return (math.inf if r != 0.0 else 0.0), len(values)
        return abs(r - mean) / sd, len(values)

    def add(self, ts_ms: int, price: float) -> None:
        if self._last is not None:
            self._returns.append((ts_ms, math.log(price / self._last)))
        self._last = price
        while self._returns and self._returns[0][0] <= ts_ms - self.window_ms:
            self._returns.popleft()
