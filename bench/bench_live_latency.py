"""Tick at the venue to order at the venue, per venue: one agent in live mode on a loopback fake of the venue,
its counterparty on another fake (Bitstamp, or Coinbase for Bitstamp itself), the coordinator and both agents
as CLI processes over mTLS.

Each cycle, the bench publishes fresh books on both fakes (the *tick*: a mispricing the region can trade)
and stamps the moment; the agent's next session reads its book, the region solves and commits, and the
agent sends its IOC order through CCXT to the fake, which stamps its arrival. The latency is arrival minus
tick. Sessions are coordinator-driven every ``INTERVAL_S``, so a tick waits for the next session to start:
the figure is reported whole and split into that wait (tick -> plan commit, read from the agent's own
``tick_ns``/``plan_ns`` stamps) and the execution (commit -> order at the venue). The machine's two cores
run the coordinator, two agents, two fakes and the bench at once.
"""

from __future__ import annotations

import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench.common import percentile, print_table, write_results
from registry.pki import SpiffeId, write_bundle
from tests.fakevenues.base import FakeVenue
from tests.fakevenues.catalog import FAKES
from tests.venues.region import REGION, Region

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


def cockpit_settings(region: Region, venue: str, on: bool) -> tuple[str, tuple[str, ...]]:
    """Config lines and CLI options for the measured agent with the operator's cockpit on (the embedded
    event log, ``/metrics`` and the HTTPS gateway) or entirely off (no event log at all)."""
    if not on:
        return 'events = "none"', ()
    bundle = region.root / "gateway-bundle"
    write_bundle(
        bundle,
        region.ca.issue(SpiffeId.agent(REGION, venue), dns_names=["localhost"], ip_addresses=["127.0.0.1"]),
    )
    table = f'[gateway]\nport = 0\nsecret_file = "{region.root / "gateway.secret"}"\ncert_dir = "{bundle}"'
    return table, ("--metrics-port", "0")


def measure(venue: str, *, cockpit: bool = True, cycles: int = CYCLES) -> dict[str, float]:
    """Cycles of tick -> order for one live agent on ``venue`` (its counterparty on another fake), with
    the cockpit (event log, metrics, gateway) on or off for the measured agent."""
    cls, symbol = FAKES[venue]
    peer_name = "bitstamp" if venue != "bitstamp" else "coinbase"
    peer_cls, peer_symbol = FAKES[peer_name]
    root = Path(tempfile.mkdtemp(prefix=f"bench-live-latency-{venue}-"))
    fake, peer = cls(tick_s=0.25), peer_cls(tick_s=0.25)
    arrivals: list[float] = []
    arrived = threading.Event()
    _stamp_orders(fake, arrivals, arrived)
    ticks: list[float] = []
    latencies: list[float] = []
    with fake, peer, Region(root) as region:

        def tick() -> None:
            fake.ladder(symbol, 60_000.0, levels=10, size=0.2)
            peer.ladder(peer_symbol, 60_400.0, levels=10, size=0.2)
            ticks.append(time.time())

        tick()
        region.start_coordinator(
            expect=2, sessions=cycles + 2, extra=("--interval", str(INTERVAL_S), "--join-timeout", "60")
        )
        agents = []
        for name, exchange, venue_fake, sym in (
            ("me", venue, fake, symbol),
            ("peer", peer_name, peer, peer_symbol),
        ):
            extra, options = cockpit_settings(region, name, cockpit) if name == "me" else ("", ())
            config = region.write_agent_config(
                name,
                exchange,
                rest=venue_fake.rest_url,
                ws=venue_fake.ws_url,
                instruments=[{**INSTRUMENT, "symbol": sym}],
                sessions=cycles + 2,
                extra=extra,
            )
            agents.append(region.start_agent(config, venue_fake.credentials(), extra=options))
        for _ in range(cycles):
            if not arrived.wait(60):
                raise RuntimeError(f"no order reached the fake {venue}: {region.report()}")
            arrived.clear()
            latencies.append(arrivals[-1] - ticks[-1])
            time.sleep(0.05)  # let the session finish before the next tick
            tick()
        executions = [e for e in agents[0].of("execution") if e["orders_ns"]]
    commit_to_order = [
        (e["orders_ns"] - e["plan_ns"]) / 1e6
        for e in executions
        if e["plan_ns"] and e["orders_ns"] > e["plan_ns"]
    ]
    start_to_commit = [
        (e["plan_ns"] - e["tick_ns"]) / 1e6 for e in executions if e["plan_ns"] and e["tick_ns"]
    ]
    ms = [x * 1e3 for x in latencies]
    return {
        "tick_to_order_p50_ms": percentile(ms, 50),
        "tick_to_order_p99_ms": percentile(ms, 99),
        "session_start_to_commit_p50_ms": percentile(start_to_commit, 50)
        if start_to_commit
        else float("nan"),
        "commit_to_order_sent_p50_ms": percentile(commit_to_order, 50) if commit_to_order else float("nan"),
        "commit_to_order_sent_p99_ms": percentile(commit_to_order, 99) if commit_to_order else float("nan"),
    }


def main() -> dict[str, object]:
    metrics: dict[str, object] = {"cycles_per_venue": CYCLES, "session_interval_s": INTERVAL_S}
    rows = []
    for venue in FAKES:
        try:
            figures = measure(venue)
        except Exception as exc:  # one venue failing must not hide the others' figures
            rows.append((venue, f"failed: {exc}"[:80], "", "", "", ""))
            continue
        for key, value in figures.items():
            metrics[f"{venue}_{key}"] = value
        metrics[f"{venue}_tick_to_order_p50_over_session_interval_ratio"] = figures[
            "tick_to_order_p50_ms"
        ] / (INTERVAL_S * 1e3)
        rows.append(
            (
                venue,
                f"{figures['tick_to_order_p50_ms']:.1f}",
                f"{figures['tick_to_order_p99_ms']:.1f}",
                f"{figures['session_start_to_commit_p50_ms']:.1f}",
                f"{figures['commit_to_order_sent_p50_ms']:.1f}",
                f"{figures['commit_to_order_sent_p99_ms']:.1f}",
            )
        )
    print_table(
        f"tick at the fake venue -> order received there, one live agent, {CYCLES} cycles per venue, "
        f"sessions every {INTERVAL_S} s (the wait for the next session is part of tick -> order)",
        (
            "venue",
            "tick->order p50 ms",
            "p99 ms",
            "session start->commit p50 ms",
            "commit->order sent p50 ms",
            "p99 ms",
        ),
        rows,
    )
    write_results("bench_live_latency", metrics)
    return metrics


if __name__ == "__main__":
    main()
