"""Certificate rotation soak (issue 11): a coordinator and agents with short-lived certificates (60 s by
default) run sessions for minutes while every process renews from the region's CA service.

    python -m bench.soak_cert_rotation --minutes 5 [--ttl 60] [--agents 3]

Real processes over mutual TLS on loopback (the ``Region`` of ``bench.bench_crashonly``): ``arbsphere pki
serve`` (the CA service), ``coordinator serve --sessions 0 --ca-url ...`` and honest ``agent run --ca-url
...`` processes, all started with certificates of ``--ttl`` seconds issued by the CA. Nothing else touches
them: without renewal every certificate would be gone after one ttl.

Everything is counted from the processes' own JSON lines: sessions (``session``), dropped sessions
(``abandoned``, a ``session`` with ``dropped`` members, ``evicted``), sessions without every agent, server
rotations (``certificate_rotated``), agent renewals (``certificate_renewed``), connections by reason
(``connected``: ``start``, ``renewal``, ``reconnect``), failed handshakes and renewals, and what the CA
service issued. Pass: every process renewed several times, no dropped session, no reconnect that was not
for a renewal, reconnects <= renewals for every agent, every process alive at the end.
``main`` writes ``bench/results/soak_cert_rotation.json``; ``tests/federation/test_fed_cert_rotation.py``
runs ``soak`` for a minute with 20 s certificates.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench.bench_crashonly import Proc, Region, cli
from bench.common import write_results

DROP = ("round", "plan", "execution")
"""Events only counted, not kept."""


@dataclass(frozen=True)
class RotationConfig:
    duration_s: float = 300.0
    ttl_s: int = 60
    agents: int = 3
    interval_s: float = 0.5


@dataclass
class RotationReport:
    config: RotationConfig
    metrics: dict[str, Any]
    problems: list[str] = field(default_factory=list)


def _summary(
    ca: Proc,
    coordinator: Proc,
    agents: dict[str, Proc],
    config: RotationConfig,
    window: tuple[float, float],
    alive: dict[str, bool],
) -> RotationReport:
    """The figures, counted over ``window`` (monotonic: from the moment every agent had joined to the end
    of the run, so start-up and shutdown do not count as sessions without every agent)."""
    sessions = coordinator.of("session", *window)
    n = config.agents
    dropped = [s for s in sessions if s.get("dropped")]
    partial = [s for s in sessions if len(s.get("participants", [])) < n]
    per_agent: dict[str, dict[str, Any]] = {}
    for venue, proc in agents.items():
        reasons = Counter(str(e.get("reason")) for e in proc.of("connected"))
        renewals = len(proc.of("certificate_renewed"))
        per_agent[venue] = {
            "renewals": renewals,
            "connects": sum(reasons.values()),
            "reconnects": sum(reasons.values()) - reasons.get("start", 0),
            "reconnects_for_renewal": reasons.get("renewal", 0),
            "reconnects_other": reasons.get("reconnect", 0),
            "renewal_failures": len(proc.of("certificate_renewal_failed")),
            "handshake_failures": len(proc.of("handshake_failed")),
            "sessions_joined": sum(venue in s.get("participants", []) for s in sessions),
            "alive_at_end": alive[venue],
        }
    issued = Counter(str(e.get("spiffe_id")) for e in ca.of("certificate_renewed"))
    minutes = config.duration_s / 60
    metrics: dict[str, Any] = {
        "duration_min": minutes,
        "window_s": round(window[1] - window[0], 1),
        "ttl_s": config.ttl_s,
        "agents": n,
        "sessions_completed": len(sessions),
        "sessions_per_min": round(60 * len(sessions) / max(window[1] - window[0], 1e-9), 1),
        "sessions_without_every_agent": len(partial),
        "sessions_with_dropped_members": len(dropped),
        "sessions_abandoned": coordinator.counts.get("abandoned", 0),
        "evictions": coordinator.counts.get("evicted", 0),
        "coordinator_rotations": coordinator.counts.get("certificate_rotated", 0),
        "coordinator_renewal_failures": coordinator.counts.get("certificate_renewal_failed", 0),
        "ca_renewals_issued": sum(issued.values()),
        "ca_renewals_by_identity": dict(sorted(issued.items())),
        "agent_renewals_total": sum(a["renewals"] for a in per_agent.values()),
        "agent_reconnects_total": sum(a["reconnects"] for a in per_agent.values()),
        "agent_reconnects_not_for_renewal": sum(a["reconnects_other"] for a in per_agent.values()),
        "agent_handshake_failures": sum(a["handshake_failures"] for a in per_agent.values()),
        "per_agent": per_agent,
    }
    problems: list[str] = []
    expected = max(1, int(config.duration_s / config.ttl_s))  # at least one renewal per ttl
    if metrics["coordinator_rotations"] < expected:
        problems.append(
            f"the coordinator rotated {metrics['coordinator_rotations']} times, expected >= {expected}"
        )
    for venue, figures in per_agent.items():
        if figures["renewals"] < expected:
            problems.append(f"{venue} renewed {figures['renewals']} times, expected >= {expected}")
        if figures["reconnects"] > figures["renewals"]:
            problems.append(f"{venue}: {figures['reconnects']} reconnects for {figures['renewals']} renewals")
        if figures["reconnects_other"]:
            problems.append(f"{venue}: {figures['reconnects_other']} reconnects not for a renewal")
        if not figures["alive_at_end"]:
            problems.append(f"{venue} exited: {agents[venue].tail()}")
    for what in ("sessions_with_dropped_members", "sessions_abandoned", "evictions"):
        if metrics[what]:
            problems.append(f"{what}: {metrics[what]}")
    if not alive["coordinator"] or not alive["ca"]:
        problems.append(f"exited before the end: {[k for k, v in alive.items() if not v]}")
    if not sessions:
        problems.append("no session completed")
    metrics["problems"] = problems
    return RotationReport(config, metrics, problems)


def soak(root: Path, config: RotationConfig, log: Callable[[str], None] = print) -> RotationReport:
    """Run the region for ``config.duration_s`` and count what its processes reported."""
    region = Region(root, config.agents, ttl=timedelta(seconds=config.ttl_s))
    try:
        ca = region._spawn("ca", cli("pki", "serve", "--dir", str(root / "ca"), "--port", "0"), ())
        url = f"grpcs://127.0.0.1:{ca.wait_for('listening', 60)['port']}"
        coordinator = region.coordinator(
            "--ca-url", url, "--interval", str(config.interval_s), "--join-timeout", "3", drop=DROP
        )
        agents = {venue: region.agent(venue, "--ca-url", url, drop=DROP) for venue in region.venues}
        started = time.monotonic()
        deadline = started + config.duration_s
        joined = 0.0
        next_log = started
        while (now := time.monotonic()) < deadline:
            if not joined and all(p.of("connected") for p in agents.values()):
                joined = now
            if not coordinator.alive or not all(p.alive for p in agents.values()) or not ca.alive:
                break
            if now >= next_log:
                renewals = sum(len(p.of("certificate_renewed")) for p in agents.values())
                log(
                    f"t={now - started:.0f}s sessions={coordinator.counts.get('session', 0)} "
                    f"rotations={coordinator.counts.get('certificate_rotated', 0)} agent_renewals={renewals} "
                    f"connects={sum(len(p.of('connected')) for p in agents.values())}"
                )
                next_log = now + 30
            time.sleep(0.2)
        end = time.monotonic()
        alive = {venue: proc.alive for venue, proc in agents.items()}
        alive.update(coordinator=coordinator.alive, ca=ca.alive)
        for proc in agents.values():
            proc.interrupt(timeout_s=20)
        coordinator.interrupt(timeout_s=20)
        report = _summary(ca, coordinator, agents, config, (joined or end, end), alive)
        ca.interrupt(timeout_s=10)
        return report
    finally:
        region.close()


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--ttl", type=int, default=60, help="Certificate lifetime (s) of every process.")
    parser.add_argument("--agents", type=int, default=3)
    parser.add_argument(
        "--workdir", type=Path, default=None, help="Keep the region here (default: temporary)."
    )
    args = parser.parse_args(argv)
    config = RotationConfig(duration_s=args.minutes * 60, ttl_s=args.ttl, agents=args.agents)
    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
        report = soak(args.workdir, config)
    else:
        with tempfile.TemporaryDirectory(prefix="soak-cert-rotation-") as scratch:
            report = soak(Path(scratch), config)
    path = write_results("soak_cert_rotation", report.metrics)
    print(json.dumps(report.metrics, indent=2, sort_keys=True))
    print(f"written to {path}; {'PASS' if not report.problems else 'FAIL: ' + '; '.join(report.problems)}")
    return report.metrics


if __name__ == "__main__":
    sys.exit(0 if not main()["problems"] else 1)
