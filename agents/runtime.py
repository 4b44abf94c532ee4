"""The agent's execution runtime: each committed plan becomes paper orders, fills, inventory and a report.

It wraps an ``EdgeAgent`` from the outside (the private core stays free of I/O). After each committed plan it
executes the venue's own legs against the agent's *current* market through the execution stack a live agent
uses: ``PlanRunner`` (risk gates, leg-out monitor, Decimal accounting) and a ``StoreWriter`` that persists
orders, fills, positions, inventory and realised vs predicted PnL per plan to a SQLite file in the agent's
state directory on its own thread, off the hot path. How each plan ended is returned as a ``PlanOutcome``
(the gRPC shell turns it into an ``ExecutionReport`` for the coordinator's ledger).

Paper fills, by the kind of curve an asset trades on:

- order books and perpetuals: a ``PaperVenue`` walks a ``BookSnapshot`` of the curve's displayed levels with
  the curve's taker fee. The plan was sized on the curve's ``book_usage`` share of each level, so the walk
  usually fills a little better than predicted. A perpetual's fill is its book trade: the funding carry in
  its cost is a prediction over the holding horizon, not cash paid at the fill.
- pools (CPMM, CLMM) and any other curve: one fill for the whole leg at the curve's own average price
  ``|cost(q)| / |q|`` (the pool fee is inside the price, as on chain, so the fill carries no separate fee),
  and nothing when that price is beyond the leg's limit-price cap. The pool does not move with our fill:
  the synthetic market is rebuilt at every tick. For the risk gates a pool shows one level per side at its
  marginal price at zero with its budget box as size, so the book-usage gate caps a leg at that share of
  the box.

Before each session ``constrain`` bounds what the agent may plan by what the runtime will execute (risk
mode, daily notional left, assets held, quote cash), so the agent never commits to legs its own gates
would refuse and leave the other venues of the plan exposed.

One agent sees only its own legs, so a leg that falls short cannot be hedged on another venue from here: the
leg-out monitor records a LegOutEvent and asks for a re-plan, and the outcome says ``LEG_OUT``.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import logging
import math
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from pathlib import Path
from typing import Protocol

from agents.agent import CommittedPlan, EdgeAgent
from agents.execution.accounting import Portfolio
from agents.execution.book import BookSnapshot, Level, marketable
from agents.execution.client_ids import ClientIdRule
from agents.execution.clock import Scheduler, SystemClock
from agents.execution.events import LedgerEvent, LegOutEvent
from agents.execution.legout import HedgeQuote, LegOutMonitor, LegOutPolicy, LegProgress
from agents.execution.model import (
    ExecutionEvent,
    ExecutionInputError,
    FillEvent,
    Liquidity,
    OrderEvent,
    OrderRequest,
    OrderStatus,
    Side,
    require_id,
)
from agents.execution.outbox import Outbox, OutboxRecord
from agents.execution.paper import PaperConfig, PaperVenue
from agents.execution.plan import ExecPlan, plan_from_model
from agents.execution.runner import ExecutionVenue, PlanRunner
from agents.persistence.store import ExecutionStore
from agents.persistence.writer import StoreWriter
from agents.risk.events import Mode
from agents.risk.limits import RiskLimits
from agents.risk.manager import RiskManager
from agents.risk.market import MarketState
from energibridge.canonical import digest
from sdk.curves.base import CostCurve
from sdk.curves.order_book import OrderBookCurve
from sdk.curves.perp import PerpetualCurve
from sdk.reference_solver import demand_interval

log = logging.getLogger(__name__)

STORE_FILE = "execution.sqlite"
JOURNAL_FILE = "journal.jsonl"
POOL_PRICE_QUANTUM = Decimal("1e-8")
LIVE_POLL_NS = 200_000_000
"""Live orders whose outcome is unknown are looked up at the venue at most this often (ns)."""


class ExecutionStatus(enum.StrEnum):
    """How a venue's legs of one committed plan ended (mirrors the IR's ``ExecutionStatus``)."""

    FILLED = "filled"
    PARTIAL = "partial"
    HEDGED = "hedged"
    LEG_OUT = "leg_out"
    REFUSED = "refused"


@dataclass(frozen=True, slots=True)
class PlanOutcome:
    """One venue's execution of one committed plan; ``realised`` and ``predicted`` are quote cash flows."""

    plan_id: str
    session_id: str
    venue_id: str
    sequence: int
    plan_digest: bytes
    status: ExecutionStatus
    legs: int
    legs_short: int
    fills: tuple[FillEvent, ...]
    predicted: Decimal
    realised: Decimal
    fees: Decimal
    risk_gates: tuple[str, ...]
    leg_outs: tuple[LegOutEvent, ...]
    submitted_ns: int
    """``time.monotonic_ns()`` right after the paper orders were handed to the venue (0: none sent)."""
    completed_ms: int

    @property
    def fill_count(self) -> int:
        return len(self.fills)

    @property
    def pnl_vs_plan(self) -> Decimal:
        """Realised minus predicted: what execution added to (or took from) the plan's profit."""
        return self.realised - self.predicted


def classify(
    legs: Sequence[LegProgress], hedges: Sequence[LegProgress], *, complete: bool, legged_out: bool
) -> ExecutionStatus:
    """Status of a plan whose orders have all finished (pure)."""
    if legs and not any(leg.sent for leg in legs):
        return ExecutionStatus.REFUSED
    if not complete:
        return ExecutionStatus.LEG_OUT if legged_out else ExecutionStatus.PARTIAL
    if hedges:
        return ExecutionStatus.HEDGED
    if all(leg.filled == leg.size for leg in legs):
        return ExecutionStatus.FILLED
    return ExecutionStatus.PARTIAL


# -- the agent's market as execution sees it ------------------------------------------------------------


def _dec(value: float) -> Decimal:
    return Decimal(repr(value))


def book_snapshot(curve: OrderBookCurve, ts_ms: int, *, tick: Decimal, lot: Decimal) -> BookSnapshot:
    """The curve's displayed levels on the venue's price and size grids, as exchanges publish them.

    Bids are rounded down and asks up to the tick (levels that meet are merged), sizes down to the lot
    (emptied levels dropped). On the grids every fill's cash flow has few digits, so the Decimal accounting
    stays exact. The curve validated its levels already (finite, positive, sorted, not crossed): this runs
    on the tick-to-orders path and does not validate them twice.
    """
    return BookSnapshot(
        _grid(curve.bids, tick, lot, ROUND_FLOOR), _grid(curve.asks, tick, lot, ROUND_CEILING), ts_ms
    )


def _grid(
    levels: Sequence[tuple[float, float]], tick: Decimal, lot: Decimal, rounding: str
) -> tuple[Level, ...]:
    out: list[Level] = []
    for price, size in levels:
        p = (_dec(price) / tick).to_integral_value(rounding) * tick
        q = (_dec(size) / lot).to_integral_value(ROUND_FLOOR) * lot
        if q <= 0 or p <= 0:
            continue
        if out and out[-1][0] == p:
            out[-1] = (p, out[-1][1] + q)
        else:
            out.append((p, q))
    return tuple(out)


def pool_snapshot(curve: CostCurve, ts_ms: int) -> BookSnapshot:
    """What the risk gates see of a pool: one level per side at its marginal price at zero, box-sized."""
    bid, ask = curve.marginal(0.0)
    asks: tuple[Level, ...] = ((_dec(ask), _dec(curve.upper)),) if curve.upper > 0 and ask > 0 else ()
    bid = min(bid, ask * (1.0 - 1e-9))  # a zero-fee pool quotes bid == ask; keep the snapshot uncrossed
    bids: tuple[Level, ...] = ((_dec(bid), _dec(-curve.lower)),) if curve.lower < 0 and bid > 0 else ()
    return BookSnapshot(bids, asks, ts_ms)


def book_of(curve: CostCurve) -> OrderBookCurve | None:
    """The order book a curve trades on, or ``None`` for pools and other curves."""
    curve = unboxed(curve)
    if isinstance(curve, OrderBookCurve):
        return curve
    if isinstance(curve, PerpetualCurve):
        return curve.book
    return None


class BoxedCurve:
    """A curve restricted to ``[lower, upper]`` (which contains 0): what the runtime lets the agent plan.

    In one dimension the prox of a convex cost restricted to an interval is its prox clipped to the
    interval, and the best response is the unrestricted one projected onto it, so the wrapper costs one
    clip per call and every solver path (prox, demand, certified dual bound) stays exact.
    """

    __slots__ = ("_lower", "_upper", "inner")

    def __init__(self, inner: CostCurve, lower: float, upper: float) -> None:
        if not (math.isfinite(lower) and math.isfinite(upper)) or lower > 0 or upper < 0:
            raise ExecutionInputError(f"box must be finite and contain 0, got [{lower}, {upper}]")
        self.inner = inner
        self._lower = max(inner.lower, lower)
        self._upper = min(inner.upper, upper)

    @property
    def lower(self) -> float:
        return self._lower

    @property
    def upper(self) -> float:
        return self._upper

    def cost(self, x: float) -> float:
        if x < self._lower - 1e-12 or x > self._upper + 1e-12:
            return math.inf
        return self.inner.cost(x)

    def marginal(self, x: float) -> tuple[float, float]:
        left, right = self.inner.marginal(x)
        if x <= self._lower and self._lower > self.inner.lower:
            left = -math.inf
        if x >= self._upper and self._upper < self.inner.upper:
            right = math.inf
        return left, right

    def prox(self, v: float, rho: float) -> float:
        return min(max(self.inner.prox(v, rho), self._lower), self._upper)

    def demand(self, price: float) -> tuple[float, float]:
        lo, hi = demand_interval(self.inner, price)
        return min(max(lo, self._lower), self._upper), min(max(hi, self._lower), self._upper)


def unboxed(curve: CostCurve) -> CostCurve:
    return curve.inner if isinstance(curve, BoxedCurve) else curve


def _largest_buy(curve: CostCurve, cash: float) -> float:
    """The largest ``x`` in ``[0, upper]`` whose cost stays within ``cash`` (cost rises with buys)."""
    if cash <= 0 or curve.upper <= 0:
        return 0.0
    if curve.cost(curve.upper) <= cash:
        return curve.upper
    lo, hi = 0.0, curve.upper
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if curve.cost(mid) <= cash:
            lo = mid
        else:
            hi = mid
    return lo


def fee_bps(book: OrderBookCurve) -> Decimal:
    return _dec(round(book.fee * 10_000.0, 9))


Listener = Callable[[ExecutionEvent], None]


class LiveExecution(Protocol):
    """What the runtime needs of a live venue (``agents.execution.live.CcxtVenue``)."""

    outbox: Outbox

    def submit(self, order: OrderRequest, role: str = "leg") -> None: ...

    def cancel(self, client_order_id: str) -> None: ...

    def poll(self) -> None: ...

    def recover(self) -> list[OutboxRecord]: ...


class CurvePaperVenue:
    """Paper fills on a pool: the whole leg at the curve's average price (rounded against us to
    ``price_quantum``, which keeps the Decimal accounting exact), or nothing when that is beyond the cap."""

    def __init__(
        self,
        venue: str,
        curve: CostCurve,
        scheduler: Scheduler,
        listener: Listener,
        *,
        latency_ms: int = 0,
        price_quantum: Decimal = POOL_PRICE_QUANTUM,
    ) -> None:
        self.venue = require_id("venue", venue)
        self.curve = curve
        self.quantum = price_quantum
        self._scheduler = scheduler
        self._listener = listener
        self._latency_ms = latency_ms
        self._seen: set[str] = set()

    def submit(self, order: OrderRequest, role: str = "leg") -> None:
        if order.venue != self.venue:
            raise ExecutionInputError(f"order.venue must be {self.venue!r}, got {order.venue!r}")
        self._scheduler.call_later(self._latency_ms, lambda: self._arrive(order))

    def cancel(self, client_order_id: str) -> None:
        """Nothing rests on a pool: every order is final on arrival."""

    def _arrive(self, order: OrderRequest) -> None:
        now = self._scheduler.clock.now_ms()
        if order.client_order_id in self._seen:
            self._status(order, OrderStatus.REJECTED, Decimal(0), now, "duplicate client order id")
            return
        self._seen.add(order.client_order_id)
        if now > order.deadline_ms:
            self._status(order, OrderStatus.EXPIRED, Decimal(0), now, "arrived after its deadline")
            return
        self._status(order, OrderStatus.ACCEPTED, Decimal(0), now)
        quantity = float(order.side.sign * order.size)
        cost = self.curve.cost(quantity)
        average = abs(cost) / float(order.size)
        if not math.isfinite(cost) or average <= 0 or (cost < 0) != (quantity < 0):
            self._status(order, OrderStatus.CANCELLED, Decimal(0), now, "beyond the pool's feasible box")
            return
        rounding = ROUND_CEILING if order.side is Side.BUY else ROUND_FLOOR
        price = (_dec(average) / self.quantum).to_integral_value(rounding) * self.quantum
        if price <= 0 or not marketable(order.side, price, order.limit_price):
            self._status(
                order, OrderStatus.CANCELLED, Decimal(0), now, f"average price {price} beyond the cap"
            )
            return
        self._listener(
            FillEvent.of_order(
                order,
                fill_id=f"{order.client_order_id}-1",
                price=price,
                size=order.size,
                fee=Decimal(0),
                liquidity=Liquidity.TAKER,
                ts_ms=now,
            )
        )
        self._status(order, OrderStatus.FILLED, order.size, now)

    def _status(
        self, order: OrderRequest, status: OrderStatus, filled: Decimal, now: int, reason: str = ""
    ) -> None:
        self._listener(
            OrderEvent(
                client_order_id=order.client_order_id,
                venue=order.venue,
                instrument=order.instrument,
                status=status,
                filled=filled,
                remaining=Decimal(0) if status.terminal else order.size - filled,
                ts_ms=now,
                reason=reason,
            )
        )


class InstrumentRouter:
    """One venue id, one paper venue per instrument (books and pools differ, fees may differ)."""

    def __init__(self) -> None:
        self.by_instrument: dict[str, ExecutionVenue] = {}
        self._by_order: dict[str, ExecutionVenue] = {}

    def submit(self, order: OrderRequest, role: str = "leg") -> None:
        venue = self.by_instrument.get(order.instrument)
        if venue is None:
            raise ExecutionInputError(f"order.instrument: no paper market for {order.instrument!r}")
        self._by_order[order.client_order_id] = venue
        venue.submit(order, role)

    def cancel(self, client_order_id: str) -> None:
        venue = self._by_order.get(client_order_id)
        if venue is not None:
            venue.cancel(client_order_id)


class _EventLog:
    """The runtime's ledger-bound events (leg-outs, risk events, runner reports): kept per plan for the
    outcome and appended to a local JSON-lines journal by the poll thread, never on the hot path."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._pending: list[LedgerEvent] = []
        self.leg_outs: dict[str, list[LegOutEvent]] = {}
        self._lock = threading.Lock()

    def record(self, event: LedgerEvent) -> None:
        with self._lock:
            self._pending.append(event)
            if isinstance(event, LegOutEvent):
                self.leg_outs.setdefault(event.plan_id, []).append(event)

    def flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, []
        if not pending:
            return
        lines = [
            json.dumps({"audit_kind": e.audit_kind, "payload": e.payload()}, sort_keys=True) for e in pending
        ]
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")


class QuietStoreWriter(StoreWriter):
    """A ``StoreWriter`` that holds writes until the agent is quiet, then hands them to its thread.

    The writer thread shares the interpreter lock with the tick-to-orders path, so writes are held while
    a plan's orders go out and released once no order is in flight and nothing happened for ``quiet_ms``
    (0: right after the plan), or when the oldest has waited ``max_lag_ms``, and always on ``flush`` and
    ``close``. Measured (bench_loop): an agent alone in its process does best with 0, its writes then
    overlap its wait for the commit to finish; several agents in one interpreter need a quiet period, or
    one agent's writes land in the next one's tick (the in-process loop went from 9 to 24 ms). Durability
    lags by at most ``max_lag_ms`` (live orders are made durable by the execution outbox, not this store).
    """

    def __init__(self, store: ExecutionStore, *, quiet_ms: int = 0, max_lag_ms: int = 1_000) -> None:
        if quiet_ms < 0 or max_lag_ms < 0:
            raise ExecutionInputError(f"quiet_ms and max_lag_ms must be >= 0, got {quiet_ms}, {max_lag_ms}")
        super().__init__(store)
        self.quiet_ms = quiet_ms
        self.max_lag_ms = max_lag_ms
        self._held: list[Callable[[], None]] = []
        self._held_since = 0
        self._held_lock = threading.Lock()

    def _hold(self, op: Callable[[], None]) -> None:
        with self._held_lock:
            if not self._held:
                self._held_since = time.monotonic_ns()
            self._held.append(op)

    @property
    def holding(self) -> bool:
        return bool(self._held)

    def order(self, order: OrderRequest, ts_ms: int) -> None:
        self._hold(lambda: StoreWriter.order(self, order, ts_ms))

    def event(self, event: ExecutionEvent) -> None:
        self._hold(lambda: StoreWriter.event(self, event))

    def prediction(self, plan_id: str, predicted: Decimal, ts_ms: int) -> None:
        self._hold(lambda: StoreWriter.prediction(self, plan_id, predicted, ts_ms))

    def release(self, *, quiet_since_ns: int | None = None) -> bool:
        """Hand the held writes to the writer thread: now, or (with ``quiet_since_ns``) only if the agent has
        been quiet for ``quiet_ms`` or the oldest write waited ``max_lag_ms``. True when released."""
        with self._held_lock:
            if not self._held:
                return False
            now = time.monotonic_ns()
            if quiet_since_ns is not None:
                quiet = now - quiet_since_ns >= self.quiet_ms * 1_000_000
                stale = now - self._held_since >= self.max_lag_ms * 1_000_000
                if not (quiet or stale):
                    return False
            held, self._held = self._held, []
        for op in held:
            op()
        return True

    def flush(self, timeout: float | None = 30.0) -> None:
        self.release()
        super().flush(timeout)

    def close(self, timeout: float | None = 30.0) -> None:
        self.release()
        super().close(timeout)


@dataclass
class _Pending:
    plan: ExecPlan
    plan_digest: bytes
    gates: tuple[str, ...]
    submitted_ns: int


# -- the runtime ---------------------------------------------------------------------------------------


class AgentRuntime:
    """Paper execution of an agent's committed plans against its own current market.

    Parameters
    ----------
    agent:
        The private core; the runtime reads its curves and instrument specs, never changes them.
    state_dir:
        Where the execution store (``execution.sqlite``) and the local event journal live.
    inventory:
        Starting balances by asset (the quote included), written once into a fresh store.
    limits:
        Risk gates (defaults: ``RiskLimits()``).
    scheduler:
        Time and timers (default: wall clock); tests pass a ``VirtualTime``.
    latency_ms:
        Paper order latency; 0 fills within ``execute``.
    on_outcome:
        Called with each plan's outcome once all its orders are final (inside ``execute`` for latency 0).
    store_quiet_ms:
        Store writes wait until the agent has been quiet this long (``QuietStoreWriter``).
    """

    def __init__(
        self,
        agent: EdgeAgent,
        state_dir: Path,
        *,
        inventory: Mapping[str, Decimal] | None = None,
        quote: str = "USD",
        limits: RiskLimits | None = None,
        hedge_policy: LegOutPolicy | None = None,
        scheduler: Scheduler | None = None,
        latency_ms: int = 0,
        on_outcome: Callable[[PlanOutcome], None] | None = None,
        store_quiet_ms: int = 0,
        live: Callable[[Listener], LiveExecution] | None = None,
        client_ids: ClientIdRule | str = "paper",
    ) -> None:
        if isinstance(latency_ms, bool) or not isinstance(latency_ms, int) or latency_ms < 0:
            raise ExecutionInputError(f"latency_ms must be an integer >= 0, got {latency_ms!r}")
        self.agent = agent
        self.venue = agent.venue_id
        self.quote = require_id("quote", quote)
        self.scheduler = scheduler if scheduler is not None else Scheduler(SystemClock())
        self.clock = self.scheduler.clock
        self.latency_ms = latency_ms
        self.on_outcome = on_outcome
        state_dir.mkdir(parents=True, exist_ok=True)
        self.events = _EventLog(state_dir / JOURNAL_FILE)
        self.store = ExecutionStore.sqlite(state_dir / STORE_FILE)
        starting = {k: Decimal(v) for k, v in (inventory or {}).items()}
        for asset, amount in starting.items():
            if not amount.is_finite():
                raise ExecutionInputError(f"inventory[{asset!r}] must be finite, got {amount}")
        if starting and not self.store.inventory():
            now = self.clock.now_ms()
            for asset, amount in sorted(starting.items()):
                self.store.set_inventory(self.venue, asset, amount, now)
        self._balances = {a: q for (v, a), q in self.store.inventory().items() if v == self.venue}
        self.writer = QuietStoreWriter(self.store, quiet_ms=store_quiet_ms)
        self.risk = RiskManager(limits if limits is not None else RiskLimits(), self.events)
        self.runner = PlanRunner(
            clock=self.clock,
            monitor=LegOutMonitor(hedge_policy or LegOutPolicy(), self.events),
            sink=self.events,
            risk=self.risk,
            writer=self.writer,
            portfolio=Portfolio.starting_with({self.venue: self._balances.get(self.quote, Decimal(0))}),
        )
        self.router = InstrumentRouter()
        self.runner.add_venue(self.venue, self.router, kind=client_ids)
        self.live: LiveExecution | None = live(self._on_venue_event) if live is not None else None
        """Live orders (CCXT): every order-book leg goes to the venue instead of a paper book."""
        self._live_polled_ns = 0
        self.outcomes: list[PlanOutcome] = []
        self._lock = threading.RLock()
        self._curves: dict[str, CostCurve] = {}
        self._books: dict[str, BookSnapshot] = {}
        self._paper: dict[str, PaperVenue] = {}
        self._pools: dict[str, CurvePaperVenue] = {}
        self._fills: dict[str, list[FillEvent]] = {}
        self._fill_counts: dict[str, int] = {}
        self._pending: dict[str, _Pending] = {}
        self._market_ms = self.clock.now_ms()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._active_ns = time.monotonic_ns()
        self._thread: threading.Thread | None = None
        self._closed = False
        self.market_moved()

    # -- market ------------------------------------------------------------------------------------------
    def market_moved(self) -> None:
        """The agent's market changed or was confirmed (a feed tick): books are re-read at their next use
        (at once for orders in flight), mids feed the anomaly gate."""
        with self._lock:
            now = self.clock.now_ms()
            self._market_ms = now
            self._active_ns = time.monotonic_ns()
            self._sync_pending()
            for asset, curve in self.agent.curves.items():
                left, right = unboxed(curve).marginal(0.0)
                mid = 0.5 * (left + right)
                if math.isfinite(mid) and mid > 0:
                    self.risk.observe_price(self.venue, self._symbol(asset), _dec(mid), now)

    def _symbol(self, asset: str) -> str:
        return self.agent.config.instruments[asset].symbol

    def _sync(self, assets: Sequence[str]) -> MarketState:
        """Bring the paper venues of ``assets`` to the agent's current curves; the risk view of them."""
        books: dict[tuple[str, str], BookSnapshot] = {}
        for asset in assets:
            curve = unboxed(self.agent.curves[asset])
            symbol = self._symbol(asset)
            snapshot = self._books.get(symbol)
            if self._curves.get(asset) is not curve or snapshot is None:
                snapshot = self._install(asset, symbol, curve)
            elif snapshot.ts_ms != self._market_ms:
                snapshot = dataclasses.replace(snapshot, ts_ms=self._market_ms)
                self._books[symbol] = snapshot
                if symbol in self._paper:
                    self._paper[symbol].update_book(symbol, snapshot)
            books[(self.venue, symbol)] = snapshot
        return MarketState(books)

    def _sync_pending(self) -> None:
        """Orders in flight meet the market as it is when they arrive."""
        if self._pending:
            self._sync(sorted({leg.asset for p in self._pending.values() for leg in p.plan.legs}))

    def _install(self, asset: str, symbol: str, curve: CostCurve) -> BookSnapshot:
        self._curves[asset] = curve
        spec = self.agent.config.instruments[asset]
        book = book_of(curve)
        if book is None:
            snapshot = pool_snapshot(curve, self._market_ms)
            pool = self._pools.get(symbol)
            if pool is None:
                pool = CurvePaperVenue(
                    self.venue,
                    curve,
                    self.scheduler,
                    self._on_venue_event,
                    latency_ms=self.latency_ms,
                )
                self._pools[symbol] = pool
            pool.curve = curve
            self._paper.pop(symbol, None)
            self.router.by_instrument[symbol] = pool
        elif self.live is not None:
            snapshot = book_snapshot(book, self._market_ms, tick=spec.tick_size, lot=spec.lot_size)
            self._pools.pop(symbol, None)
            self.router.by_instrument[symbol] = self.live
        else:
            snapshot = book_snapshot(book, self._market_ms, tick=spec.tick_size, lot=spec.lot_size)
            fee = fee_bps(book)
            paper = self._paper.get(symbol)
            if paper is None or paper.config.taker_fee_bps != fee:
                paper = PaperVenue(
                    PaperConfig(self.venue, taker_fee_bps=fee, latency_ms=self.latency_ms),
                    self.scheduler,
                    self._on_venue_event,
                )
                self._paper[symbol] = paper
            paper.update_book(symbol, snapshot)
            self._pools.pop(symbol, None)
            self.router.by_instrument[symbol] = paper
        self._books[symbol] = snapshot
        return snapshot

    def _quotes(self) -> list[HedgeQuote]:
        quotes = []
        for asset, spec in self.agent.config.instruments.items():
            paper = self._paper.get(spec.symbol)
            book = paper.book(spec.symbol) if paper is not None else None
            if book is None and self.live is not None:
                book = self._books.get(spec.symbol)
            if book is not None:
                quotes.append(HedgeQuote(self.venue, spec.symbol, asset, book, spec.lot_size, spec.tick_size))
        return quotes

    def recover(self) -> int:
        """Live: before anything is sent, reconcile every order a previous process left unfinished, by
        client order id at the venue (adopting its state and fills; nothing is re-sent past its deadline).
        Returns how many orders were reconciled."""
        if self.live is None:
            return 0
        with self._lock:
            unfinished = self.live.outbox.records(venue=self.venue, unfinished_only=True)
            for record in unfinished:
                self.runner.track_existing(record.order, record.role)  # before any event can arrive for it
            self.live.recover()
            return len(unfinished)

    # -- what the agent may plan ------------------------------------------------------------------------
    def constrain(
        self, *, inventory_limits: bool = True, paused: Collection[str] = ()
    ) -> dict[str, tuple[float, float]]:
        """Bound the agent's next plan by what this runtime will execute, before the session starts.

        The agent must not commit to legs its own gates would refuse: that would leave the other venues
        of the plan exposed. Per asset (the caps split evenly across assets, keeping the local problem
        separable): nothing while trading is paused, killed, observe-only or past the daily loss cap;
        otherwise the daily notional still unused, and with ``inventory_limits`` sells up to the asset
        held and buys up to the quote cash (spot venues and pools; a perpetual's margin is in its curve).
        Assets in ``paused`` (a stale or void book) get an empty box. Returns the boxes; the agent's curves
        become ``BoxedCurve``s of the market's curves.
        """
        with self._lock:
            now = self.clock.now_ms()
            curves = {a: unboxed(c) for a, c in self.agent.curves.items()}
            limits = self.risk.limits
            halted = self.risk.mode is not Mode.ACTIVE or self.risk.pnl_today(now) <= -limits.daily_loss_cap
            share = max(len(curves), 1)
            notional = float(limits.daily_notional_cap - self.risk.notional_used(now)) * (1 - 1e-3) / share
            cash = float(self._balances.get(self.quote, Decimal(0))) / share
            boxes: dict[str, tuple[float, float]] = {}
            for asset, curve in curves.items():
                if halted or notional <= 0 or asset in paused:
                    boxes[asset] = (0.0, 0.0)
                    continue
                lower, upper = curve.lower, curve.upper
                prices = [
                    abs(m) for m in (*curve.marginal(lower), *curve.marginal(upper)) if math.isfinite(m)
                ]
                worst = max(prices, default=0.0)
                if worst > 0:
                    lower, upper = max(lower, -notional / worst), min(upper, notional / worst)
                if inventory_limits and not isinstance(curve, PerpetualCurve):
                    held = float(self._balances.get(asset, Decimal(0)))
                    lower = max(lower, -max(held, 0.0))
                    upper = min(upper, _largest_buy(curve, cash))
                boxes[asset] = (min(lower, 0.0), max(upper, 0.0))
            self.agent.update_curves({a: BoxedCurve(curves[a], *boxes[a]) for a in curves})
            return boxes

    # -- execution ---------------------------------------------------------------------------------------
    def _on_venue_event(self, event: ExecutionEvent) -> None:
        if isinstance(event, FillEvent):
            # Fill ids keyed by the client order id (itself from the idempotency key) stay unique across
            # restarts, so the store's fill-id deduplication never drops a new fill.
            n = self._fill_counts.get(event.client_order_id, 0) + 1
            self._fill_counts[event.client_order_id] = n
            event = dataclasses.replace(event, fill_id=f"{event.client_order_id}-{n}")
            self._fills.setdefault(event.plan_id, []).append(event)
            balances = self._balances
            balances[event.asset] = balances.get(event.asset, Decimal(0)) + event.signed_size
            balances[event.quote] = balances.get(event.quote, Decimal(0)) + event.cash_flow
        self.runner.on_event(event)

    def execute(self, committed: CommittedPlan) -> PlanOutcome | None:
        """Execute the venue's legs of a committed plan; the outcome when it is already final."""
        with self._lock:
            plan_digest = digest(committed.delta)
            try:
                plan = plan_from_model(committed.delta)
                market = self._sync(sorted({leg.asset for leg in plan.legs}))
                decision = self.runner.submit_plan(plan, market, quote=self.quote)
            except (ExecutionInputError, KeyError, ValueError) as exc:
                log.error("%s: plan %s not executed: %s", self.venue, committed.delta.sequence, exc)
                return self._refused_outright(committed, plan_digest, str(exc))
            submitted = time.monotonic_ns() if decision.allowed else 0
            gates = tuple(sorted({r.gate.value for r in decision.refused}))
            self._pending[plan.plan_id] = _Pending(plan, plan_digest, gates, submitted)
            done = self._advance()
            self._active_ns = time.monotonic_ns()
            if not self._pending:
                self.writer.release(quiet_since_ns=self._active_ns)  # at once when quiet_ms is 0
            self._wake.set()  # the poll thread watches for the quiet moment to write the store
        return next((o for o in done if o.plan_id == plan.plan_id), None)

    def poll(self) -> list[PlanOutcome]:
        """Run due paper events, leg-out decisions and reports; write the store and the journal once the
        agent is quiet (the runtime thread calls this)."""
        with self._lock:
            done = self._advance()
            idle = not self._pending
        if idle:
            self.writer.release(quiet_since_ns=self._active_ns)
            if not self.writer.holding:
                self.events.flush()
        return done

    def _advance(self) -> list[PlanOutcome]:
        now = self.clock.now_ms()
        self._sync_pending()
        if self.live is not None and self._pending:
            ns = time.monotonic_ns()
            if ns - self._live_polled_ns >= LIVE_POLL_NS:
                self._live_polled_ns = ns
                self.live.poll()  # orders whose outcome is not known yet (lost answers, resting remainders)
        self.scheduler.run_due(now)
        self.runner.tick(self._quotes())
        done = []
        for plan_id in sorted(self._pending):
            legs, hedges = self.runner.monitor.progress(plan_id)
            if any(p.working for p in (*legs, *hedges)):
                continue
            pending = self._pending.pop(plan_id)
            complete = self.runner.monitor.complete(plan_id, now)
            outcome = self._outcome(pending, legs, hedges, complete, now)
            if not complete:
                self.runner.monitor.close(plan_id)  # the residual goes back to the federation
                self.risk.record_outcome(plan_id, outcome.realised, outcome.predicted, now)
            done.append(outcome)
        for outcome in done:
            self.outcomes.append(outcome)
            if self.on_outcome is not None:
                self.on_outcome(outcome)
        return done

    def _outcome(
        self,
        pending: _Pending,
        legs: Sequence[LegProgress],
        hedges: Sequence[LegProgress],
        complete: bool,
        now: int,
    ) -> PlanOutcome:
        plan = pending.plan
        leg_outs = tuple(self.events.leg_outs.get(plan.plan_id, ()))
        portfolio = self.runner.portfolio
        return PlanOutcome(
            plan_id=plan.plan_id,
            session_id=plan.session_id,
            venue_id=self.venue,
            sequence=plan.sequence,
            plan_digest=pending.plan_digest,
            status=classify(legs, hedges, complete=complete, legged_out=bool(leg_outs)),
            legs=len(legs),
            legs_short=sum(1 for leg in legs if leg.filled < leg.size),
            fills=tuple(self._fills.get(plan.plan_id, ())),
            predicted=plan.expected_profit,
            realised=portfolio.plan_cash_flow.get(plan.plan_id, Decimal(0)),
            fees=portfolio.plan_fees.get(plan.plan_id, Decimal(0)),
            risk_gates=pending.gates,
            leg_outs=leg_outs,
            submitted_ns=pending.submitted_ns,
            completed_ms=now,
        )

    def _refused_outright(self, committed: CommittedPlan, plan_digest: bytes, reason: str) -> PlanOutcome:
        delta = committed.delta
        outcome = PlanOutcome(
            plan_id=f"{delta.session_id}/{delta.sequence}",
            session_id=delta.session_id,
            venue_id=self.venue,
            sequence=delta.sequence,
            plan_digest=plan_digest,
            status=ExecutionStatus.REFUSED,
            legs=len(delta.legs),
            legs_short=len(delta.legs),
            fills=(),
            predicted=delta.expected_profit_quote,
            realised=Decimal(0),
            fees=Decimal(0),
            risk_gates=("execution_error",),
            leg_outs=(),
            submitted_ns=0,
            completed_ms=self.clock.now_ms(),
        )
        self.outcomes.append(outcome)
        if self.on_outcome is not None:
            self.on_outcome(outcome)
        log.debug("refused outright: %s", reason)
        return outcome

    # -- lifecycle ---------------------------------------------------------------------------------------
    def start(self, interval_s: float = 0.005, idle_s: float = 0.5) -> None:
        """Poll on a daemon thread: every ``interval_s`` while orders are in flight (paper latency,
        leg-out deadlines), otherwise every ``idle_s`` (the journal) or when a plan leaves orders open."""
        if self._thread is not None:
            return

        def loop() -> None:
            while not self._stop.is_set():
                busy = self._pending or self.writer.holding
                self._wake.wait(interval_s if busy else idle_s)
                self._wake.clear()
                try:
                    self.poll()
                except Exception:  # the loop must survive one bad poll; the error is logged
                    log.exception("%s: execution poll failed", self.venue)

        self._thread = threading.Thread(target=loop, name=f"runtime-{self.venue}", daemon=True)
        self._thread.start()

    def open_plans(self) -> int:
        with self._lock:
            return len(self._pending)

    def settle(self, timeout_s: float = 5.0) -> bool:
        """Wait until every submitted plan has an outcome (or the timeout); True when none is open."""
        deadline = time.monotonic() + timeout_s
        while True:
            self.poll()
            if not self.open_plans():
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)

    def close(self) -> None:
        """Stop polling, write everything queued, close the store writer."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self.poll()
        self.writer.close()  # releases whatever it still holds
        self.events.flush()
        self._closed = True

    def inventory(self) -> dict[str, Decimal]:
        """Balances by asset after every fill written so far."""
        if not self._closed:
            self.writer.flush()
        return {
            asset: amount for (venue, asset), amount in self.store.inventory().items() if venue == self.venue
        }
