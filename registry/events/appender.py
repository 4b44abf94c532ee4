"""Appending without ever blocking an order: a bounded queue drained into the log by one thread.

``submit`` never waits and never raises: when the queue is full (the log is slow or away) the event is
dropped and counted, with a warning at most every ``WARN_EVERY_S``. The drain thread hands the log whatever
queued up meanwhile as one batch (one fsync or one round of JetStream acks for many events); a batch that
fails is retried with backoff until the log is back (JetStream's message ids make a retried batch land
once), while new events keep queueing up to the bound. ``close`` drains what is queued, for a bounded time.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from registry.events.log import EventLog

log = logging.getLogger(__name__)

QUEUE_SIZE = 10_000
BATCH = 512
WARN_EVERY_S = 10.0
MAX_BACKOFF_S = 2.0


@dataclass
class AppenderStats:
    """What the appender did (the metrics export it)."""

    submitted: int = 0
    appended: int = 0
    dropped: int = 0
    failures: int = 0
    last_sequence: int = 0
    last_batch_s: float = 0.0


class BackgroundAppender:
    """Feeds ``log`` from a bounded in-memory queue on a daemon thread (see the module docstring)."""

    def __init__(
        self,
        event_log: EventLog,
        *,
        capacity: int = QUEUE_SIZE,
        batch: int = BATCH,
        on_batch: Callable[[int, float], None] | None = None,
    ) -> None:
        self.log = event_log
        self.stats = AppenderStats()
        self.batch = batch
        self.on_batch = on_batch
        """Called after each appended batch with its size and its latency (seconds)."""
        self._queue: queue.Queue[dict[str, object] | None] = queue.Queue(capacity)
        self._last_warning = 0.0
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._drain, name="event-appender", daemon=True)
        self._thread.start()

    def submit(self, event: Mapping[str, object]) -> bool:
        """Queue ``event`` for the log; False (counted, warned) when it had to be dropped."""
        self.stats.submitted += 1
        try:
            self._queue.put_nowait(dict(event))
            return True
        except queue.Full:
            self.stats.dropped += 1
            self._warn(f"event log {self.log.url}: queue full, {self.stats.dropped} event(s) dropped so far")
            return False

    def pending(self) -> int:
        return self._queue.qsize()

    def _warn(self, message: str) -> None:
        now = time.monotonic()
        if now - self._last_warning >= WARN_EVERY_S:
            self._last_warning = now
            log.warning("%s", message)

    def _drain(self) -> None:
        backoff = 0.05
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            stop = False
            while len(batch) < self.batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                batch.append(item)
            while True:
                started = time.perf_counter()
                try:
                    sequences = self.log.append_many(batch)
                except Exception as exc:  # the log is away: keep the batch, retry, never raise upwards
                    self.stats.failures += 1
                    self._warn(f"event log {self.log.url}: append failed ({exc}); retrying")
                    if self._stopping.wait(backoff):
                        self.stats.dropped += len(batch)
                        return
                    backoff = min(backoff * 2, MAX_BACKOFF_S)
                    continue
                elapsed = time.perf_counter() - started
                backoff = 0.05
                self.stats.appended += len(batch)
                self.stats.last_sequence = sequences[-1]
                self.stats.last_batch_s = elapsed
                if self.on_batch is not None:
                    self.on_batch(len(batch), elapsed)
                break
            if stop:
                return

    def close(self, timeout: float = 5.0) -> None:
        """Append what is queued (for at most ``timeout`` seconds), then stop; the rest is dropped."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._queue.put(None, timeout=max(0.0, deadline - time.monotonic()))
                break
            except queue.Full:
                self._stopping.set()
                if time.monotonic() >= deadline:
                    break
        self._thread.join(max(0.0, deadline - time.monotonic()))
        if self._thread.is_alive():
            self._stopping.set()
            self._thread.join(1.0)
        left = self._queue.qsize()
        if left:
            self.stats.dropped += left
            log.warning("event log %s: %d event(s) not appended at shutdown", self.log.url, left)
