"""Federation benchmark: agents as separate processes over mutual-TLS gRPC on loopback, secure aggregation on.

For N = 2, 5, 10, 20 venues of mixed kinds (order books, CPMM, CLMM, perps) and both coordinator strategies:
cold solves (no warm start anywhere) and warm re-plans after a correlated 2 bp tick of the synthetic feed,
rounds and wall-clock to the stopping rule, and the committed plan's profit as a fraction of the certified
centralised optimum of the same market. Side by side: the same cold sessions through the in-process
transport (same cores, secure aggregation on) for the gRPC/mTLS overhead, and in-process scaling to 1000
venues (secure aggregation off there: pairwise masking in one process is O(N^2) per round).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agents.market.simulated import ticked_mids
from arbsphere.inprocess import InProcessLink
from arbsphere.simulation import build_region
from bench.common import percentile, print_table, write_results
from coordinator.grpc_server import GrpcLink, serve, venues_of
from coordinator.session import SessionDriver
from registry.pki import DevCertificateAuthority, write_bundle
from sdk.reference_solver import centralised_optimum
from sdk.scenarios import generate_scenario

SEED = 7
KINDS = ("order_book", "cpmm", "clmm")
"""Perpetual venues carry their position into the next session's margin box (cumulative caps), and the
synthetic market repeats its mispricing every session, so after a session or two a perp venue is at its
cap and the optimum of fresh curves is no longer the problem the region faces. The optimality yardstick
therefore runs on venues without carried state; perps are measured in tests/perps and bench_funding."""
TICK_BPS = 2.0
REGION = "bench"
SIZES = (2, 5, 10, 20)
REPEATS = {"price": (7, 12), "admm": (3, 6)}  # (cold sessions, warm sessions)
SCALING = (100, 200, 500, 1000)


def reference_profit(n: int, tick: int) -> float:
    base = generate_scenario(n, SEED, kinds=KINDS)
    moved = generate_scenario(n, SEED, kinds=KINDS, mids=ticked_mids(dict(base.mids), SEED, tick, TICK_BPS))
    return centralised_optimum(moved.curves()).profit


def grpc_region(n: int, workdir: Path, *, route: Callable[[str, int], str] | None = None) -> dict[str, Any]:
    """A coordinator on loopback and ``n`` agent processes; ``route`` maps (venue, coordinator port) to
    the address an agent dials (a WAN relay, say)."""
    ca = DevCertificateAuthority.create(workdir / "ca", REGION)
    scenario = generate_scenario(n, SEED, kinds=KINDS)
    server = serve(ca.issue_coordinator(), region=REGION)
    processes = []
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    for venue in sorted(scenario.venues):
        write_bundle(workdir / venue, ca.issue_agent(venue))
        processes.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "arbsphere.cli",
                    "agent",
                    "run",
                    "--venue",
                    venue,
                    "--cert-dir",
                    str(workdir / venue),
                    "--target",
                    route(venue, server.port) if route else f"127.0.0.1:{server.port}",
                    "--scenario-venues",
                    str(n),
                    "--seed",
                    str(SEED),
                    "--kinds",
                    ",".join(KINDS),
                    "--sessions",
                    "0",
                    "--tick-bps",
                    str(TICK_BPS),
                    "--latency-budget-ms",
                    "600000",
                    # Measure the federation, not the risk gates: the unconstrained optimum is the yardstick,
                    # so the runtime's inventory limits and daily notional cap (deployment defaults) are off.
                    "--no-inventory-limits",
                    "--daily-notional-cap",
                    "1e15",
                    "--daily-loss-cap",
                    "1e15",
                    "--prediction-error-pct",
                    "1e12",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env=env,
            )
        )
    server.hub.wait_for(n, 60)
    return {"server": server, "processes": processes}


def measure(
    driver: SessionDriver, n: int, sessions: int, *, cold: bool, counter: list[int]
) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"rounds": [], "ms": [], "ratio": []}
    for _ in range(sessions):
        tick = counter[0]
        result = driver.run(cold=cold, deadline_s=600.0)
        counter[0] += 1
        out["rounds"].append(result.rounds)
        out["ms"].append(result.elapsed_s * 1e3)
        out["ratio"].append(result.profit / reference_profit(n, tick))
    return out


def summarise(prefix: str, sample: dict[str, list[float]], metrics: dict[str, object]) -> None:
    metrics[f"{prefix}_rounds_p50"] = statistics.median(sample["rounds"])
    metrics[f"{prefix}_rounds_max"] = max(sample["rounds"])
    metrics[f"{prefix}_wall_p50_ms"] = statistics.median(sample["ms"])
    metrics[f"{prefix}_wall_p99_ms"] = percentile(sample["ms"], 99)
    metrics[f"{prefix}_optimality_min_ratio"] = min(sample["ratio"])


def main() -> dict[str, object]:
    metrics: dict[str, object] = {}
    rows = []
    for n in SIZES:
        with tempfile.TemporaryDirectory() as scratch:
            region = grpc_region(n, Path(scratch))
            counter = [0]
            try:
                for strategy in ("price", "admm"):
                    driver = SessionDriver(
                        GrpcLink(region["server"].hub, round_timeout_s=5.0),
                        venues_of(region["server"].hub),
                        strategy=strategy,
                    )
                    n_cold, n_warm = REPEATS[strategy]
                    cold = measure(driver, n, n_cold, cold=True, counter=counter)
                    warm = measure(driver, n, n_warm, cold=False, counter=counter)
                    summarise(f"grpc_n{n}_{strategy}_cold", cold, metrics)
                    summarise(f"grpc_n{n}_{strategy}_warm", warm, metrics)
                    rows.append(
                        (
                            n,
                            strategy,
                            "gRPC+mTLS",
                            statistics.median(cold["rounds"]),
                            statistics.median(cold["ms"]),
                            percentile(cold["ms"], 99),
                            statistics.median(warm["rounds"]),
                            statistics.median(warm["ms"]),
                            percentile(warm["ms"], 99),
                            min(cold["ratio"] + warm["ratio"]),
                        )
                    )
            finally:
                region["server"].stop(0)
                for process in region["processes"]:
                    process.kill()
                    process.wait()
        # Same cold sessions in-process (secure aggregation on) for the transport overhead.
        _, agents, infos = build_region(n, SEED, kinds=KINDS, latency_budget_ms=600_000)
        local = SessionDriver(InProcessLink(agents, secure=True), infos, strategy="price")
        local_ms = [local.run(cold=True).elapsed_s * 1e3 for _ in range(REPEATS["price"][0])]
        metrics[f"inprocess_n{n}_price_cold_wall_p50_ms"] = statistics.median(local_ms)
        ratio = metrics[f"grpc_n{n}_price_cold_wall_p50_ms"] / statistics.median(local_ms)  # type: ignore[operator]
        metrics[f"grpc_over_inprocess_n{n}_cold_p50_ratio"] = ratio
        rows.append(
            (
                n,
                "price",
                "in-process",
                "",
                statistics.median(local_ms),
                percentile(local_ms, 99),
                "",
                "",
                "",
                f"gRPC/in-proc {ratio:.2f}x",
            )
        )
    print_table(
        "federated solve, agents as processes, secure aggregation on (optimality: profit / optimum)",
        (
            "N",
            "strategy",
            "transport",
            "cold rounds",
            "cold p50 ms",
            "cold p99 ms",
            "warm rounds",
            "warm p50 ms",
            "warm p99 ms",
            "min optimality",
        ),
        rows,
    )
    scale_rows = []
    for n in SCALING:
        scenario, agents, infos = build_region(n, SEED, kinds=KINDS, latency_budget_ms=600_000)
        started = time.perf_counter()
        result = SessionDriver(InProcessLink(agents, secure=False), infos, strategy="price").run()
        elapsed = (time.perf_counter() - started) * 1e3
        optimum = centralised_optimum(scenario.curves()).profit
        metrics[f"inprocess_scaling_n{n}_rounds"] = result.rounds
        metrics[f"inprocess_scaling_n{n}_wall_ms"] = elapsed
        metrics[f"inprocess_scaling_n{n}_optimality_ratio"] = result.profit / optimum
        scale_rows.append((n, result.rounds, elapsed, elapsed / result.rounds, result.profit / optimum))
    print_table(
        "in-process scaling (price-space, secure aggregation off)",
        ("N", "rounds", "wall ms", "ms/round", "optimality"),
        scale_rows,
    )
    write_results("federation", metrics)
    return metrics


if __name__ == "__main__":
    main()
