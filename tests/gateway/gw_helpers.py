"""A one-book agent and its runtime, for the control and gateway tests."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from agents.agent import EdgeAgent, InstrumentSpec, VenueConfig
from agents.controls import AgentControls
from agents.execution.clock import VirtualTime
from agents.runtime import AgentRuntime
from sdk.curves.order_book import OrderBookCurve

START_MS = 1_800_000_000_000


def one_book_runtime(path: Path, *, latency_ms: int = 0) -> tuple[AgentRuntime, VirtualTime]:
    book = OrderBookCurve(
        [(100.0 - 0.01 * i, 5.0) for i in range(1, 20)],
        [(100.0 + 0.01 * i, 5.0) for i in range(1, 20)],
        taker_fee_bps=1.0,
        book_usage=0.3,
    )
    spec = InstrumentSpec("SOL-USD", Decimal("0.01"), Decimal("0.01"))
    agent = EdgeAgent(VenueConfig("v", {"SOL": spec}), {"SOL": book})
    time = VirtualTime(START_MS)
    runtime = AgentRuntime(
        agent,
        path,
        inventory={"SOL": Decimal(100), "USD": Decimal(100_000)},
        scheduler=time,
        latency_ms=latency_ms,
    )
    return runtime, time


def controls_for(runtime: AgentRuntime) -> tuple[AgentControls, list[dict[str, object]]]:
    events: list[dict[str, object]] = []
    return AgentControls(runtime, emit=events.append), events
