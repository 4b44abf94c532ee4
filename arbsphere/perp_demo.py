"""`arbsphere demo --case perp`: a funding-arbitrage pair from entry to exit on two simulated perp venues.

Two venues list the same BTC perpetual with the same books; one pays a high funding rate that decays
toward the other's over the hours. Each venue is an ``EdgeAgent`` holding only its own book, margin and
funding, with an ``AgentRuntime`` executing its legs on paper; the coordinator's ``SessionDriver`` runs the
federated sessions (in process, secure aggregation on). Every simulated hour:

1. funding is settled on each venue's open position (``AgentRuntime.settle_funding``: longs pay a positive
   rate, shorts receive it);
2. flat: the entry gates judge the pair (latency, depth >= 2x size, funding delta > 0.01% per 8 h, the
   confluence score); when they pass, the venues' curves carry the funding over an 8 h horizon and one
   federated session sizes the pair (short where funding is high, long where it is low, inside each
   venue's margin box);
3. open: the exits judge the pair (stop loss, spread widening, profit target, funding convergence below
   0.005% per 8 h); an exit asks both runtimes to unwind, and the next federated session closes both legs.

Position, funding booked and PnL are printed at each step. Everything the launcher prints it reads from the
runtimes' own books (positions, cash, funding), as an operator of each venue would.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from rich.console import Console
from rich.table import Table

from agents.agent import CommittedPlan, EdgeAgent, InstrumentSpec, VenueConfig
from agents.execution.clock import VirtualTime
from agents.perps.exits import ExitPolicy, OpenPair, PairState, check_exit
from agents.perps.funding import FundingEvent
from agents.perps.gates import EntryPolicy, LatencyMonitor, PairCandidate, ServerTimePoll, Signals, evaluate
from agents.risk.limits import RiskLimits
from agents.runtime import AgentRuntime
from arbsphere.inprocess import InProcessLink
from coordinator.session import SessionDriver
from energibridge.protocol.venue import VenueInfo
from sdk.curves.order_book import OrderBookCurve
from sdk.curves.perp import PerpetualCurve

ASSET = "BTC"
SYMBOL = "BTC-USD-PERP"
MARK = 60_000.0
HOUR_MS = 3_600_000
START_MS = 1_800_000_000_000 - 1_800_000_000_000 % HOUR_MS
HIGH = "hyperliquid-sim"
"""Pays the high funding rate at the start (its shorts receive it)."""
LOW = "bybit-sim"
LOW_RATE_H = 0.0000125
"""0.01% per 8 h, the usual baseline rate, per hour."""
HOURS = 48


@dataclass(frozen=True)
class Step:
    hour: int
    high_rate_8h: float
    low_rate_8h: float
    action: str
    high_position: Decimal
    low_position: Decimal
    funding: Decimal
    pnl: Decimal


def high_rate_h(hour: int) -> float:
    """The high venue's hourly rate: 0.08% per 8 h above the low one at first, the excess halving every
    8 hours."""
    return LOW_RATE_H + 0.0001 * math.pow(0.5, hour / 8.0)


@dataclass(frozen=True)
class MarketShape:
    """The two venues' simulated market: the same book around ``mark`` on both, and their margin."""

    mark: float = MARK
    taker_fee_bps: float = 1.0
    level_size: float = 0.5
    """Base units per level; levels 1 bp apart from half a bp off the mark."""
    levels: int = 12
    horizon_hours: float = 8.0
    """How long an entry expects to earn the funding delta (the carry its curve holds)."""
    margin: float = 50_000.0
    max_leverage: float = 5.0

    def book(self) -> OrderBookCurve:
        bids = [(self.mark * (1 - 0.5e-4 - k * 1e-4), self.level_size) for k in range(self.levels)]
        asks = [(self.mark * (1 + 0.5e-4 + k * 1e-4), self.level_size) for k in range(self.levels)]
        return OrderBookCurve(bids, asks, taker_fee_bps=self.taker_fee_bps, book_usage=1.0, lot_size=0.001)

    def curve(self, rate_h: float) -> PerpetualCurve:
        return PerpetualCurve(
            self.book(),
            mark_price=self.mark,
            funding_rate_per_hour=rate_h,
            horizon_hours=self.horizon_hours,
            margin=self.margin,
            max_leverage=self.max_leverage,
        )


def _book() -> OrderBookCurve:
    return MarketShape().book()


class PerpDemo:
    def __init__(
        self,
        root: Path,
        shape: MarketShape | None = None,
        venues: tuple[str, str] = (HIGH, LOW),
        *,
        start_ms: int = START_MS,
    ) -> None:
        self.shape = shape or MarketShape()
        self.time = VirtualTime(start_ms)
        spec = InstrumentSpec(SYMBOL, Decimal("0.001"), Decimal("0.1"))
        self.agents = {
            v: EdgeAgent(
                VenueConfig(v, {ASSET: spec}, latency_budget_ms=600_000), {ASSET: self.shape.curve(0.0)}
            )
            for v in venues
        }
        limits = RiskLimits(daily_notional_cap=Decimal(10**9), book_usage_cap=Decimal(1))
        self.runtimes = {
            v: AgentRuntime(
                a, root / v, inventory={"USD": Decimal(1_000_000)}, scheduler=self.time, limits=limits
            )
            for v, a in self.agents.items()
        }
        for agent in self.agents.values():
            agent.reference_prices = {ASSET: self.shape.mark}
        self.link = InProcessLink(self.agents, clock_ms=self.time.now_ms)
        infos = {
            v: VenueInfo(v, a.lot_sizes(), {ASSET: self.shape.mark}, 600_000) for v, a in self.agents.items()
        }
        self.driver = SessionDriver(self.link, infos)
        self.latency = LatencyMonitor()
        self.pair: OpenPair | None = None
        self.exited = False
        self.exit_detail = ""

    def position(self, venue: str) -> Decimal:
        return self.runtimes[venue].perps.position(ASSET)

    def pnl(self) -> Decimal:
        """Cash (fees, trades, funding) plus the open positions at the mark, over both venues."""
        total = Decimal(0)
        for runtime in self.runtimes.values():
            total += runtime._balances["USD"] - Decimal(1_000_000)
            total += runtime.perps.position(ASSET) * Decimal(repr(self.shape.mark))
        return total

    def turnover(self) -> Decimal:
        """Traded notional over both venues (every fill, at its price)."""
        return sum(
            (
                abs(f.signed_size) * f.price
                for r in self.runtimes.values()
                for o in r.outcomes
                for f in o.fills
            ),
            Decimal(0),
        )

    def settle_hour(self, now_ms: int, rates: dict[str, float]) -> None:
        """The funding event at ``now_ms`` on every venue's position, at the hourly ``rates``."""
        self.time.advance_to(now_ms)
        for venue, runtime in self.runtimes.items():
            event = FundingEvent(SYMBOL, now_ms, Decimal(repr(rates[venue])), Decimal(repr(self.shape.mark)))
            runtime.settle_funding(ASSET, event)

    def funding(self) -> Decimal:
        return sum((r.perps.funding_pnl(ASSET) for r in self.runtimes.values()), Decimal(0))

    def session(self, hour: int, rates: dict[str, float]) -> int:
        """One federated session on curves carrying ``rates``; returns how many venues traded."""
        for venue, agent in self.agents.items():
            agent.update_curves({ASSET: self.shape.curve(rates[venue])})
            self.runtimes[venue].market_moved()
            self.runtimes[venue].constrain()
        result = self.driver.run(f"perp-h{hour}")
        for ack in result.acks:
            committed = self.link.committed[ack.venue_id]
            assert isinstance(committed, CommittedPlan)
            self.runtimes[ack.venue_id].execute(committed)
        return len(result.acks)

    def step(self, hour: int) -> Step:
        now = START_MS + hour * HOUR_MS
        self.time.advance_to(now)
        rates = {HIGH: high_rate_h(hour), LOW: LOW_RATE_H}
        # 1. the funding event of this hour, on the positions held through it
        if hour > 0:
            self.settle_hour(now, rates)
        delta_8h = Decimal(repr(8 * (rates[HIGH] - rates[LOW])))
        action = "hold" if self.pair is not None else "flat"
        if self.pair is None and not self.exited:
            for venue in self.agents:
                self.latency.observe(venue, ServerTimePoll(now - 60, now - 30, now))
            freshness = {v: self.latency.freshness(v, now) for v in self.agents}
            size = Decimal("2")
            depth = Decimal(repr(sum(s for _, s in _book().asks)))
            candidate = PairCandidate(
                LOW,
                HIGH,
                size,
                Decimal(repr(8 * rates[LOW])),
                Decimal(repr(8 * rates[HIGH])),
                depth,
                depth,
                Signals(Decimal("0.6"), Decimal("0.5"), Decimal("0.3"), Decimal("0.5"), Decimal("0.2")),
            )
            decision = evaluate(candidate, freshness, EntryPolicy())
            if decision.trade and self.session(hour, rates):
                short = -self.position(HIGH)
                projected = delta_8h * short * Decimal(repr(MARK)) * 3  # a day of the delta
                self.pair = OpenPair(ASSET, LOW, HIGH, short, Decimal(repr(MARK)), Decimal(0), projected)
                action = f"enter (score {decision.score:.2f})"
            elif not decision.trade:
                action = f"no entry: {decision.reasons[0]}"
        elif self.pair is not None:
            funding = self.funding()
            unwind = check_exit(self.pair, PairState(delta_8h, Decimal(0), funding), ExitPolicy())
            if unwind is not None:
                for venue in unwind.trades:
                    self.runtimes[venue].request_unwind(ASSET, unwind.reason.value)
                self.session(hour, {v: 0.0 for v in self.agents})
                self.pair = None
                self.exited = True
                action = f"exit: {unwind.reason.value}"
                self.exit_detail = unwind.detail
        return Step(
            hour,
            8 * rates[HIGH],
            8 * rates[LOW],
            action,
            self.position(HIGH),
            self.position(LOW),
            self.funding(),
            self.pnl(),
        )

    def close(self) -> None:
        for runtime in self.runtimes.values():
            runtime.close()


def run_perp_demo(console: Console | None = None) -> int:
    console = console or Console()
    console.rule("[bold]case perp: funding arbitrage on two simulated perp venues, entry to exit")
    with tempfile.TemporaryDirectory(prefix="arbsphere-perp-demo-") as tmp:
        demo = PerpDemo(Path(tmp))
        try:
            table = Table(title=f"{HIGH} (high funding) vs {LOW}, BTC perpetual, mark {MARK:,.0f}")
            for header in (
                "h",
                "rate high/8h",
                "rate low/8h",
                "action",
                "pos high",
                "pos low",
                "funding",
                "PnL",
            ):
                table.add_column(header, justify="left" if header == "action" else "right", no_wrap=True)
            steps = []
            for hour in range(HOURS):
                step = demo.step(hour)
                steps.append(step)
                table.add_row(
                    str(step.hour),
                    f"{step.high_rate_8h:.4%}",
                    f"{step.low_rate_8h:.4%}",
                    step.action,
                    f"{step.high_position:f}",
                    f"{step.low_position:f}",
                    f"{step.funding:.2f}",
                    f"{step.pnl:.2f}",
                )
                if demo.exited and step.high_position == 0 and step.low_position == 0 and step.hour > 0:
                    break
            console.print(table)
        finally:
            demo.close()
    entered = any(s.action.startswith("enter") for s in steps)
    exited = any(s.action.startswith("exit") for s in steps)
    last = steps[-1]
    flat = last.high_position == 0 and last.low_position == 0
    ok = entered and exited and flat and last.funding > 0
    if demo.exit_detail:
        console.print(f"exit reason: {demo.exit_detail}")
    console.print(
        f"entered: {entered}, exited: {exited}, flat at the end: {flat}, funding received: "
        f"{last.funding:.2f} USD, PnL after fees and spread: {last.pnl:.2f} USD"
    )
    console.print("[green]perp case OK[/green]" if ok else "[red]perp case FAILED[/red]")
    return 0 if ok else 1
