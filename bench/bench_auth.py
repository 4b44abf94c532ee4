"""Cost of authenticated key agreement and agent signatures on session latency, N = 5 and 20.

Agents (``AgentRunner``) and the coordinator's server run in one process over mutual-TLS gRPC on
loopback, secure aggregation on. "on" is the product: every agent checks every directory entry (SVID
chain, binding, announcement signature; verified identity proofs are cached until their SVID expires),
signs its session key and its acknowledgement, and the coordinator checks each member's proof and ack
signature. "off" replaces those checks with no-ops (signing stays: Ed25519 signing is ~50 us), which the
product cannot do: it exists only here, to measure the overhead side by side in one run. Cold sessions
(no warm start anywhere, the first one also pays the identity-cache misses) and warm re-plans.

All N agents share this one process here, so the agents' own checks (N announcement signatures each,
per session) add up on one interpreter: N x N verifications per session instead of N in parallel, one
per agent process, in a deployment. The overhead printed is an upper bound for that reason.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

from agents.grpc_client import AgentRunner, Backoff
from arbsphere.simulation import build_region
from bench.common import percentile, print_table, write_results
from coordinator.grpc_server import GrpcLink, serve, venues_of
from coordinator.session import SessionDriver
from registry.pki import DevCertificateAuthority
from registry.pki.announcements import SignedKey

SIZES = (5, 20)
COLD = int(os.environ.get("ARBSPHERE_BENCH_AUTH_COLD", "4"))
WARM = int(os.environ.get("ARBSPHERE_BENCH_AUTH_WARM", "10"))
REGION = "bench"


@contextlib.contextmanager
def checks_off() -> Iterator[None]:
    def directory(session_id: str, entries: list[SignedKey], **_: Any) -> dict[str, bytes]:
        return {e.venue_id: bytes(e.public_key) for e in entries}

    with (
        mock.patch("agents.grpc_client.verify_directory", directory),
        mock.patch("coordinator.grpc_server.verify_directory", directory),
        mock.patch("coordinator.grpc_server.verify_signature", lambda *_: True),
    ):
        yield


def measure(n: int, root: Path) -> dict[str, list[float]]:
    ca = DevCertificateAuthority.create(root / "ca", REGION)
    server = serve(ca.issue_coordinator(), region=REGION)
    _scenario, agents, infos = build_region(n, 7, latency_budget_ms=600_000)
    runners = []
    try:
        for venue, agent in agents.items():
            mids = dict(infos[venue].reference_prices)
            runner = AgentRunner(
                agent,
                f"127.0.0.1:{server.port}",
                lambda venue=venue: ca.issue_agent(venue),  # type: ignore[misc]
                lambda mids=mids: mids,  # type: ignore[misc]
                backoff=Backoff(initial=0.05, maximum=0.2),
            )
            threading.Thread(target=runner.run, daemon=True).start()
            runners.append(runner)
        server.hub.wait_for(n, 60)
        driver = SessionDriver(GrpcLink(server.hub, round_timeout_s=10.0), venues_of(server.hub))
        cold, warm = [], []
        for _ in range(COLD):
            result = driver.run(cold=True)
            assert result.converged, result
            cold.append(result.elapsed_s * 1e3)
            for _ in range(WARM // COLD):
                result = driver.run()
                warm.append(result.elapsed_s * 1e3)
        return {"cold": cold, "warm": warm}
    finally:
        for runner in runners:
            runner.stop.set()
        server.stop(0)


def main() -> dict[str, object]:
    metrics: dict[str, object] = {}
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-auth-") as tmp:
        for n in SIZES:
            on = measure(n, Path(tmp) / f"on-{n}")
            with checks_off():
                off = measure(n, Path(tmp) / f"off-{n}")
            for phase in ("cold", "warm"):
                p50_on, p50_off = statistics.median(on[phase]), statistics.median(off[phase])
                p99_on, p99_off = percentile(on[phase], 99), percentile(off[phase], 99)
                key = f"n{n}_{phase}"
                metrics[f"{key}_auth_on_p50_ms"] = p50_on
                metrics[f"{key}_auth_off_p50_ms"] = p50_off
                metrics[f"{key}_auth_on_p99_ms"] = p99_on
                metrics[f"{key}_auth_off_p99_ms"] = p99_off
                metrics[f"{key}_overhead_p50_ms"] = p50_on - p50_off
                metrics[f"{key}_on_over_off_p50_ratio"] = p50_on / p50_off
                rows.append(
                    (
                        n,
                        phase,
                        f"{p50_on:.1f}",
                        f"{p50_off:.1f}",
                        f"{p50_on - p50_off:+.1f}",
                        f"{100 * (p50_on / p50_off - 1):+.1f}%",
                        f"{p99_on:.1f}",
                        f"{p99_off:.1f}",
                    )
                )
    print_table(
        f"session latency with authenticated key agreement and agent signatures on vs off "
        f"(agents as threads over mTLS gRPC, {COLD} cold and {WARM} warm sessions per N)",
        ("N", "session", "on p50 ms", "off p50 ms", "overhead ms", "overhead %", "on p99 ms", "off p99 ms"),
        rows,
    )
    write_results("auth", metrics)
    return metrics


if __name__ == "__main__":
    main()
