"""Injectable time: a clock Protocol, a system clock, and a virtual-time scheduler for tests and replays.

Execution never sleeps. Latency is modelled by scheduling callbacks at ``now + latency``; a deployment calls
``run_due(clock.now_ms())`` from its loop, a test advances a ``ManualClock`` and everything due runs in order.
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections.abc import Callable
from typing import Protocol


class Clock(Protocol):
    def now_ms(self) -> int:
        """Current time, unix milliseconds."""
        ...


class SystemClock:
    """Wall-clock time."""

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000


class ManualClock:
    """A clock that only moves when told to (tests, backtests)."""

    def __init__(self, start_ms: int = 0) -> None:
        if start_ms < 0:
            raise ValueError(f"start_ms must be >= 0, got {start_ms}")
        self._now = start_ms

    def now_ms(self) -> int:
        return self._now

    def set(self, now_ms: int) -> None:
        if now_ms < self._now:
            raise ValueError(f"time must not go backwards: now {self._now}, asked {now_ms}")
        self._now = now_ms


class Scheduler:
    """Timer queue: callbacks run in (time, insertion) order when their time is due."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._queue: list[tuple[int, int, Callable[[], None]]] = []
        self._counter = itertools.count()

    def call_at(self, when_ms: int, callback: Callable[[], None]) -> None:
        heapq.heappush(self._queue, (when_ms, next(self._counter), callback))

    def call_later(self, delay_ms: int, callback: Callable[[], None]) -> None:
        if delay_ms < 0:
            raise ValueError(f"delay_ms must be >= 0, got {delay_ms}")
        self.call_at(self.clock.now_ms() + delay_ms, callback)

    def run_due(self, now_ms: int | None = None) -> int:
        """Run every callback due by ``now_ms`` (default: the clock); returns how many ran."""
        limit = self.clock.now_ms() if now_ms is None else now_ms
        ran = 0
        while self._queue and self._queue[0][0] <= limit:
            _, _, callback = heapq.heappop(self._queue)
            callback()
            ran += 1
        return ran

    def next_due_ms(self) -> int | None:
        return self._queue[0][0] if self._queue else None

    def __len__(self) -> int:
        return len(self._queue)


class VirtualTime(Scheduler):
    """A manual clock plus scheduler: ``advance`` moves time and fires callbacks at their own times."""

    def __init__(self, start_ms: int = 0) -> None:
        self.manual = ManualClock(start_ms)
        super().__init__(self.manual)

    def now_ms(self) -> int:
        return self.manual.now_ms()

    def advance(self, delta_ms: int) -> None:
        if delta_ms < 0:
            raise ValueError(f"delta_ms must be >= 0, got {delta_ms}")
        self.advance_to(self.manual.now_ms() + delta_ms)

    def advance_to(self, target_ms: int) -> None:
        while self._queue and self._queue[0][0] <= target_ms:
            when, _, callback = heapq.heappop(self._queue)
            self.manual.set(max(when, self.manual.now_ms()))
            callback()
        self.manual.set(target_ms)
