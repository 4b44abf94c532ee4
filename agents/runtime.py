"""The agent's execution runtime: each committed plan becomes paper orders, fills, inventory and a report.

It wraps an ``EdgeAgent`` from the outside (the private core stays free of I/O). After each committed plan it
executes the venue's own legs against the agent's *current* market through the execution stack a live agent
uses: ``PlanRunner`` (risk gates, leg-out monitor, Decimal accounting) and a ``DurableStoreWriter`` that
persists plans, orders, fills, positions, inventory, residuals and realised vs predicted PnL to a SQLite file
in the agent's state directory on its own thread, off the hot path. How each plan ended is returned as a
``PlanOutcome`` (the gRPC shell turns it into an ``ExecutionReport`` for the coordinator's ledger).

Paper fills, by the kind of curve an asset trades on:

- order books and perpetuals: a ``PaperVenue`` walks a ``BookSnapshot`` of the curve's displayed levels with
  the curve's taker fee. The plan was sized on the curve's ``book_usage`` share of each level, so the walk
  usually fills a little better than predicted. A perpetual's fill is its book trade: the funding carry in
  its cost is a prediction over the holding horizon, not cash paid at the fill.
- pools (CPMM, CLMM), prediction markets and any other curve: one fill for the whole leg at the curve's own
  average price ``|cost(q)| / |q|`` (the fee is inside the price, as on chain, so the fill carries no
  separate fee), and nothing when that price is beyond the leg's limit-price cap. The pool does not move
  with our fill: the synthetic market is rebuilt at every tick. For the risk gates such a curve shows one
  level per side at its marginal price at zero with its budget box as size, so the book-usage gate caps a
  leg at that share of the box.

What the gates judge, and when:

- **The box.** Before each session ``constrain`` bounds what the agent may plan by ``RiskManager.box``: the
  gates' own predicates evaluated on the very legs the agent would send (``agents.agent.leg_limit_price``),
  intersected with the assets held and the quote cash. Any plan inside the box passes every gate, so the
  agent never commits to legs its executor would refuse and leave the other venues of the plan exposed.
- **The feed.** The market source calls ``feed_observer()``'s hook on every book update (any thread; it only
  queues): each update refreshes that book's age for the staleness gate and each new mid feeds the anomaly
  gate, so a book that goes void or jumps during a session is refused at execution, and a long session on
  a live feed is not mistaken for a stale one.
- **The outcome.** The prediction-error gate compares realised with predicted *profit*: the venue's share of
  the plan's profit, its trades valued at its marginal price at the plan (where the region's consensus
  price lies), not its cash flow (about the traded notional).

Durability: the bound is ``DurableStoreWriter``'s (an order is durable before it is sent, everything else
before any outcome reports it). ``recover`` closes, after a restart, what the previous process left: live
orders reconciled at the venue by client order id, paper orders closed (their book ended with the process),
and every plan whose outcome was never reported gets one now, its residual opened.

One agent sees only its own legs, so a leg that falls short cannot be hedged on another venue from here: the
leg-out monitor records a LegOutEvent and asks for a re-plan, and the outcome says ``LEG_OUT``. Each such
request, and every residual a plan leaves (``planned - filled`` per asset), is written to the store's
``exec_residuals`` (``AgentRuntime.residuals``). ``constrain`` turns the open ones into the agent's hedge
targets (``agents.hedge``): its next session brings them as fixed positions, so the federation has the
other venues trade them (the coordinator starts that session at once on a LEG_OUT report and commits it
even at a cost), and the residuals are marked ``taken`` inside the commit, before it is acknowledged.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, Decimal, localcontext
from pathlib import Path
from typing import Protocol

from agents.agent import CommittedPlan, EdgeAgent, leg_limit_price
from agents.execution.accounting import Portfolio
from agents.execution.book import Level
from agents.execution.client_ids import ClientIdRule
from agents.execution.clock import Scheduler, SystemClock
from agents.execution.events import LedgerEvent, LegOutEvent
from agents.execution.legout import HedgeQuote, LegOutMonitor, LegOutPolicy, LegProgress, ReplanRequest
from agents.execution.outbox import Outbox, OutboxRecord, OutboxState
from agents.execution.paper import CurvePaperVenue, PaperConfig, PaperVenue
from agents.execution.plan import ExecPlan, plan_from_model
from agents.execution.runner import PlanRunner
from agents.hedge import owed
from agents.hedge import targets as hedge_targets
from agents.perps.funding import FundingEvent, FundingPayment, PerpPositions
from agents.persistence.store import ExecutionStore, PlanRecord, Residual
from agents.persistence.writer import DurableStoreWriter
from agents.risk.box import LegShape
from agents.risk.limits import RiskLimits
from agents.risk.manager import RiskManager
from agents.risk.market import MarketState
from energibridge.canonical import digest
from sdk.adapters.events import BookSnapshot
from sdk.adapters.execution import (
    ExecutionEvent,
    ExecutionInputError,
    FillEvent,
    OrderStatus,
    Side,
    require_id,
)
from sdk.adapters.interfaces import ExecutionAdapter, ExecutionListener
from sdk.curves.base import CostCurve, settled_cost
from sdk.curves.order_book import OrderBookCurve
from sdk.curves.perp import PerpetualCurve
from sdk.curves.piecewise import PiecewiseLinearCurve
from sdk.curves.prediction import PredictionMarketCurve
from sdk.reference_solver import demand_interval

log = logging.getLogger(__name__)

STORE_FILE = "execution.sqlite"
JOURNAL_FILE = "journal.jsonl"
LIVE_POLL_NS = 200_000_000
"""Live orders whose outcome is unknown are looked up at the venue at most this often (ns)."""
PROFIT_QUANTUM = Decimal("1e-12")
"""Resolution of the profits the runtime values (quote units)."""
FEED_QUEUE = 200_000
"""Feed observations queued between two drains at most (the oldest go first beyond it, counted)."""


class ExecutionStatus(enum.StrEnum):
    """How a venue's legs of one committed plan ended (mirrors the IR's ``ExecutionStatus``)."""

    FILLED = "filled"
    PARTIAL = "partial"
    HEDGED = "hedged"
    LEG_OUT = "leg_out"
    REFUSED = "refused"


@dataclass(frozen=True, slots=True)
class PlanOutcome:
    """One venue's execution of one committed plan.

    ``realised`` and ``predicted`` are quote cash flows (about the notional traded); ``realised_profit`` and
    ``predicted_profit`` value the venue's trades at its marginal price at the plan: its share of the
    plan's profit, what the prediction-error gate and ``pnl_vs_plan`` compare.
    """

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
    predicted_profit: Decimal = Decimal(0)
    realised_profit: Decimal = Decimal(0)
    residuals: tuple[Residual, ...] = ()
    """What the plan left this venue owing the region, per asset (opened in the store for a hedge session)."""
    recovered: bool = False
    """Closed by ``recover`` after a restart (the process that executed it ended first)."""

    @property
    def fill_count(self) -> int:
        return len(self.fills)

    @property
    def pnl_vs_plan(self) -> Decimal:
        """Realised minus predicted profit: what execution added to (or took from) the plan's profit."""
        return self.realised_profit - self.predicted_profit


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


def book_snapshot(
    curve: OrderBookCurve | PredictionMarketCurve,
    ts_ms: int,
    *,
    venue: str,
    symbol: str,
    tick: Decimal,
    lot: Decimal,
) -> BookSnapshot[Decimal]:
    """The curve's displayed levels on the venue's price and size grids, as exchanges publish them.

    Bids are rounded down and asks up to the tick (levels that meet are merged), sizes down to the lot
    (emptied levels dropped). On the grids every fill's cash flow has few digits, so the Decimal accounting
    stays exact. The curve validated its levels already (finite, positive, sorted, not crossed): this runs
    on the tick-to-orders path and does not validate them twice.
    """
    return BookSnapshot(
        venue,
        symbol,
        _grid(curve.bids, tick, lot, ROUND_FLOOR),
        _grid(curve.asks, tick, lot, ROUND_CEILING),
        ts_ms / 1000,
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


def pool_snapshot(curve: CostCurve, ts_ms: int, *, venue: str, symbol: str) -> BookSnapshot[Decimal]:
    """What the risk gates see of a pool: one level per side at its marginal price at zero, box-sized."""
    bid, ask = curve.marginal(0.0)
    asks: tuple[Level, ...] = ((_dec(ask), _dec(curve.upper)),) if curve.upper > 0 and ask > 0 else ()
    bid = min(bid, ask * (1.0 - 1e-9))  # a zero-fee pool quotes bid == ask; keep the snapshot uncrossed
    bids: tuple[Level, ...] = ((_dec(bid), _dec(-curve.lower)),) if curve.lower < 0 and bid > 0 else ()
    return BookSnapshot(venue, symbol, bids, asks, ts_ms / 1000)


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

    def exact_cost(self, x: float) -> float:
        """The inner curve's settled cost (its exact fees where it has them) inside the box."""
        if x < self._lower - 1e-12 or x > self._upper + 1e-12:
            return math.inf
        return settled_cost(self.inner, x)

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


UNWIND_URGENCY = 0.05
"""Reward per unit closed, as a fraction of the mark, while a perpetual position is being unwound: the
price the venue gives up to be flat (well above fees and spread, so the federation takes the other side)."""


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


Listener = ExecutionListener


class LiveExecution(ExecutionAdapter, Protocol):
    """The SDK's ``ExecutionAdapter`` plus the durable outbox a live venue reconciles through
    (``agents.execution.live.CcxtVenue``)."""

    outbox: Outbox

    def poll(self) -> None: ...

    def recover(self) -> list[OutboxRecord]: ...

    def reconcile(self, record: OutboxRecord) -> None: ...


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


@dataclass
class _Pending:
    plan: ExecPlan
    plan_digest: bytes
    gates: tuple[str, ...]
    submitted_ns: int
    record: PlanRecord


def profit_marks(curves: Mapping[str, CostCurve], trades: Mapping[str, Decimal]) -> dict[str, Decimal]:
    """The price each planned trade is valued at: the venue's marginal price at its planned quantity, on
    the side toward zero (a buy's left, a sell's right derivative).

    At the region's optimum the consensus price lies in every venue's subdifferential at its trade, so each
    venue's ``mark * x - cost(x)`` is its share of the plan's profit; the inner side makes it a lower
    bound (never negative, by convexity), so the shares never add up to more than the plan's profit.
    """
    out: dict[str, Decimal] = {}
    for asset, qty in trades.items():
        left, right = unboxed(curves[asset]).marginal(float(qty))
        mark = left if qty > 0 else right
        if not math.isfinite(mark):
            mark = right if qty > 0 else left
        out[asset] = _dec(mark) if math.isfinite(mark) else Decimal(0)
    return out


def plan_marks(
    committed: CommittedPlan, curves: Mapping[str, CostCurve], planned: Mapping[str, Decimal]
) -> dict[str, Decimal]:
    """What a plan's trades are valued at: the session's consensus prices (common to every venue, so the
    venues' shares add up to the plan's profit exactly, the trades summing to zero), else the venue's own
    marginal prices (``profit_marks``)."""
    prices = committed.prices
    if planned and all(math.isfinite(prices.get(a, math.nan)) for a in planned):
        return {a: _dec(prices[a]) for a in planned}
    return profit_marks(curves, planned)


def valued(cash: Decimal, quantities: Mapping[str, Decimal], marks: Mapping[str, Decimal]) -> Decimal:
    """Cash plus the quantities valued at ``marks``: a plan's profit, predicted or realised, to
    ``PROFIT_QUANTUM`` (a mark has float precision; reports carry a bounded number of digits)."""
    with localcontext() as ctx:
        ctx.prec = 60
        total = cash + sum((marks.get(a, Decimal(0)) * q for a, q in quantities.items()), Decimal(0))
        return total.quantize(PROFIT_QUANTUM)


def _price_breaks(curve: CostCurve) -> tuple[float, ...]:
    """Quantities where a leg's limit price may step (the knots of the ladder that prices it, as
    ``execution_price_limit`` resolves it): hints for the box search."""
    base = unboxed(curve)
    if isinstance(base, PerpetualCurve):
        base = base.book
    return base.knots if isinstance(base, PiecewiseLinearCurve) else ()


def _lots_toward_zero(value: Decimal | float, lot: Decimal) -> Decimal:
    amount = value if isinstance(value, Decimal) else _dec(value)
    return (amount / lot).to_integral_value(ROUND_DOWN) * lot


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
        Called with each plan's outcome once all its orders are final and everything the outcome reports
        is durable: on the runtime's thread once ``start``ed (so a commit is acknowledged without waiting
        for the store), otherwise inside ``execute``/``poll``.
    store_quiet_ms:
        Store writes wait until the agent has been quiet this long, within the durability bound
        (``DurableStoreWriter``).
    venue_balances:
        ``inventory`` is the venue's own balance report (live): after ``recover`` it replaces the store's
        balances, the venue being the truth. Otherwise it only seeds a fresh store.
    pool_venue:
        Builds the paper venue of a pool (non-book) curve, with ``CurvePaperVenue``'s signature (default:
        ``CurvePaperVenue``); a Solana pool venue passes ``agents.solana.venue.pool_venue_factory``.
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
        venue_balances: bool = False,
        pool_venue: Callable[..., CurvePaperVenue] | None = None,
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
        self._reported_balances = starting if venue_balances else {}
        if starting and not self.store.inventory():
            now = self.clock.now_ms()
            for asset, amount in sorted(starting.items()):
                self.store.set_inventory(self.venue, asset, amount, now)
        self._balances = {a: q for (v, a), q in self.store.inventory().items() if v == self.venue}
        self.perps = PerpPositions(self._traded_positions())
        self.unwinds: dict[str, str] = {}
        """Perpetual positions being closed (asset -> the exit's reason): ``request_unwind``."""
        self._urgent: dict[str, tuple[CostCurve, CostCurve]] = {}
        """Per unwinding asset: (the curve planned with, the market's curve it was derived from)."""
        """Traded positions per asset (from the store's fills, then every fill) and the funding booked on
        them: a perpetual's open position enters the next session's curve (``constrain``), so its margin
        box bounds the cumulative position, not one session's trade."""
        self.writer = DurableStoreWriter(self.store, quiet_ms=store_quiet_ms)
        self.risk = RiskManager(limits if limits is not None else RiskLimits(), self.events)
        self.runner = PlanRunner(
            clock=self.clock,
            monitor=LegOutMonitor(hedge_policy or LegOutPolicy(), self.events),
            sink=self.events,
            risk=self.risk,
            writer=self.writer,
            portfolio=Portfolio.starting_with({self.venue: self._balances.get(self.quote, Decimal(0))}),
            on_replan=self._on_replan,
            judge_outcomes=False,  # one venue's cash flow is not a profit: ``_advance`` judges outcomes
            before_send=self.writer.before_send,
        )
        self._client_ids = client_ids
        self.live: LiveExecution | None = live(self._on_venue_event) if live is not None else None
        """Live orders (CCXT): every order-book leg goes to the venue instead of a paper book."""
        self._live_polled_ns = 0
        self.outcomes: list[PlanOutcome] = []
        self.boxes: dict[str, tuple[Decimal, Decimal]] = {}
        """The last boxes ``constrain`` derived from the gates (lot multiples)."""
        self._lock = threading.RLock()
        self._curves: dict[str, CostCurve] = {}
        self._books: dict[str, BookSnapshot[Decimal]] = {}
        self._paper: dict[str, PaperVenue] = {}
        self._pools: dict[str, CurvePaperVenue] = {}
        self._pool_venue = pool_venue or CurvePaperVenue
        """Builds a pool's paper venue (``CurvePaperVenue``'s signature); a Solana pool fills exactly."""
        self._fills: dict[str, list[FillEvent]] = {}
        self._fill_counts: dict[str, int] = {}
        self._pending: dict[str, _Pending] = {}
        self._market_ms = self.clock.now_ms()
        # The feed's observations (see ``feed_observer``): queued by the feed thread, drained under the lock.
        self._feed: deque[tuple[str, float | None, int]] = deque(maxlen=FEED_QUEUE)
        self._feed_driven = False
        self._feed_ms: dict[str, int] = {}
        self._feed_mid: dict[str, float] = {}
        self._void: set[str] = set()
        self.feed_updates = 0
        self.feed_dropped = 0
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._active_ns = time.monotonic_ns()
        self._thread: threading.Thread | None = None
        self._report_lock = threading.Lock()
        self._unreported: list[PlanOutcome] = []
        self._closed = False
        self.on_hedge: Callable[[dict[str, object]], None] | None = None
        """Told (for the operator) each time a committed plan takes this venue's residuals over."""
        agent.on_hedged = self._on_hedged
        self.market_moved()

    # -- market ------------------------------------------------------------------------------------------
    def feed_observer(self) -> Callable[[str, float | None], None]:
        """The hook a market source calls on every book update: ``observe(asset, mid)``, ``mid`` ``None``
        when the book went void (a resync). Thread-safe and non-blocking (one queue append, no lock), so
        the feed loop never waits for the runtime; the observations reach the gates before their next
        check (``constrain``, ``execute``, every poll). Once attached, the feed (not the session start)
        feeds the anomaly gate, and each update refreshes its book's age for the staleness gate."""
        self._feed_driven = True
        queue = self._feed
        now_ms = self.clock.now_ms

        def observe(asset: str, mid: float | None) -> None:
            if len(queue) >= FEED_QUEUE:
                self.feed_dropped += 1  # the oldest observation goes
            queue.append((asset, mid, now_ms()))

        return observe

    def _drain_feed(self) -> None:
        """Apply the queued feed observations in order (under the lock)."""
        queue = self._feed
        instruments = self.agent.config.instruments
        while queue:
            try:
                asset, mid, ts = queue.popleft()
            except IndexError:
                break
            if asset not in instruments:
                continue
            self.feed_updates += 1
            if mid is None or not (math.isfinite(mid) and mid > 0):
                self._void.add(asset)
                continue
            self._void.discard(asset)
            if ts > self._feed_ms.get(asset, 0):
                self._feed_ms[asset] = ts
            if self._feed_mid.get(asset) != mid:
                self._feed_mid[asset] = mid
                self.risk.observe_price(self.venue, instruments[asset].symbol, _dec(mid), ts)

    def market_moved(self) -> None:
        """The agent's curves changed or were confirmed (a session start): books are re-read at their next
        use (at once for orders in flight). Without a feed attached, the curves' mids feed the anomaly
        gate here (once per call); with one, the feed does on every update."""
        with self._lock:
            self._drain_feed()
            now = self.clock.now_ms()
            self._market_ms = now
            self._active_ns = time.monotonic_ns()
            self._sync_pending()
            if self._feed_driven:
                return
            for asset, curve in self.agent.curves.items():
                left, right = unboxed(curve).marginal(0.0)
                mid = 0.5 * (left + right)
                if math.isfinite(mid) and mid > 0:
                    self.risk.observe_price(self.venue, self._symbol(asset), _dec(mid), now)

    def _symbol(self, asset: str) -> str:
        return self.agent.config.instruments[asset].symbol

    def _book_ms(self, asset: str) -> int:
        """When this asset's book was last confirmed: the session start or the feed's last update."""
        return max(self._market_ms, self._feed_ms.get(asset, 0))

    def _sync(self, assets: Sequence[str]) -> MarketState:
        """Bring the paper venues of ``assets`` to the agent's current curves; the risk view of them (a void
        book is absent from it: nothing trades on it)."""
        books: dict[tuple[str, str], BookSnapshot[Decimal]] = {}
        for asset in assets:
            curve = unboxed(self.agent.curves[asset])
            symbol = self._symbol(asset)
            snapshot = self._books.get(symbol)
            ts = self._book_ms(asset)
            if self._curves.get(asset) is not curve or snapshot is None:
                snapshot = self._install(asset, symbol, curve, ts)
            elif snapshot.ts_ms != ts:
                snapshot = dataclasses.replace(snapshot, receipt_ts=ts / 1000)
                self._books[symbol] = snapshot
                if symbol in self._paper:
                    self._paper[symbol].update_book(symbol, snapshot)
            if asset not in self._void:
                books[(self.venue, symbol)] = snapshot
        return MarketState(books)

    def _sync_pending(self) -> None:
        """Orders in flight meet the market as it is when they arrive."""
        if self._pending:
            self._sync(sorted({leg.asset for p in self._pending.values() for leg in p.plan.legs}))

    def _install(self, asset: str, symbol: str, curve: CostCurve, ts_ms: int) -> BookSnapshot[Decimal]:
        self._curves[asset] = curve
        spec = self.agent.config.instruments[asset]
        book: OrderBookCurve | PredictionMarketCurve | None = book_of(curve)
        if book is None and self.live is not None and isinstance(curve, PredictionMarketCurve):
            book = curve  # a prediction venue trading live: its own book, orders through its connector
        if book is None:
            snapshot = pool_snapshot(curve, ts_ms, venue=self.venue, symbol=symbol)
            pool = self._pools.get(symbol)
            if pool is None:
                pool = self._pool_venue(
                    self.venue,
                    curve,
                    self.scheduler,
                    self._on_venue_event,
                    latency_ms=self.latency_ms,
                )
                self._pools[symbol] = pool
            pool.curve = curve
            self._paper.pop(symbol, None)
            self._route(symbol, pool)
        elif self.live is not None:
            snapshot = book_snapshot(
                book, ts_ms, venue=self.venue, symbol=symbol, tick=spec.tick_size, lot=spec.lot_size
            )
            self._pools.pop(symbol, None)
            self._route(symbol, self.live)
        else:
            assert isinstance(book, OrderBookCurve)  # a prediction curve on paper took the curve path
            snapshot = book_snapshot(
                book, ts_ms, venue=self.venue, symbol=symbol, tick=spec.tick_size, lot=spec.lot_size
            )
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
            self._route(symbol, paper)
        self._books[symbol] = snapshot
        return snapshot

    def _route(self, symbol: str, adapter: ExecutionAdapter) -> None:
        """``symbol``'s orders go to ``adapter`` (a paper book, a pool, or the live venue)."""
        self.runner.add_venue(self.venue, adapter, kind=self._client_ids, instruments=(symbol,))

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

    # -- restart ----------------------------------------------------------------------------------------
    def recover(self) -> int:
        """Close what a previous process left, before anything is sent; returns how many orders it settled.

        Live: every order the outbox does not know finished is reconciled at the venue by client order id
        (adopting its state and fills; nothing is re-sent past its deadline), and so is every order the
        outbox finished but the store never saw finish (killed in between). Paper: an order still open in
        the store ended with its book, in the previous process: it is closed as cancelled. Then every plan
        whose outcome was never reported gets one (``PlanOutcome.recovered``) with its residual opened,
        handed to ``on_outcome`` like any other. With ``venue_balances`` the venue's balances replace the
        store's afterwards.
        """
        with self._lock:
            now = self.clock.now_ms()
            settled = 0
            if self.live is not None:
                outbox = self.live.outbox
                records = outbox.records(venue=self.venue)
                finished = {o.client_order_id for o in self.store.orders() if _final(o.status)}
                for record in records:
                    if record.state in (OutboxState.PENDING, OutboxState.SENT):
                        self.runner.track_existing(record.order, record.role)  # before its events arrive
                        settled += 1
                self.live.recover()
                for record in records:
                    cid = record.order.client_order_id
                    if record.state is OutboxState.DONE and cid not in finished:
                        self.runner.track_existing(record.order, record.role)
                        self.live.reconcile(record)
                        settled += 1
            else:
                for order in self.store.orders():
                    if order.venue == self.venue and not _final(order.status):
                        self.store.settle_order(
                            order.client_order_id,
                            OrderStatus.CANCELLED.value,
                            "the paper book ended with the previous process",
                            now,
                        )
                        settled += 1
            self.writer.flush()
            if self._reported_balances:
                for asset, amount in sorted(self._reported_balances.items()):
                    self.store.set_inventory(self.venue, asset, amount, now)
            self._balances = {a: q for (v, a), q in self.store.inventory().items() if v == self.venue}
            self.perps.positions = self._traded_positions()
            recovered = self._recover_plans(now)
        for outcome in recovered:
            self.outcomes.append(outcome)
            if self.on_outcome is not None:
                self.on_outcome(outcome)
        return settled

    def _recover_plans(self, now: int) -> list[PlanOutcome]:
        """Outcomes of the plans the previous process never reported, from what the store holds."""
        out: list[PlanOutcome] = []
        orders_by_plan: dict[str, list[str]] = {}
        for order in self.store.orders():
            orders_by_plan.setdefault(order.plan_id, []).append(order.status)
        for record in self.store.plans(venue=self.venue, unreported_only=True):
            statuses = orders_by_plan.get(record.plan_id, [])
            if any(not _final(s) for s in statuses):
                log.warning(
                    "%s: plan %s still has working orders; reported later", self.venue, record.plan_id
                )
                continue
            fills = tuple(self.store.fills(record.plan_id))
            realised = sum((f.cash_flow for f in fills), Decimal(0))
            filled = _filled_by_asset(fills)
            residuals = _residuals_of(
                record.plan_id, self.venue, record.planned, filled, reason="lost", now=now, refused=False
            )
            if not statuses or all(s == OrderStatus.REJECTED.value for s in statuses):
                status = ExecutionStatus.REFUSED
            elif residuals:  # the other venues' legs are out there: the region is exposed by ours
                status = ExecutionStatus.LEG_OUT
            else:
                status = ExecutionStatus.FILLED
            outcome = PlanOutcome(
                plan_id=record.plan_id,
                session_id=record.session_id,
                venue_id=self.venue,
                sequence=record.sequence,
                plan_digest=record.plan_digest,
                status=status,
                legs=len(record.planned),
                legs_short=len(residuals),
                fills=fills,
                predicted=record.predicted_cash,
                realised=realised,
                fees=sum((f.fee for f in fills), Decimal(0)),
                risk_gates=("recovered",),
                leg_outs=(),
                submitted_ns=0,
                completed_ms=now,
                predicted_profit=record.predicted_profit,
                realised_profit=valued(realised, filled, record.marks),
                residuals=residuals,
                recovered=True,
            )
            for residual in residuals:
                self.store.record_residual(residual)
            self.store.finish_plan(record.plan_id, status.value, outcome.realised_profit, now)
            out.append(outcome)
        return out

    # -- what the agent may plan ------------------------------------------------------------------------
    def constrain(
        self, *, inventory_limits: bool = True, paused: Collection[str] = ()
    ) -> dict[str, tuple[float, float]]:
        """Bound the agent's next plan by what this runtime will execute, before the session starts.

        The agent must not commit to legs its own gates would refuse: that would leave the other venues
        of the plan exposed. The box is ``RiskManager.box`` (the gates read the other way round, on the
        legs the agent would build) within what is not a gate: the curve's own box and, with
        ``inventory_limits``, sells up to the asset held and buys up to the quote cash split evenly over
        the assets (spot venues and pools; a perpetual's margin is in its curve). Assets in ``paused`` (a
        stale or void book) get an empty box. Returns the boxes as floats; the agent's curves become
        ``BoxedCurve``s of the market's curves.
        """
        with self._lock:
            self._drain_feed()
            now = self.clock.now_ms()
            curves = {
                a: self._positioned(a, self._plain(a, unboxed(c))) for a, c in self.agent.curves.items()
            }
            market = self._sync(sorted(curves))
            cash = float(self._balances.get(self.quote, Decimal(0))) / max(len(curves), 1)
            shapes: dict[str, LegShape] = {}
            for asset, curve in sorted(curves.items()):
                if asset in paused:
                    continue
                spec = self.agent.config.instruments[asset]
                lot = spec.lot_size
                lower = _lots_toward_zero(_bound(curve.lower), lot)
                upper = _lots_toward_zero(_bound(curve.upper), lot)
                if inventory_limits and not isinstance(curve, PerpetualCurve):
                    held = max(self._balances.get(asset, Decimal(0)), Decimal(0))
                    lower = max(lower, -_lots_toward_zero(held, lot))
                    upper = min(upper, _lots_toward_zero(_largest_buy(curve, cash), lot))
                shapes[asset] = LegShape(
                    instrument=spec.symbol,
                    lot=lot,
                    lower=min(lower, Decimal(0)),
                    upper=max(upper, Decimal(0)),
                    limit_price=_limit_of(curve, spec.tick_size),
                    breaks=_price_breaks(curve),
                )
            derived = self.risk.box(self.venue, shapes, market, now)
            zero = (Decimal(0), Decimal(0))
            self.boxes = {a: derived.get(a, zero) for a in curves}
            for asset in [a for a in self.unwinds if a in curves]:
                curves[asset], self.boxes[asset] = self._unwinding(asset, curves[asset], self.boxes[asset])
            boxes = {a: (float(lo), float(hi)) for a, (lo, hi) in self.boxes.items()}
            self.agent.update_curves({a: BoxedCurve(curves[a], *boxes[a]) for a in curves})
            self.agent.set_hedge_targets(self.hedge_targets())
            return boxes

    def _traded_positions(self) -> dict[str, Decimal]:
        return {p.asset: p.quantity for p in self.store.positions() if p.venue == self.venue}

    def _positioned(self, asset: str, curve: CostCurve) -> CostCurve:
        """A perpetual's curve with the position this venue holds in it (margin applies cumulatively)."""
        if isinstance(curve, PerpetualCurve):
            return curve.with_position(float(self.perps.position(asset)))
        return curve

    def request_unwind(self, asset: str, reason: str) -> None:
        """Close this venue's perpetual position in ``asset`` through the next sessions (an exit: funding
        converged, profit target, spread widening, stop loss). Its box then allows only trades toward flat,
        and its cost rewards them by ``UNWIND_URGENCY`` of the mark per unit, so the federation finds the
        other side; the request ends once the position is flat."""
        with self._lock:
            held = self.agent.curves.get(asset)
            if held is None or not isinstance(unboxed(held), PerpetualCurve):
                raise ExecutionInputError(f"unwind: {asset!r} is not a perpetual on {self.venue}")
            self.unwinds[asset] = reason
            log.info("%s: unwinding %s %s (%s)", self.venue, self.perps.position(asset), asset, reason)

    def _plain(self, asset: str, curve: CostCurve) -> CostCurve:
        """The market's curve behind an unwind's rewarded one (the reward is never applied twice)."""
        urgent = self._urgent.pop(asset, None)
        return urgent[1] if urgent is not None and urgent[0] is curve else curve

    def _unwinding(
        self, asset: str, curve: CostCurve, box: tuple[Decimal, Decimal]
    ) -> tuple[CostCurve, tuple[Decimal, Decimal]]:
        position = self.perps.position(asset)
        if position == 0 or not isinstance(curve, PerpetualCurve):
            self.unwinds.pop(asset, None)
            return curve, box
        lower, upper = box
        lot = self.agent.config.instruments[asset].lot_size
        closing = _lots_toward_zero(-position, lot)
        box = (max(lower, closing), Decimal(0)) if position > 0 else (Decimal(0), min(upper, closing))
        sign = 1.0 if position > 0 else -1.0
        carry_rate = curve.carry / curve.mark_price + sign * UNWIND_URGENCY
        urgent = PerpetualCurve(
            curve.book,
            mark_price=curve.mark_price,
            funding_rate_per_hour=carry_rate,
            horizon_hours=1.0,
            margin=curve.margin,
            max_leverage=curve.max_leverage,
            position=curve.position,
        )
        self._urgent[asset] = (urgent, curve)
        return urgent, box

    # -- funding -----------------------------------------------------------------------------------------
    def settle_funding(self, asset: str, event: FundingEvent) -> FundingPayment | None:
        """Book one funding event of the venue's stream on the position held in ``asset`` (longs pay a
        positive rate, shorts receive it) into the quote balance; ``None`` when flat."""
        with self._lock:
            booked = FundingEvent(asset, event.time_ms, event.rate, event.mark)
            payment = self.perps.settle(booked)
            if payment is not None:
                self._balances[self.quote] = self._balances.get(self.quote, Decimal(0)) + payment.amount
                log.info(
                    "%s: funding %s on %s %s at %s rate %s",
                    self.venue,
                    payment.amount,
                    payment.position,
                    asset,
                    payment.mark,
                    payment.rate,
                )
            return payment

    # -- resolution (prediction markets) -------------------------------------------------------------
    def settle_resolution(self, asset: str, payout: Decimal) -> tuple[Decimal, Decimal]:
        """Book the resolution of ``asset``'s market: the position held (negative: short) is closed at
        ``payout`` (1 for the winning outcome, 0 otherwise) into the quote balance; ``(quantity, cash)``."""
        with self._lock:
            quantity = self._balances.get(asset, Decimal(0))
            cash = quantity * payout
            self._balances[asset] = Decimal(0)
            self._balances[self.quote] = self._balances.get(self.quote, Decimal(0)) + cash
            log.info("%s: %s resolved at %s: %s held, %s paid", self.venue, asset, payout, quantity, cash)
            return quantity, cash

    def balances(self) -> dict[str, Decimal]:
        """The runtime's balances now (fills and settlements booked so far)."""
        with self._lock:
            return dict(self._balances)

    # -- hedging -----------------------------------------------------------------------------------------
    def hedge_targets(self) -> dict[str, Decimal]:
        """What the open residuals leave the region holding on this venue's account, per asset, on its lot
        grid: the targets its next session brings (``agents.hedge``), so the other venues trade them."""
        lots = {a: s.lot_size for a, s in self.agent.config.instruments.items()}
        return hedge_targets(owed(self._stored_residuals()), lots)

    def _on_hedged(self, session_id: str, sequence: int, taken: Mapping[str, Decimal]) -> None:
        """A committed plan took these targets over: their residuals are ``taken``, durably, before the
        commit is acknowledged (so a restart never brings them twice)."""
        now = self.clock.now_ms()
        plans: list[str] = []
        for residual in self._stored_residuals():
            if residual.asset in taken:
                self.store.set_residual_state(residual.plan_id, residual.asset, "taken", now)
                plans.append(residual.plan_id)
        event: dict[str, object] = {
            "event": "hedge",
            "venue": self.venue,
            "session": session_id,
            "sequence": sequence,
            "targets": {a: format(q, "f") for a, q in sorted(taken.items())},
            "residual_plans": sorted(set(plans)),
        }
        log.info("%s: plan %s of %s took over %s", self.venue, sequence, session_id, event["targets"])
        if self.on_hedge is not None:
            self.on_hedge(event)

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
            perps = self.perps
            position = perps.fill(
                event.asset, event.signed_size, time_ms=max(event.ts_ms, perps.last_time_ms)
            )
            if position == 0 and self.unwinds.pop(event.asset, None) is not None:
                log.info("%s: %s unwound (flat)", self.venue, event.asset)
        self.runner.on_event(event)

    def _on_replan(self, request: ReplanRequest) -> None:
        """The leg-out monitor asks the federation to re-plan a residual: kept durably for a hedge session."""
        self.writer.residual(
            Residual(
                plan_id=request.plan_id,
                asset=request.asset,
                venue=self.venue,
                side=request.side,
                size=request.size,
                reason="replan",
                ts_ms=request.ts_ms,
                exclude_venues=request.exclude_venues,
            )
        )
        self.writer.barrier()  # rare, and the one record of what the region still owes: durable at once

    def execute(self, committed: CommittedPlan) -> PlanOutcome | None:
        """Execute the venue's legs of a committed plan; the outcome when it is already final."""
        with self._lock:
            self._drain_feed()
            plan_digest = committed.plan_commitment or digest(committed.delta)
            try:
                plan = plan_from_model(committed.delta)
                market = self._sync(sorted({leg.asset for leg in plan.legs}))
                planned: dict[str, Decimal] = {}
                for leg in plan.legs:
                    planned[leg.asset] = planned.get(leg.asset, Decimal(0)) + leg.signed_size
                marks = plan_marks(committed, self.agent.curves, planned)
                record = PlanRecord(
                    plan_id=plan.plan_id,
                    session_id=plan.session_id,
                    sequence=plan.sequence,
                    venue=self.venue,
                    plan_digest=plan_digest,
                    predicted_cash=plan.expected_profit,
                    predicted_profit=valued(plan.expected_profit, planned, marks),
                    marks=marks,
                    planned=planned,
                )
                self.writer.plan(record, self.clock.now_ms())  # durable with the orders' intents
                decision = self.runner.submit_plan(plan, market, quote=self.quote)
            except (ExecutionInputError, KeyError, ValueError) as exc:
                log.error("%s: plan %s not executed: %s", self.venue, committed.delta.sequence, exc)
                return self._refused_outright(committed, plan_digest, str(exc))
            submitted = time.monotonic_ns() if decision.allowed else 0
            gates = tuple(sorted({r.gate.value for r in decision.refused}))
            self._pending[plan.plan_id] = _Pending(plan, plan_digest, gates, submitted, record)
            done = self._advance()
            self._active_ns = time.monotonic_ns()
            if not self._pending:
                self.writer.release(quiet_since_ns=self._active_ns)  # at once when quiet_ms is 0
            self._wake.set()  # the poll thread watches for the quiet moment to write the store
        return next((o for o in done if o.plan_id == plan.plan_id), None)

    def poll(self) -> list[PlanOutcome]:
        """Run due paper events, leg-out decisions and reports; hand held store writes on once the agent is
        quiet or they waited ``max_lag_ms``, and append the journal when idle (the runtime thread calls
        this)."""
        with self._lock:
            self._drain_feed()
            done = self._advance()
            idle = not self._pending
        self._hand_on()
        self.writer.release(quiet_since_ns=self._active_ns)
        if idle and not self.writer.holding:
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
            if outcome.status is not ExecutionStatus.REFUSED:  # nothing traded: no prediction to judge
                self.risk.record_outcome(plan_id, outcome.realised_profit, outcome.predicted_profit, now)
            for residual in outcome.residuals:
                self.writer.residual(residual)
            self.writer.plan_done(plan_id, outcome.status.value, outcome.realised_profit, now)
            done.append(outcome)
        self._report(done)
        return done

    def _report(self, done: Sequence[PlanOutcome]) -> None:
        """Queue final outcomes to be handed on once durable: by the runtime's thread when it runs (off the
        plan's path: the commit is acknowledged without waiting for the store), here otherwise."""
        if not done:
            return
        self.outcomes.extend(done)
        with self._report_lock:
            self._unreported.extend(done)
        if self._thread is None:
            self._hand_on()
        else:
            self._wake.set()

    def _hand_on(self) -> None:
        """Make everything the queued outcomes report durable (the durability bound), then hand them on."""
        with self._report_lock:
            batch, self._unreported = self._unreported, []
            if not batch:
                return
            self.writer.barrier()
            for outcome in batch:
                if self.on_outcome is not None:
                    self.on_outcome(outcome)
        self.events.flush()  # the journal too, or continuous trading (never idle) would never write it

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
        fills = tuple(self._fills.get(plan.plan_id, ()))
        filled = _filled_by_asset(fills)
        realised = portfolio.plan_cash_flow.get(plan.plan_id, Decimal(0))
        status = classify(legs, hedges, complete=complete, legged_out=bool(leg_outs))
        reason = "refused" if status is ExecutionStatus.REFUSED else "leg_out"
        record = pending.record
        return PlanOutcome(
            plan_id=plan.plan_id,
            session_id=plan.session_id,
            venue_id=self.venue,
            sequence=plan.sequence,
            plan_digest=pending.plan_digest,
            status=status,
            legs=len(legs),
            legs_short=sum(1 for leg in legs if leg.filled < leg.size),
            fills=fills,
            predicted=plan.expected_profit,
            realised=realised,
            fees=portfolio.plan_fees.get(plan.plan_id, Decimal(0)),
            risk_gates=pending.gates,
            leg_outs=leg_outs,
            submitted_ns=pending.submitted_ns,
            completed_ms=now,
            predicted_profit=record.predicted_profit,
            realised_profit=valued(realised, filled, record.marks),
            residuals=_residuals_of(
                plan.plan_id,
                self.venue,
                record.planned,
                filled,
                reason=reason,
                now=now,
                refused=status is ExecutionStatus.REFUSED,
            ),
        )

    def _refused_outright(self, committed: CommittedPlan, plan_digest: bytes, reason: str) -> PlanOutcome:
        delta = committed.delta
        now = self.clock.now_ms()
        plan_id = f"{delta.session_id}/{delta.sequence}"
        planned = dict(committed.trades)
        residuals = _residuals_of(plan_id, self.venue, planned, {}, reason="refused", now=now, refused=True)
        outcome = PlanOutcome(
            plan_id=plan_id,
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
            completed_ms=now,
            residuals=residuals,
        )
        self.writer.plan(
            PlanRecord(
                plan_id=plan_id,
                session_id=delta.session_id,
                sequence=delta.sequence,
                venue=self.venue,
                plan_digest=plan_digest,
                predicted_cash=delta.expected_profit_quote,
                predicted_profit=Decimal(0),
                planned=planned,
            ),
            now,
        )
        for residual in residuals:
            self.writer.residual(residual)
        self.writer.plan_done(plan_id, outcome.status.value, Decimal(0), now)
        log.debug("refused outright: %s", reason)
        self._report([outcome])
        return outcome

    def residuals(self, state: str | None = "open") -> list[Residual]:
        """What this venue still owes the region (open residuals by default), durable in the store: the
        queue a hedge session takes from (``ExecutionStore.set_residual_state`` marks them taken)."""
        self.writer.flush()
        return self._stored_residuals(state)

    def _stored_residuals(self, state: str | None = "open") -> list[Residual]:
        """The residuals already in the store, without forcing held writes out (a session start and a
        commit are no place for that): every residual is durable before the outcome that leaves it is
        reported, and a re-plan request at once, so nothing a hedge session acts on is still held."""
        return [r for r in self.store.residuals(state=state) if r.venue == self.venue]

    # -- lifecycle ---------------------------------------------------------------------------------------
    def start(self, interval_s: float = 0.005, idle_s: float = 0.5) -> None:
        """Poll on a daemon thread: every ``interval_s`` while orders are in flight (paper latency,
        leg-out deadlines), otherwise every ``idle_s`` (the journal, the feed's queue) or when a plan
        leaves orders open."""
        if self._thread is not None:
            return

        def loop() -> None:
            while not self._stop.is_set():
                busy = self._pending or self.writer.holding or self._unreported
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

    def cancel_open(self) -> list[str]:
        """Ask the venue to cancel every order still working (the operator's cancel-all and kill switch);
        returns their client order ids. Their outcomes arrive as usual (cancelled, or filled first)."""
        with self._lock:
            working = [
                progress.key
                for plan_id in sorted(self._pending)
                for group in self.runner.monitor.progress(plan_id)
                for progress in group
                if progress.working
            ]
            for client_order_id in working:
                self.runner.cancel(client_order_id)
        self._wake.set()
        return working

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


def _final(status: str) -> bool:
    """Whether a stored order status is final (``pending`` is an intent whose send may not have happened)."""
    try:
        return OrderStatus(status).terminal
    except ValueError:
        return False


def _filled_by_asset(fills: Sequence[FillEvent]) -> dict[str, Decimal]:
    out: dict[str, Decimal] = {}
    for fill in fills:
        out[fill.asset] = out.get(fill.asset, Decimal(0)) + fill.signed_size
    return out


def _residuals_of(
    plan_id: str,
    venue: str,
    planned: Mapping[str, Decimal],
    filled: Mapping[str, Decimal],
    *,
    reason: str,
    now: int,
    refused: bool,
) -> tuple[Residual, ...]:
    """Per asset, what the venue still owes the region: ``planned - filled``, to trade on another venue."""
    out = []
    for asset in sorted(set(planned) | set(filled)):
        owed = planned.get(asset, Decimal(0)) - filled.get(asset, Decimal(0))
        if owed == 0:
            continue
        out.append(
            Residual(
                plan_id=plan_id,
                asset=asset,
                venue=venue,
                side=Side.of_signed(owed),
                size=abs(owed),
                reason="refused" if refused else reason,
                ts_ms=now,
                exclude_venues=(venue,),
            )
        )
    return tuple(out)


_BOUND = 1e15


def _bound(value: float) -> float:
    """A curve's box bound, finite (an unbounded side is left to the other limits)."""
    return max(-_BOUND, min(_BOUND, value)) if math.isfinite(value) else math.copysign(_BOUND, value)


def _limit_of(curve: CostCurve, tick: Decimal) -> Callable[[Decimal], Decimal]:
    def limit(quantity: Decimal) -> Decimal:
        return leg_limit_price(curve, quantity, tick)

    return limit
