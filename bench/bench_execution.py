"""Execution hot path: risk check, leg-out decision, paper fills, a full plan loop, and persistence cost.

Side by side: fills persisted through the background ``StoreWriter`` (what the hot path pays: an enqueue)
vs the same writes done synchronously on the hot path (the common approach), on an SQLite file.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

from agents.execution.clock import VirtualTime
from agents.execution.events import InMemorySink
from agents.execution.legout import HedgeQuote, LegOutMonitor, LegOutPolicy, LegProgress, decide_leg_out
from agents.execution.outbox import Outbox
from agents.execution.paper import PaperConfig, PaperVenue
from agents.execution.plan import ExecLeg, ExecPlan
from agents.execution.runner import PlanRunner
from agents.persistence.store import ExecutionStore
from agents.persistence.writer import StoreWriter
from agents.risk.limits import RiskLimits
from agents.risk.manager import RiskManager
from agents.risk.market import MarketState
from bench.common import percentile, print_table, write_results
from sdk.adapters.events import BookSnapshot
from sdk.adapters.execution import FillEvent, Liquidity, OrderRequest, Side, decimal_book

D = Decimal
T0 = 1_800_000_000_000
N = 2_000


def _time_us(fn: Callable[[int], object], n: int = N) -> list[float]:
    samples = []
    for i in range(n):
        start = time.perf_counter_ns()
        fn(i)
        samples.append((time.perf_counter_ns() - start) / 1_000)
    return samples


def _book(ts: int) -> BookSnapshot[Decimal]:
    return decimal_book(
        [(str(100 - k * 0.1), "5") for k in range(1, 11)],
        [(str(100 + k * 0.1), "5") for k in range(1, 11)],
        ts,
    )


def _plan(seq: int) -> ExecPlan:
    legs = (
        ExecLeg(
            f"s/{seq}", "A", 0, "SOL-USD", "SOL", Side.BUY, D(2), D("100.3"), T0 + 10_000, f"s/{seq}/A/0"
        ),
        ExecLeg(
            f"s/{seq}", "B", 1, "SOL-USD", "SOL", Side.SELL, D(2), D("99.7"), T0 + 10_000, f"s/{seq}/B/0"
        ),
    )
    return ExecPlan(f"s/{seq}", "s", "A", seq, legs, D("0.5"))


def _fill(n: int) -> FillEvent:
    return FillEvent(
        f"A:{n}",
        f"o{n}",
        f"s/{n % 50}",
        "A",
        "SOL-USD",
        "SOL",
        Side.BUY if n % 2 else Side.SELL,
        D("100.1"),
        D("0.5"),
        D("0.05"),
        Liquidity.TAKER,
        T0 + n,
    )


def main() -> dict[str, object]:
    market = MarketState({("A", "SOL-USD"): _book(T0), ("B", "SOL-USD"): _book(T0)})
    risk = RiskManager(RiskLimits(max_trades=10**9, daily_notional_cap=D(10**15)))
    risk_us = _time_us(lambda i: risk.check(_plan(i), market, T0 + 1))

    legs = [
        LegProgress(
            f"l{k}",
            f"V{k}",
            "SOL-USD",
            "SOL",
            Side.BUY if k % 2 else Side.SELL,
            D(1),
            D(1) if k < 3 else D("0.4"),
            T0,
            False,
        )
        for k in range(5)
    ]
    quotes = [HedgeQuote(f"H{k}", "SOL-USD", "SOL", _book(T0), D("0.01"), D("0.01")) for k in range(3)]
    policy = LegOutPolicy()
    legout_us = _time_us(lambda i: decide_leg_out("p", legs, [], quotes=quotes, now_ms=T0 + 1, policy=policy))

    vt = VirtualTime(T0)
    fills: list[object] = []
    paper = PaperVenue(PaperConfig("A"), vt, fills.append)

    def paper_ioc(i: int) -> None:
        paper.update_book("SOL-USD", _book(vt.now_ms()))
        paper.submit(
            OrderRequest(
                f"c{i}", f"k{i}", "p", "A", "SOL-USD", "SOL", Side.BUY, D(12), D("100.3"), T0 + 10**9
            )
        )
        vt.advance(0)

    paper_us = _time_us(paper_ioc)

    vt2 = VirtualTime(T0)
    sink = InMemorySink()
    runner = PlanRunner(
        clock=vt2,
        monitor=LegOutMonitor(policy, sink),
        sink=sink,
        risk=RiskManager(RiskLimits(max_trades=10**9, daily_notional_cap=D(10**15)), sink),
    )
    venues = {v: PaperVenue(PaperConfig(v), vt2, runner.on_event) for v in ("A", "B")}
    for name, venue in venues.items():
        runner.add_venue(name, venue)

    def loop(i: int) -> None:
        # One validated snapshot per venue per tick, shared by the paper venue and the risk gates.
        books = {v: _book(vt2.now_ms()) for v in venues}
        for name, venue in venues.items():
            venue.update_book("SOL-USD", books[name])
        runner.submit_plan(_plan(i), MarketState({(v, "SOL-USD"): b for v, b in books.items()}))
        vt2.advance(1)
        runner.tick(())

    loop_us = _time_us(loop, 500)

    with tempfile.TemporaryDirectory() as tmp:
        writer = StoreWriter(ExecutionStore.sqlite(Path(tmp) / "async.db"))
        enqueue_us = _time_us(lambda i: writer.event(_fill(i)), 500)
        start = time.perf_counter()
        writer.flush()
        drain_s = time.perf_counter() - start
        writer.close()
        sync_store = ExecutionStore.sqlite(Path(tmp) / "sync.db")
        sync_us = _time_us(lambda i: sync_store.record_fill(_fill(i)), 500)
        outbox = Outbox.sqlite(Path(tmp) / "outbox.db")
        outbox_us = _time_us(
            lambda i: outbox.claim(
                OrderRequest(f"c{i}", f"k{i}", "p", "A", "SOL-USD", "SOL", Side.BUY, D(1), D(1), T0),
                "leg",
                T0,
            ),
            300,
        )

    metrics: dict[str, object] = {
        "risk_check_p50_us": percentile(risk_us, 50),
        "risk_check_p99_us": percentile(risk_us, 99),
        "legout_decide_p50_us": percentile(legout_us, 50),
        "legout_decide_p99_us": percentile(legout_us, 99),
        "paper_ioc_3_levels_p50_us": percentile(paper_us, 50),
        "plan_loop_2_legs_incl_book_parse_p50_us": percentile(loop_us, 50),
        "plan_loop_2_legs_incl_book_parse_p99_us": percentile(loop_us, 99),
        "fill_persist_hot_path_p50_us": percentile(enqueue_us, 50),
        "fill_persist_hot_path_p99_us": percentile(enqueue_us, 99),
        "fill_persist_sync_baseline_p50_us": percentile(sync_us, 50),
        "fill_persist_sync_baseline_p99_us": percentile(sync_us, 99),
        "writer_drain_500_fills_s": drain_s,
        "outbox_durable_claim_p50_us": percentile(outbox_us, 50),
    }
    print_table(
        "Fill persistence on the hot path (SQLite file): background writer vs synchronous",
        ["approach", "p50_us", "p99_us"],
        [
            [
                "StoreWriter enqueue (ours)",
                metrics["fill_persist_hot_path_p50_us"],
                metrics["fill_persist_hot_path_p99_us"],
            ],
            [
                "synchronous record_fill (baseline)",
                metrics["fill_persist_sync_baseline_p50_us"],
                metrics["fill_persist_sync_baseline_p99_us"],
            ],
        ],
    )
    print_table(
        "Execution hot path (absolute)",
        ["metric", "value"],
        [[k, v] for k, v in metrics.items() if not k.startswith("fill_persist")],
    )
    write_results("execution", metrics)
    return metrics


if __name__ == "__main__":
    main()
