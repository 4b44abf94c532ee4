"""StoreWriter: the store's writes on a background thread so the execution hot path only enqueues.

Order is preserved (one FIFO queue, one thread); whatever queued up meanwhile is written in one transaction
(up to ``max_batch`` writes), so a burst costs one commit, not one per fill. ``flush()`` blocks until
everything queued so far is written and re-raises the first write error, so failures are never silent;
``close()`` flushes and stops. A failed batch is rolled back as a whole and the writer stops writing.

``DurableStoreWriter`` adds the agent's durability bound on top (see its docstring).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from decimal import Decimal

from agents.persistence.store import ExecutionStore, PlanRecord, Residual
from sdk.adapters.execution import ExecutionEvent, ExecutionInputError, FillEvent, OrderEvent, OrderRequest

_Op = Callable[[ExecutionStore], object]
_STOP = object()


class StoreWriterError(RuntimeError):
    """A background write failed; raised from ``flush`` or the next enqueue."""


class StoreWriter:
    def __init__(
        self,
        store: ExecutionStore,
        *,
        max_queue: int = 100_000,
        max_batch: int = 256,
        background: bool = True,
    ) -> None:
        self.store = store
        self.max_batch = max_batch
        self._queue: queue.Queue[object] = queue.Queue(maxsize=max_queue)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="execution-store-writer", daemon=True)
        self._closed = False
        if background:  # a subclass that writes in its callers' threads needs no writer thread
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

    def plan(self, plan: PlanRecord, ts_ms: int) -> None:
        self._put(lambda s: s.record_plan(plan, ts_ms))

    def plan_done(self, plan_id: str, status: str, realised_profit: Decimal, ts_ms: int) -> None:
        self._put(lambda s: s.finish_plan(plan_id, status, realised_profit, ts_ms))

    def residual(self, residual: Residual) -> None:
        self._put(lambda s: s.record_residual(residual))

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


class DurableStoreWriter(StoreWriter):
    """The agent's store writer and its durability bound.

    Bound (what a kill at any instant can lose): nothing the world has seen.

    - An order is durable *before* it is sent: the runtime calls ``before_send`` ahead of handing any
      order to a venue, and that commits every write made so far, the order's intent and its plan's
      prediction included (write-ahead).
    - Everything else (fills, order states, outcomes, residuals) is durable *before* anything reports it:
      the runtime calls ``barrier`` ahead of every plan outcome it hands on (the coordinator's execution
      report, the operator's event), so a fill the world heard of is in the store.
    - Otherwise writes are held off the hot path and written by the runtime's poll thread once the agent
      has been quiet for ``quiet_ms`` (0: at once) or the oldest waited ``max_lag_ms``; under continuous
      trading that still happens at every plan (``before_send``) and every ``max_lag_ms``.

    Held writes are committed in the thread that releases them, in one transaction, under one lock that
    keeps them in order; a barrier never waits for another thread to be scheduled (a hand-off to a
    writer thread cost tens of ms under the interpreter lock with several agents in one process).

    A fill that happened on a paper book inside a process killed before its barrier was never seen: the
    book died with the process, and on restart its orders are closed and their plans' residuals opened
    (``AgentRuntime.recover``). Live orders are reconciled at the venue by client order id.
    """

    def __init__(self, store: ExecutionStore, *, quiet_ms: int = 0, max_lag_ms: int = 1_000) -> None:
        if quiet_ms < 0 or max_lag_ms < 0:
            raise ExecutionInputError(f"quiet_ms and max_lag_ms must be >= 0, got {quiet_ms}, {max_lag_ms}")
        super().__init__(store, background=False)
        self.quiet_ms = quiet_ms
        self.max_lag_ms = max_lag_ms
        self.barriers = 0
        """Transactions committed (each a write-ahead or a pre-report point, or a quiet-time release)."""
        self._held: list[_Op] = []
        self._held_since = 0
        self._held_lock = threading.Lock()
        self._io = threading.Lock()
        self._intents = False

    def _hold(self, op: _Op, *, intent: bool = False) -> None:
        if self._closed:
            raise StoreWriterError("the writer is closed")
        self._raise_if_failed()
        with self._held_lock:
            if not self._held:
                self._held_since = time.monotonic_ns()
            self._held.append(op)
            self._intents = self._intents or intent

    @property
    def holding(self) -> bool:
        return bool(self._held)

    def order(self, order: OrderRequest, ts_ms: int) -> None:
        self._hold(lambda s: s.record_order(order, ts_ms), intent=True)

    def event(self, event: ExecutionEvent) -> None:
        if isinstance(event, FillEvent):
            self._hold(lambda s: s.record_fill(event))
        elif isinstance(event, OrderEvent):
            self._hold(lambda s: s.record_order_event(event))

    def prediction(self, plan_id: str, predicted: Decimal, ts_ms: int) -> None:
        self._hold(lambda s: s.record_prediction(plan_id, predicted, ts_ms))

    def plan(self, plan: PlanRecord, ts_ms: int) -> None:
        self._hold(lambda s: s.record_plan(plan, ts_ms))

    def plan_done(self, plan_id: str, status: str, realised_profit: Decimal, ts_ms: int) -> None:
        self._hold(lambda s: s.finish_plan(plan_id, status, realised_profit, ts_ms))

    def residual(self, residual: Residual) -> None:
        self._hold(lambda s: s.record_residual(residual))

    def release(self, *, quiet_since_ns: int | None = None) -> bool:
        """Write the held writes now, or (with ``quiet_since_ns``) only if the agent has been quiet for
        ``quiet_ms`` or the oldest write waited ``max_lag_ms``. True when something was written."""
        if quiet_since_ns is not None:
            with self._held_lock:
                if not self._held:
                    return False
                now = time.monotonic_ns()
                quiet = now - quiet_since_ns >= self.quiet_ms * 1_000_000
                stale = now - self._held_since >= self.max_lag_ms * 1_000_000
                if not (quiet or stale):
                    return False
        return self._write_held()

    def _write_held(self) -> bool:
        with self._io:  # whoever writes takes everything held so far: writes never overtake each other
            with self._held_lock:
                held, self._held = self._held, []
                self._intents = False
            if not held:
                return False
            self._raise_if_failed()
            try:
                with self.store.batch():
                    for op in held:
                        op(self.store)
            except Exception as exc:
                self._error = exc
                raise StoreWriterError(f"a store write failed: {exc!r}") from exc
            self.barriers += 1
            return True

    def before_send(self) -> None:
        """Write-ahead point, called before an order leaves: commits if an order intent is not durable."""
        if self._intents:
            self._write_held()

    def barrier(self) -> None:
        """Commit every write made so far before returning."""
        self._write_held()

    def flush(self, timeout: float | None = 30.0) -> None:
        self._write_held()

    def close(self, timeout: float | None = 30.0) -> None:
        if self._closed:
            return
        self._write_held()
        self._closed = True


class _Marker:
    """Queued by ``flush``: set once every write queued before it is done."""

    def __init__(self, done: threading.Event) -> None:
        self.done = done
