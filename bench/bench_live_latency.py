"""Tick at the venue to order at the venue: one agent in live mode on a loopback fake Coinbase Advanced
Trade, its counterparty on a fake Bitstamp, the coordinator and both agents as CLI processes over mTLS.

Each cycle, the bench publishes fresh books on both fakes (the *tick*: a mispricing the region can trade)
and stamps the moment; the agent's next session reads its book, the region solves and commits, and the
agent sends its IOC order through CCXT to the fake, which stamps its arrival. The latency is arrival minus
tick. Sessions are coordinator-driven every ``INTERVAL_S``, so a tick waits for the next session to start:
the figure is reported whole and split into that wait (tick -> plan commit, read from the agent's own
``tick_ns``/``plan_ns`` stamps) and the execution (commit -> order at the venue). The machine's two cores
run the coordinator, two agents, two fakes and the bench at once.
"""

from __future__ import annotations

import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench.common import percentile, print_table, write_results
from tests.fakevenues.base import FakeVenue
from tests.fakevenues.bitstamp import FakeBitstamp
from tests.fakevenues.coinbase import FakeCoinbase
from tests.venues.region import Region

CYCLES = 30
INTERVAL_S = 0.25
INSTRUMENT = {"asset": "BTC", "taker_fee_bps": "10", "max_buy": "0.2", "max_sell": "0.2"}


def _stamp_orders(fake: FakeVenue, arrivals: list[float], arrived: threading.Event) -> None:
    place = fake.place

    def stamped(*args: Any, **kwargs: Any) -> Any:
        arrivals.append(time.time())
        arrived.set()
        return place(*args, **kwargs)

    fake.place = stamped  # type: ignore[method-assign]


def main() -> dict[str, object]:
    root = Path(tempfile.mkdtemp(prefix="bench-live-latency-"))
    coinbase, bitstamp = FakeCoinbase(tick_s=0.25), FakeBitstamp(tick_s=0.25)
    arrivals: list[float] = []
    arrived = threading.Event()
    _stamp_orders(coinbase, arrivals, arrived)
    ticks: list[float] = []
    latencies: list[float] = []
    with coinbase, bitstamp, Region(root) as region:

        def tick() -> None:
            coinbase.ladder("BTC-USD", 60_000.0, levels=10, size=0.2)
            bitstamp.ladder("BTC-USD", 60_400.0, levels=10, size=0.2)
            ticks.append(time.time())

        tick()
        region.start_coordinator(
            expect=2, sessions=CYCLES + 2, extra=("--interval", str(INTERVAL_S), "--join-timeout", "60")
        )
        agents = []
        for venue, exchange, fake in (("cb", "coinbase", coinbase), ("bs", "bitstamp", bitstamp)):
            config = region.write_agent_config(
                venue,
                exchange,
                rest=fake.rest_url,
                ws=fake.ws_url,
                instruments=[{**INSTRUMENT, "symbol": "BTC-USD"}],
                sessions=CYCLES + 2,
            )
            credentials = getattr(fake, "credentials", None)
            creds = (
                credentials() if callable(credentials) else {"apiKey": "fake-key", "secret": "fake-secret"}
            )
            agents.append(region.start_agent(config, creds))
        for _ in range(CYCLES):
            if not arrived.wait(60):
                raise RuntimeError(f"no order reached the fake: {region.report()}")
            arrived.clear()
            latencies.append(arrivals[-1] - ticks[-1])
            time.sleep(0.05)  # let the session finish before the next tick
            tick()
        executions = [e for e in agents[0].of("execution") if e["orders_ns"]]
    commit_to_order_ms = [
        (e["orders_ns"] - e["plan_ns"]) / 1e6
        for e in executions
        if e["plan_ns"] and e["orders_ns"] > e["plan_ns"]
    ]
    session_to_commit_ms = [
        (e["plan_ns"] - e["tick_ns"]) / 1e6 for e in executions if e["plan_ns"] and e["tick_ns"]
    ]
    ms = [x * 1e3 for x in latencies]
    metrics: dict[str, object] = {
        "cycles": len(ms),
        "session_interval_s": INTERVAL_S,
        "tick_to_order_p50_ms": percentile(ms, 50),
        "tick_to_order_p99_ms": percentile(ms, 99),
        "tick_to_order_mean_ms": statistics.fmean(ms),
        "session_start_to_commit_p50_ms": percentile(session_to_commit_ms, 50)
        if session_to_commit_ms
        else None,
        "commit_to_order_sent_p50_ms": percentile(commit_to_order_ms, 50) if commit_to_order_ms else None,
        "commit_to_order_sent_p99_ms": percentile(commit_to_order_ms, 99) if commit_to_order_ms else None,
        "ratio_tick_to_order_p50_over_session_interval": percentile(ms, 50) / (INTERVAL_S * 1e3),
    }
    print_table(
        f"tick at the fake Coinbase -> order received there, {len(ms)} cycles, sessions every {INTERVAL_S} s",
        ("figure", "p50 ms", "p99 ms"),
        [
            ("tick -> order at the venue", f"{percentile(ms, 50):.1f}", f"{percentile(ms, 99):.1f}"),
            (
                "agent: session start -> plan commit",
                f"{metrics['session_start_to_commit_p50_ms'] or 0:.1f}",
                f"{percentile(session_to_commit_ms, 99) if session_to_commit_ms else 0:.1f}",
            ),
            (
                "agent: plan commit -> order sent (CCXT, incl. read-back)",
                f"{metrics['commit_to_order_sent_p50_ms'] or 0:.1f}",
                f"{metrics['commit_to_order_sent_p99_ms'] or 0:.1f}",
            ),
        ],
    )
    write_results("bench_live_latency", metrics)
    return metrics


if __name__ == "__main__":
    main()
