"""Coordinator soak (issue 10): ``coordinator serve --sessions 0`` for a given time while agents join, leave,
and are SIGKILLed and restarted at random (seeded) moments; then an auditor's checks of what it left behind.

    python -m bench.soak_coordinator --minutes 30 [--agents 4] [--seed 1]

Real processes over mutual TLS on loopback (the same ``Region`` as ``bench.bench_crashonly``): honest
scenario agents with durable state dirs, so a SIGKILLed agent restarts on its own store and journal. The
chaos loop picks, every ``gap`` seconds, one running agent and either SIGKILLs it (a crash) or SIGINTs it
(a departure); now and then it SIGKILLs every agent at once (the coordinator must wait for a quorum). Each
agent that is down comes back after ``absence`` seconds.

At the end: the coordinator must never have exited; sessions completed and abandoned are counted; the ledger
is exported and verified offline with the log's public key (``arbsphere ledger export`` / ``verify``), an
early signed checkpoint is proved consistent with the final one (``prove-consistency``), and no (venue,
sequence) is committed twice, no plan sequence is written twice, no agent executed one (venue, sequence)
twice, and no executed plan is missing from the ledger. The coordinator's RSS, threads and open files are
sampled, so a leak shows as growth. ``main`` writes ``bench/results/soak_coordinator.json``;
``tests/crashonly/coordinator/test_co_soak.py`` runs ``soak`` for a minute.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench.bench_crashonly import Proc, Region, cli
from bench.common import percentile, write_results
from registry.ledger import Ledger, NoteSigner, kind_name

DROP = ("round",)
"""Coordinator events only counted, not kept (one line per round over half an hour)."""
SAMPLE_EVERY_S = 30.0


@dataclass(frozen=True)
class SoakConfig:
    duration_s: float
    agents: int = 4
    seed: int = 1
    gap_s: tuple[float, float] = (2.0, 12.0)
    """Seconds between two chaos actions (uniform)."""
    absence_s: tuple[float, float] = (1.0, 10.0)
    """Seconds an agent that left or was killed stays away (uniform)."""
    all_down_probability: float = 0.05
    """Chance that an action SIGKILLs every running agent at once (quorum lost)."""
    interval_s: float = 0.5
    join_timeout_s: float = 3.0


@dataclass
class SoakReport:
    config: SoakConfig
    coordinator_alive_at_end: bool
    coordinator_exit: int | None
    actions: Counter[str]
    sessions: list[dict[str, Any]]
    counts: dict[str, int]
    samples: list[dict[str, float]]
    ledger: dict[str, object]
    agents_executed: list[tuple[str, str, int]]
    problems: list[str] = field(default_factory=list)
    sources_changed: bool = False
    """The Python sources changed on disk during the soak (processes started later ran other code)."""
    warnings: list[str] = field(default_factory=list)

    @property
    def committed_plans(self) -> int:
        return sum(len(s["committed"]) for s in self.sessions)

    def metrics(self) -> dict[str, object]:
        """Flat figures (names carry their units) for ``bench/results/soak_coordinator.json``."""
        minutes = self.config.duration_s / 60
        latencies = [float(s["elapsed_ms"]) for s in self.sessions] or [float("nan")]
        out: dict[str, object] = {
            "duration_min": minutes,
            "agents": self.config.agents,
            "seed": self.config.seed,
            "coordinator_alive_at_end": self.coordinator_alive_at_end,
            "coordinator_exit_code_after_sigint": self.coordinator_exit,
            "sessions_completed": len(self.sessions),
            "sessions_committed": sum(1 for s in self.sessions if s["committed"]),
            "sessions_abandoned": self.counts.get("abandoned", 0),
            "sessions_per_min": len(self.sessions) / minutes if minutes else 0.0,
            "session_p50_ms": statistics.median(latencies),
            "session_p99_ms": percentile(latencies, 99),
            "plans_committed": self.committed_plans,
            "plans_executed_by_agents": len(self.agents_executed),
            "evictions": self.counts.get("evicted", 0),
            "quorum_waits": self.counts.get("waiting", 0),
            "rounds": self.counts.get("round", 0),
            "problems": list(self.problems),
            "sources_changed_during_soak": self.sources_changed,
            "warnings": list(self.warnings),
        }
        for action, count in sorted(self.actions.items()):
            out[f"chaos_{action}"] = count
        for key, value in self.ledger.items():
            out[f"ledger_{key}"] = value
        if self.samples:
            first, last = self.samples[0], self.samples[-1]
            for name in ("rss_mib", "threads", "open_fds"):
                out[f"coordinator_{name}_start"] = first[name]
                out[f"coordinator_{name}_end"] = last[name]
                out[f"coordinator_{name}_max"] = max(s[name] for s in self.samples)
        quarter = self.config.duration_s / 4
        if quarter > 0 and self.sessions:
            start = min(float(s["_t"]) for s in self.sessions)
            first_q = [s for s in self.sessions if float(s["_t"]) - start < quarter]
            last_q = [s for s in self.sessions if float(s["_t"]) - start >= 3 * quarter]
            out["sessions_per_min_first_quarter"] = len(first_q) / (quarter / 60)
            out["sessions_per_min_last_quarter"] = len(last_q) / (quarter / 60)
            if first_q and last_q:
                out["session_p50_ms_first_quarter"] = statistics.median(
                    float(s["elapsed_ms"]) for s in first_q
                )
                out["session_p50_ms_last_quarter"] = statistics.median(float(s["elapsed_ms"]) for s in last_q)
        return out


CODE_PACKAGES = ("energibridge", "sdk", "agents", "coordinator", "registry", "arbsphere")


def source_digest() -> str:
    """SHA-256 over the Python sources the processes import: a restarted agent runs whatever is on disk
    *now*, so sources edited during a soak make a mixed-version region (reported, not hidden)."""
    import arbsphere

    root = Path(arbsphere.__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for package in CODE_PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            digest.update(str(path.relative_to(root)).encode() + b"\0")
            try:
                digest.update(path.read_bytes())
            except OSError:
                digest.update(b"<unreadable>")
    return digest.hexdigest()


def _proc_sample(pid: int) -> dict[str, float]:
    status: dict[str, str] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            status[key] = value.strip()
        fds = len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return {}
    return {
        "t": time.monotonic(),
        "rss_mib": int(status.get("VmRSS", "0 kB").split()[0]) / 1024,
        "threads": float(status.get("Threads", "0")),
        "open_fds": float(fds),
    }


class Chaos:
    """The seeded schedule of departures, crashes and returns against the region's agents."""

    def __init__(self, region: Region, config: SoakConfig, log: Callable[[str], None]) -> None:
        self.region = region
        self.config = config
        self.rng = random.Random(config.seed)
        self.log = log
        self.running: dict[str, Proc] = {}
        self.back_at: dict[str, float] = {}
        self.all_procs: list[Proc] = []
        self.actions: Counter[str] = Counter()

    def start(self, venue: str) -> None:
        proc = self.region.agent(venue, name=f"agent {venue} #{self.actions['start'] + 1}")
        self.running[venue] = proc
        self.all_procs.append(proc)
        self.back_at.pop(venue, None)
        self.actions["start"] += 1

    def _down(self, venue: str, how: str) -> None:
        proc = self.running.pop(venue)
        if how == "leave":
            proc.interrupt(timeout_s=10)
            if proc.stuck:
                self.actions["leave_stuck"] += 1
        else:
            proc.kill()
        self.back_at[venue] = time.monotonic() + self.rng.uniform(*self.config.absence_s)
        self.actions[how] += 1

    def returns(self, now: float) -> None:
        """Restart every agent whose absence is over (on its own state dir: a crash recovery)."""
        for venue, when in sorted(self.back_at.items()):
            if when <= now:
                self.start(venue)

    def step(self) -> None:
        """One chaos action against the agents running now."""
        if not self.running:
            return
        if self.rng.random() < self.config.all_down_probability:
            for venue in sorted(self.running):
                self._down(venue, "kill")
            self.actions["all_down"] += 1
            self.log("chaos: every agent SIGKILLed")
            return
        venue = self.rng.choice(sorted(self.running))
        how = self.rng.choices(("kill", "leave"), weights=(0.6, 0.4))[0]
        self._down(venue, how)
        self.log(f"chaos: {how} {venue}")

    def stop(self) -> None:
        for venue in sorted(self.running):
            self.running.pop(venue).interrupt(timeout_s=10)


def _say(line: str) -> None:
    print(line, flush=True)


def soak(root: Path, config: SoakConfig, log: Callable[[str], None] = _say) -> SoakReport:
    """Run the soak under ``root`` for ``config.duration_s`` seconds and check what it left behind."""
    ttl = timedelta(seconds=max(3600.0, config.duration_s + 1800.0))
    region = Region(root, config.agents, ttl=ttl)
    samples: list[dict[str, float]] = []
    code = source_digest()
    try:
        coordinator = region.coordinator(
            "--interval", str(config.interval_s),
            "--join-timeout", str(config.join_timeout_s),
            "--reply-timeout", "2",
            "--round-timeout", "1",
            "--report-timeout", "1",
            "--first-message-timeout", "5",
            drop=DROP,
        )  # fmt: skip
        chaos = Chaos(region, config, log)
        for venue in region.venues:
            chaos.start(venue)
        coordinator.wait_for("session", 120)
        started = time.monotonic()
        deadline = started + config.duration_s
        next_action = started + chaos.rng.uniform(*config.gap_s)
        next_sample = started
        while (now := time.monotonic()) < deadline:
            if not coordinator.alive:
                break
            if now >= next_sample:
                sample = _proc_sample(coordinator.popen.pid)
                if sample:
                    samples.append(sample)
                next_sample = now + SAMPLE_EVERY_S
                log(
                    f"t={now - started:.0f}s sessions={coordinator.counts.get('session', 0)} "
                    f"abandoned={coordinator.counts.get('abandoned', 0)} running={sorted(chaos.running)} "
                    f"rss={sample.get('rss_mib', 0):.0f}MiB threads={sample.get('threads', 0):.0f}"
                )
            chaos.returns(now)
            if now >= next_action:
                chaos.step()
                next_action = time.monotonic() + chaos.rng.uniform(*config.gap_s)
            time.sleep(0.1)
        alive = coordinator.alive
        warnings: list[str] = []
        changed = source_digest() != code
        if changed:
            warnings.append(
                "the Python sources changed during the soak: processes started since ran other code"
            )
        final = _proc_sample(coordinator.popen.pid)
        if final:
            samples.append(final)
        problems = (
            []
            if alive
            else [f"the coordinator exited ({coordinator.popen.returncode}): {coordinator.tail()}"]
        )
        chaos.stop()
        time.sleep(0.5)
        exit_code = coordinator.interrupt(timeout_s=20) if alive else coordinator.popen.returncode
        if coordinator.stuck:  # crash-only: SIGKILL is a correct stop, so a slow SIGINT is only noted
            warnings.append(f"the coordinator did not stop within 20 s of SIGINT: {coordinator.tail(80)}")
        sessions = [{**e, "_t": t} for t, e in coordinator.events if e.get("event") == "session"]
        executed = [
            (e["venue"], e["session"], int(e["sequence"])) for p in chaos.all_procs for e in p.of("plan")
        ]
        ledger = audit_ledger(region, sessions, executed, problems)
        return SoakReport(
            config=config,
            coordinator_alive_at_end=alive,
            coordinator_exit=exit_code,
            actions=chaos.actions,
            sessions=sessions,
            counts=dict(coordinator.counts),
            samples=samples,
            ledger=ledger,
            agents_executed=executed,
            problems=problems,
            sources_changed=changed,
            warnings=warnings,
        )
    finally:
        region.close()


def _duplicates(keys: list[Any]) -> list[Any]:
    return [k for k, n in Counter(keys).items() if n > 1]


def _cli(*args: str, timeout_s: float = 600.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cli(*args), capture_output=True, text=True, timeout=timeout_s, check=False)


def audit_ledger(
    region: Region,
    sessions: list[dict[str, Any]],
    executed: list[tuple[str, str, int]],
    problems: list[str],
) -> dict[str, object]:
    """What an auditor checks: the export verifies, the log only grew, nothing committed twice or lost."""
    out: dict[str, object] = {}
    export = region.root / "export.jsonl"
    vkey = region.root / "log.vkey"
    vkey.write_text(NoteSigner.parse(region.log_key.read_text()).verifier().to_vkey() + "\n")
    exported = _cli("ledger", "export", "--db", region.ledger_url, "--out", str(export))
    verified = _cli("ledger", "verify", str(export), "--vkey-file", str(vkey), "--workers", "2")
    out["verify_ok"] = exported.returncode == 0 and verified.returncode == 0
    out["verify_output"] = (verified.stdout or verified.stderr or exported.stderr).strip()[-300:]
    if not out["verify_ok"]:
        problems.append(f"ledger verify failed: {out['verify_output']}")
    first = min((int(s["ledger_size"]) for s in sessions), default=0)
    if first:
        proved = _cli(
            "ledger", "prove-consistency", str(first), "--db", region.ledger_url, "--vkey-file", str(vkey)
        )
        out["consistency_from_size"] = first
        out["consistency_ok"] = proved.returncode == 0
        if proved.returncode != 0:
            problems.append(f"consistency proof from size {first} failed: {proved.stderr.strip()[-300:]}")

    entries: list[tuple[str, dict[str, Any]]] = []
    with Ledger.open(region.ledger_url) as ledger:
        after: int | None = None
        while True:
            batch = ledger.query(after_index=after, limit=100_000)
            entries.extend((kind_name(e.kind), json.loads(e.payload)) for e in batch)
            if len(batch) < 100_000:
                break
            after = batch[-1].index
    kinds = Counter(kind for kind, _ in entries)
    intents = [p for k, p in entries if k == "PLAN_COMMITTED" and p.get("event") == "plan_intent"]
    acks = [(p["subject"], p["sequence"]) for k, p in entries if p.get("event") == "plan_committed"]
    members = {(p["session"], p["sequence"]): set(p["members"]) for p in intents}
    duplicated_acks = _duplicates(acks)
    duplicated_sequences = _duplicates([p["sequence"] for p in intents])
    executed_twice = _duplicates([(v, q) for v, _, q in executed])
    missing = [(v, s, q) for v, s, q in executed if v not in members.get((s, q), set())]
    out.update(
        {
            "entries": len(entries),
            "plan_intents": len(intents),
            "plan_committed_acks": len(acks),
            "duplicated_venue_sequence": len(duplicated_acks),
            "duplicated_plan_sequences": len(duplicated_sequences),
            "executed_twice": len(executed_twice),
            "executed_missing_from_ledger": len(missing),
            "execution_reports": kinds.get("EXECUTION_REPORT", 0),
            "joins": kinds.get("JOIN", 0),
            "leaves": kinds.get("LEAVE", 0),
            "risk_halts": kinds.get("RISK_HALT", 0),
        }
    )
    for what, found in (
        ("duplicated (venue, sequence) PLAN_COMMITTED", duplicated_acks),
        ("duplicated plan sequences", duplicated_sequences),
        ("(venue, sequence) executed twice", executed_twice),
        ("executed plans missing from the ledger", missing),
    ):
        if found:
            problems.append(f"{len(found)} {what}: {found[:5]}")
    return out


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--agents", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--workdir", type=Path, default=None, help="Keep the region here (default: temporary)."
    )
    args = parser.parse_args(argv)
    config = SoakConfig(duration_s=args.minutes * 60, agents=args.agents, seed=args.seed)
    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
        report = soak(args.workdir, config)
    else:
        import tempfile

        with tempfile.TemporaryDirectory(prefix="soak-coordinator-") as scratch:
            report = soak(Path(scratch), config)
    metrics = report.metrics()
    path = write_results("soak_coordinator", metrics)
    print(json.dumps(metrics, indent=2, sort_keys=True))
    for warning in report.warnings:
        print(f"warning: {warning}")
    print(f"written to {path}; {'PASS' if not report.problems else 'FAIL: ' + '; '.join(report.problems)}")
    return metrics


if __name__ == "__main__":
    sys.exit(0 if not main()["problems"] else 1)
