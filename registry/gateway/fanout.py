"""Events pushed to live subscribers (the console's websockets) without ever blocking the emitter.

A service's ``emit`` runs on its hot path (a plan's commit, an order's fill), so ``publish`` only appends to
a bounded ring and schedules a hand-over on each subscriber's event loop; a subscriber that does not keep up
loses its oldest events (counted in ``dropped``), never the service's time. The ring also lets a console
that connects late start from the recent past instead of an empty page.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

RECENT = 500
"""Events the ring keeps for subscribers that join late."""
QUEUE = 1000
"""Events one subscriber may have pending before its oldest are dropped."""

Event = Mapping[str, object]


@dataclass
class Subscription:
    """One subscriber's queue on its own event loop; ``get`` awaits the next event."""

    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[Event] = field(default_factory=lambda: asyncio.Queue(QUEUE))
    dropped: int = 0

    def offer(self, event: Event) -> None:
        """On the subscriber's loop: queue ``event``, dropping the oldest pending one when full."""
        if self.queue.full():
            self.queue.get_nowait()
            self.dropped += 1
        self.queue.put_nowait(event)

    async def get(self) -> Event:
        return await self.queue.get()


class EventFanout:
    """Publish events from any thread to every subscriber (see the module docstring)."""

    def __init__(self, *, recent: int = RECENT, keep: Callable[[Event], bool] | None = None) -> None:
        self._recent: deque[Event] = deque(maxlen=recent)
        self._subscribers: list[Subscription] = []
        self._lock = threading.Lock()
        self._keep = keep
        self.published = 0

    def publish(self, event: Event) -> None:
        """Hand ``event`` on (never blocks, never raises for a subscriber's sake)."""
        if self._keep is not None and not self._keep(event):
            return
        with self._lock:
            self.published += 1
            self._recent.append(event)
            subscribers = list(self._subscribers)
        for sub in subscribers:
            try:
                sub.loop.call_soon_threadsafe(sub.offer, event)
            except RuntimeError:  # its loop is closed: the subscriber is gone
                self.unsubscribe(sub)

    def recent(self, limit: int = RECENT) -> list[Event]:
        with self._lock:
            return list(self._recent)[-limit:] if limit > 0 else []

    def subscribe(self, loop: asyncio.AbstractEventLoop | None = None) -> Subscription:
        """A new subscription delivering on ``loop`` (default: the running loop)."""
        sub = Subscription(loop if loop is not None else asyncio.get_running_loop())
        with self._lock:
            self._subscribers.append(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            if sub in self._subscribers:
                self._subscribers.remove(sub)

    @property
    def subscribers(self) -> int:
        with self._lock:
            return len(self._subscribers)
