"""Leg-out to flat: how long the region stays exposed after a leg fails, five live venues on loopback.

A coordinator and five agents (CLI processes over mTLS), each in live mode on its own fake venue (Coinbase
Advanced Trade, Gemini, Kraken, Bitstamp, Binance), sessions every ``INTERVAL_S``. Each trial re-publishes
books with a mispricing (Coinbase cheap, Gemini rich) and makes Gemini's next IOC order find no liquidity:
the plan legs out, the region holds what the cheap venue bought. The clock starts when the fake cancels
that order unfilled and stops when the fakes' own trade records show the region flat again (net BTC
within one lot): the LEG_OUT report, the hedge session the coordinator starts at once, and the hedge's
fills. Side by side: the ordinary plan's commit-to-fill time in the same run (the agents' own stamps),
and the session interval (what a hedge would wait without the immediate start).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench.common import percentile, print_table, write_results
from tests.fakevenues.base import FakeVenue
from tests.fakevenues.catalog import FAKES
from tests.venues.region import Region

TRIALS = int(os.environ.get("ARBSPHERE_BENCH_HEDGE_TRIALS", "15"))
INTERVAL_S = 0.25
INSTRUMENT = {"asset": "BTC", "taker_fee_bps": "10", "max_buy": "0.2", "max_sell": "0.2"}
PRICES = {
    "coinbase": 60_000.0,
    "gemini": 60_400.0,
    "kraken": 60_200.0,
    "bitstamp": 60_150.0,
    "binance": 60_250.0,
}
VICTIM = "gemini"


def _net(fakes: dict[str, tuple[FakeVenue, str]]) -> Decimal:
    net = Decimal(0)
    for fake, _ in fakes.values():
        with fake.lock:
            for trade in fake.trades:
                net += trade.size if trade.side == "buy" else -trade.size
    return net


def _stamp_no_fill(fake: FakeVenue, stamps: list[float], hit: threading.Event) -> None:
    place = fake.place

    def stamped(*args: Any, **kwargs: Any) -> Any:
        armed = fake.faults.no_fill > 0
        order = place(*args, **kwargs)
        if armed and fake.faults.no_fill == 0:
            stamps.append(time.time())
            hit.set()
        return order

    fake.place = stamped  # type: ignore[method-assign]


def measure() -> dict[str, float]:
    root = Path(tempfile.mkdtemp(prefix="bench-hedge-"))
    fakes = {name: (FAKES[name][0](tick_s=0.25), FAKES[name][1]) for name in PRICES}
    stamps: list[float] = []
    hit = threading.Event()
    _stamp_no_fill(fakes[VICTIM][0], stamps, hit)
    exposed_ms: list[float] = []
    with contextlib.ExitStack() as stack:
        for fake, _ in fakes.values():
            stack.enter_context(fake)
        lot = max(fake.symbols[symbol].lot for fake, symbol in fakes.values())
        region = stack.enter_context(Region(root))

        def ladder() -> None:
            for name, (fake, symbol) in fakes.items():
                fake.ladder(symbol, PRICES[name], levels=10, size=0.2)

        ladder()
        region.start_coordinator(
            expect=len(fakes), sessions=0, extra=("--interval", str(INTERVAL_S), "--join-timeout", "60")
        )
        agents = []
        for name, (fake, symbol) in fakes.items():
            config = region.write_agent_config(
                name,
                name,
                rest=fake.rest_url,
                ws=fake.ws_url,
                instruments=[{**INSTRUMENT, "symbol": symbol}],
                sessions=0,
            )
            # Every trial is a leg-out on purpose: the prediction-error gate would rightly switch the
            # victim to observe-only after a few; the bench measures the hedge, so it lifts that gate.
            config.write_text(config.read_text().replace("[risk]\n", "[risk]\nprediction_error_pct = 1e9\n"))
            agents.append(region.start_agent(config, fake.credentials()))
        for trial in range(TRIALS):
            _wait_flat(fakes, lot, 30.0)
            ladder()
            hit.clear()
            fakes[VICTIM][0].faults.no_fill = 1
            if not hit.wait(60):
                raise RuntimeError(f"trial {trial}: no order reached {VICTIM}: {region.report()}")
            flat_at = _wait_flat(fakes, lot, 30.0, exposed=True)
            exposed_ms.append((flat_at - stamps[-1]) * 1e3)
        executions = [e for a in agents for e in a.of("execution") if e["plan_ns"] and e["orders_ns"]]
        hedges = sum(len(a.of("hedge")) for a in agents)
    commit_to_order = [
        (e["orders_ns"] - e["plan_ns"]) / 1e6 for e in executions if e["orders_ns"] > e["plan_ns"]
    ]
    return {
        "leg_out_to_flat_p50_ms": percentile(exposed_ms, 50),
        "leg_out_to_flat_p99_ms": percentile(exposed_ms, 99),
        "leg_out_to_flat_max_ms": max(exposed_ms),
        "commit_to_order_sent_p50_ms": percentile(commit_to_order, 50) if commit_to_order else float("nan"),
        "hedge_events": float(hedges),
        "trials": float(len(exposed_ms)),
    }


def _wait_flat(
    fakes: dict[str, tuple[FakeVenue, str]], lot: Decimal, timeout_s: float, *, exposed: bool = False
) -> float:
    """Wait until the fakes' trades net to within one lot (after the leg-out first shows, if ``exposed``)."""
    deadline = time.time() + timeout_s
    seen_exposure = not exposed
    while time.time() < deadline:
        net = abs(_net(fakes))
        if net > lot:
            seen_exposure = True
        elif seen_exposure:
            return time.time()
        time.sleep(0.002)
    raise RuntimeError(f"the region did not get flat within {timeout_s} s (net {_net(fakes)})")


def main() -> dict[str, object]:
    figures = measure()
    metrics: dict[str, object] = {
        **figures,
        "venues": len(PRICES),
        "session_interval_ms": INTERVAL_S * 1e3,
        "leg_out_to_flat_p50_over_session_interval_ratio": figures["leg_out_to_flat_p50_ms"]
        / (INTERVAL_S * 1e3),
        "leg_out_to_flat_p50_over_commit_to_order_p50_ratio": figures["leg_out_to_flat_p50_ms"]
        / figures["commit_to_order_sent_p50_ms"],
    }
    print_table(
        f"leg-out -> region flat again, {len(PRICES)} live agents on loopback fakes, "
        f"{int(figures['trials'])} "
        f"trials, sessions every {INTERVAL_S} s",
        ("metric", "value"),
        [
            ("leg-out -> flat p50 ms", f"{figures['leg_out_to_flat_p50_ms']:.1f}"),
            ("leg-out -> flat p99 ms", f"{figures['leg_out_to_flat_p99_ms']:.1f}"),
            (
                "ordinary commit -> order sent p50 ms (same run)",
                f"{figures['commit_to_order_sent_p50_ms']:.1f}",
            ),
            ("p50 / session interval", f"{metrics['leg_out_to_flat_p50_over_session_interval_ratio']:.2f}"),
            ("hedge sessions seen by agents", int(figures["hedge_events"])),
        ],
    )
    write_results("hedge", metrics)
    return metrics


if __name__ == "__main__":
    main()
