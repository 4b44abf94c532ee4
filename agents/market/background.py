"""The plumbing every live market source shares: an asyncio event loop owned by a background thread.

A source's connection lives on that loop (``start(main, timeout_s)`` runs ``main(stop)`` there); the
planner's thread reads the source's state on the loop (``call``) and ``close`` sets ``stop`` and joins
the thread. ``wait_ready`` polls a source's ``refresh`` until nothing is paused.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from agents.market.source import MarketView

T = TypeVar("T")

Main = Callable[[asyncio.Event], Coroutine[Any, Any, None]]


class BackgroundLoop:
    """An event loop on a daemon thread named ``name``; ``loop`` and ``stop`` are ``None`` until it runs."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.loop: asyncio.AbstractEventLoop | None = None
        self.stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None

    @property
    def started(self) -> bool:
        return self._thread is not None

    def start(self, main: Main, timeout_s: float) -> bool:
        """Run ``main(stop)`` on a new loop in the thread (unless one runs already); whether the loop was
        running within ``timeout_s``."""
        if self._thread is not None:
            return True
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(main, ready), name=self.name, daemon=True)
        self._thread.start()
        return ready.wait(timeout_s)

    def _run(self, main: Main, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self.loop = loop
        self.stop = stop = asyncio.Event()
        loop.call_soon(ready.set)
        try:
            loop.run_until_complete(main(stop))
        finally:
            loop.close()

    def call(self, coro: Coroutine[Any, Any, T], timeout_s: float = 10.0) -> T:
        """Run ``coro`` on the loop and wait for its result (from any other thread)."""
        loop = self.loop
        if loop is None:
            coro.close()
            raise RuntimeError(f"{self.name}: the loop is not started")
        return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout=timeout_s)

    def close(self) -> None:
        """Set ``stop`` (``main`` is to return on it) and join the thread."""
        loop, stop = self.loop, self.stop
        if loop is not None and stop is not None:
            with contextlib.suppress(RuntimeError):  # the loop already finished
                loop.call_soon_threadsafe(stop.set)
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None


def wait_ready(refresh: Callable[[], MarketView], timeout_s: float) -> MarketView:
    """Poll ``refresh`` until nothing is paused (or the timeout); the last view either way."""
    deadline = time.monotonic() + timeout_s
    while True:
        view = refresh()
        if not view.paused or time.monotonic() >= deadline:
            return view
        time.sleep(0.05)
