"""StoreWriter: the store's writes on a background thread so the execution hot path only enqueues.

Order is preserved (one FIFO queue, one thread); whatever queued up meanwhile is written in one transaction
(up to ``max_batch`` writes), so a burst costs one commit, not one per fill. ``flush()`` blocks until
everything queued so far is written and re-raises the first write error, so failures are never silent;
``close()`` flushes and stops. A failed batch is rolled back as a whole and the writer stops writing.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from decimal import Decimal

from agents.execution.model import ExecutionEvent, FillEvent, OrderEvent, OrderRequest
from agents.persistence.store import ExecutionStore

_Op = Callable[[ExecutionStore], object]
_STOP = object()


class StoreWriterError(RuntimeError):
    """A background write failed; raised from ``flush`` or the next enqueue."""


class StoreWriter:
    def __init__(self, store: ExecutionStore, *, max_queue: int = 100_000, max_batch: int = 256) -> None:
        self.store = store
        self.max_batch = max_batch
        self._queue: queue.Queue[object] = queue.Queue(maxsize=max_queue)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="execution-store-writer", daemon=True)
        self._closed = False
        self._thread.start()

    # -- enqueue (hot path) --------------------------------------------------------------------------
    def order(self, order: OrderRequest, ts_ms: int) -> None:
        self._put(lambda s: s.record_order(order, ts_ms))

    def event(self, event: ExecutionEvent) -> None:
        if isinstance(event, FillEvent):
            self._put(lambda s: s.record_fill(event))
        elif isinstance(event, OrderEvent):
            self._put(lambda s: s.record_order_event(event))

    def prediction(self, plan_id: str, predicted: Decimal, ts_ms: int) -> None:
        self._put(lambda s: s.record_prediction(plan_id, predicted, ts_ms))

    def _put(self, op: _Op) -> None:
        if self._closed:
            raise StoreWriterError("the writer is closed")
        self._raise_if_failed()
        self._queue.put(op)

    # -- control -------------------------------------------------------------------------------------
    def flush(self, timeout: float | None = 30.0) -> None:
        """Wait until every queued write is done; re-raise a write error."""
        done = threading.Event()
        self._queue.put(_Marker(done))
        if not done.wait(timeout):
            raise StoreWriterError(
                f"flush timed out after {timeout} s with {self._queue.qsize()} writes queued"
            )
        self._raise_if_failed()

    def close(self, timeout: float | None = 30.0) -> None:
        if self._closed:
            return
        self.flush(timeout)
        self._closed = True
        self._queue.put(_STOP)
        self._thread.join(timeout)

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise StoreWriterError(f"a background write failed: {self._error!r}") from self._error

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            batch: list[_Op] = []
            while callable(item) and not isinstance(item, _Marker) and len(batch) < self.max_batch:
                batch.append(item)
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    item = None
                    break
            if batch:
                self._write(batch)
            if item is _STOP:
                return
            if isinstance(item, _Marker):
                item.done.set()
            elif callable(item):
                self._write([item])  # the batch was full: this one starts the next

    def _write(self, batch: list[_Op]) -> None:
        if self._error is not None:
            return  # after a failure keep draining so flush() returns and reports it
        try:
            with self.store.batch():  # one transaction for everything queued meanwhile
                for op in batch:
                    op(self.store)
        except Exception as exc:  # surfaced by flush() and the next enqueue
            self._error = exc


class _Marker:
    """Queued by ``flush``: set once every write queued before it is done."""

    def __init__(self, done: threading.Event) -> None:
        self.done = done
