"""Crash-only coordinator benchmark (issue 10): session throughput and p99 session latency with one silent
member and with 70 idle streams, side by side with a clean region, all measured in one run.

Real processes over mutual TLS on loopback: ``arbsphere coordinator serve --sessions 0`` and N honest
``arbsphere agent run`` processes (static order books of the seeded scenario, so every session finds the
same mispricing and commits). Three cases, each on a fresh region, each measured over the same window:

- ``clean``: the honest agents only.
- ``silent``: plus one admitted member (its own valid certificate) that sends a valid Hello and then never
  answers anything. The coordinator leaves it out after ``--reply-timeout`` and evicts it; it reconnects at
  once and is silent again, so it is a member for the whole window (the hostile model, not a one-off).
- ``idle70``: plus 70 streams from one valid agent certificate that never send a first message; each one
  the server ends (the per-identity cap refuses most at once, the first-message deadline closes the rest) is
  reopened after ``IDLE_RETRY_S``, so the attack lasts the whole window.

Figures come from the coordinator's own JSON lines (``session`` events: ``elapsed_ms`` from session start
to commit), counted over the window that starts when the disturbance starts.
``ARBSPHERE_BENCH_CRASHONLY_S`` sets the window in seconds (default 20; the whole benchmark takes about 4x
that), ``ARBSPHERE_BENCH_CRASHONLY_N`` the number of honest agents (default 3).

The process helpers here (``Region``, ``Proc``, ``SilentMember``, ``IdleStreams``) are shared with
``bench.soak_coordinator``.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

import grpc

from bench.common import percentile, print_table, write_results
from energibridge.protocol import wire
from energibridge.protocol.venue import VenueInfo
from energibridge.v1 import coordinator_pb2 as cpb
from energibridge.v1 import coordinator_pb2_grpc as cpb_grpc
from registry.pki import CertificateBundle, DevCertificateAuthority, write_bundle
from registry.pki.grpc_tls import secure_channel
from sdk.scenarios import generate_scenario

REGION = "bench-crash"
SEED = 7
KINDS = ("order_book",)
WINDOW_S = float(os.environ.get("ARBSPHERE_BENCH_CRASHONLY_S", "20"))
AGENTS = int(os.environ.get("ARBSPHERE_BENCH_CRASHONLY_N", "3"))
WARMUP_SESSIONS = 3
INTERVAL_S = 0.05
"""Pause between sessions: small, so the window measures the sessions themselves."""
REPLY_TIMEOUT_S = 2.0
FIRST_MESSAGE_TIMEOUT_S = 2.0
"""The hostile-insider settings of the crash-only tests (the CLI defaults are 5 s and 10 s)."""
IDLE_STREAMS = 70
IDLE_RETRY_S = 1.0
SILENT_RETRY_S = 0.05

# Measure the coordinator, not the agents' risk gates: static books repeat one arbitrage every session,
# which the deployment defaults (inventory, daily notional, trades per minute) would soon stop.
AGENT_RISK_OFF = (
    "--no-inventory-limits",
    "--daily-notional-cap", "1e15",
    "--daily-loss-cap", "1e15",
    "--prediction-error-pct", "1e12",
    "--max-trades-per-minute", "100000",
)  # fmt: skip


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "arbsphere.cli", *args]


@dataclass
class Proc:
    """A CLI process; its JSON-line stdout is collected on a thread as (monotonic time, event).

    Events whose kind is in ``drop`` are only counted (a soak's round lines would fill memory)."""

    name: str
    popen: subprocess.Popen[str]
    drop: Collection[str] = ()
    events: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    stderr: deque[str] = field(default_factory=lambda: deque(maxlen=200))
    stuck: bool = False
    """It did not stop within the grace period of ``interrupt``."""

    def __post_init__(self) -> None:
        threading.Thread(target=self._read, args=(self.popen.stdout, True), daemon=True).start()
        threading.Thread(target=self._read, args=(self.popen.stderr, False), daemon=True).start()

    def _read(self, stream: IO[str] | None, json_lines: bool) -> None:
        if stream is None:
            return
        for raw in stream:
            line = raw.strip()
            if json_lines and line.startswith("{"):
                try:
                    event = json.loads(line)
                except json.JSONDecodeError:
                    self.stderr.append(line)
                    continue
                kind = str(event.get("event"))
                self.counts[kind] = self.counts.get(kind, 0) + 1
                if kind not in self.drop:
                    self.events.append((time.monotonic(), event))
            elif line:
                self.stderr.append(line)

    def of(self, kind: str, since: float = 0.0, until: float = float("inf")) -> list[dict[str, Any]]:
        return [e for t, e in list(self.events) if e.get("event") == kind and since <= t < until]

    def wait_for(self, kind: str, timeout_s: float, count: int = 1) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            found = self.of(kind)
            if len(found) >= count:
                return found[count - 1]
            if self.popen.poll() is not None:
                raise RuntimeError(f"{self.name} exited ({self.popen.returncode}): {self.tail()}")
            time.sleep(0.05)
        raise RuntimeError(f"{self.name}: fewer than {count} {kind!r} within {timeout_s} s: {self.tail()}")

    def tail(self, lines: int = 12) -> str:
        return " | ".join(list(self.stderr)[-lines:])

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None

    def kill(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(10)

    def interrupt(self, timeout_s: float = 15.0) -> int:
        """SIGINT (a graceful stop); after ``timeout_s`` SIGABRT (the faulthandler writes every thread's
        stack to stderr, kept in ``stderr``), then SIGKILL; the exit code."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGINT)
            try:
                return self.popen.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.stuck = True
                self.popen.send_signal(signal.SIGABRT)
                try:
                    self.popen.wait(5)
                    time.sleep(0.5)  # let the reader thread take the dump
                except subprocess.TimeoutExpired:
                    self.kill()
        return self.popen.wait(10)


class Region:
    """A dev CA, one coordinator and honest scenario agents as CLI processes, everything under ``root``."""

    def __init__(self, root: Path, n: int, *, ttl: timedelta = timedelta(hours=1)) -> None:
        self.root = root
        self.n = n
        self.ttl = ttl
        self.ca = DevCertificateAuthority.create(root / "ca", REGION)
        self.venues = sorted(generate_scenario(n, SEED, kinds=KINDS).venues)
        self.target = ""
        self.procs: list[Proc] = []
        write_bundle(root / "coordinator", self.ca.issue_coordinator(ttl=ttl))
        for venue in self.venues:
            write_bundle(root / venue, self.ca.issue_agent(venue, ttl=ttl))

    @property
    def ledger_url(self) -> str:
        return f"sqlite:///{self.root / 'ledger.sqlite'}"

    @property
    def log_key(self) -> Path:
        return self.root / "log.key"

    def bundle(self, name: str) -> CertificateBundle:
        """A fresh valid agent certificate of this region for ``name`` (for the hostile peers)."""
        return self.ca.issue_agent(name, ttl=self.ttl)

    def coordinator(self, *extra: str, drop: Collection[str] = ()) -> Proc:
        proc = self._spawn(
            "coordinator",
            cli(
                "coordinator", "serve",
                "--cert-dir", str(self.root / "coordinator"),
                "--region", REGION,
                "--sessions", "0",
                "--expect", str(self.n),
                "--ledger-url", self.ledger_url,
                "--log-key-file", str(self.log_key),
                *extra,
            ),
            drop,
        )  # fmt: skip
        listening = proc.wait_for("listening", 60)
        self.target = f"127.0.0.1:{listening['port']}"
        return proc

    def agent(self, venue: str, *extra: str, name: str | None = None, drop: Collection[str] = ()) -> Proc:
        return self._spawn(
            name or f"agent {venue}",
            cli(
                "agent", "run",
                "--venue", venue,
                "--cert-dir", str(self.root / venue),
                "--target", self.target,
                "--scenario-venues", str(self.n),
                "--seed", str(SEED),
                "--kinds", ",".join(KINDS),
                "--sessions", "0",
                "--book-feed", "scenario",
                "--tick-bps", "0",
                "--state-dir", str(self.root / f"state-{venue}"),
                *AGENT_RISK_OFF,
                *extra,
            ),
            drop,
        )  # fmt: skip

    def _spawn(self, name: str, command: list[str], drop: Collection[str]) -> Proc:
        popen = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONFAULTHANDLER": "1"},
            cwd=self.root,
        )
        proc = Proc(name, popen, drop)
        self.procs.append(proc)
        return proc

    def close(self) -> None:
        for proc in self.procs:
            proc.kill()


def silent_hello(venue: str) -> cpb.AgentMessage:
    """A valid Hello for ``venue`` trading the scenario's assets (so it is a member of every session)."""
    info = VenueInfo(
        venue,
        {"BTC": Decimal("0.00001"), "ETH": Decimal("0.0001"), "SOL": Decimal("0.01")},
        {"BTC": 60_000.0, "ETH": 3_000.0, "SOL": 150.0},
        5_000,
    )
    return cpb.AgentMessage(hello=wire.hello_message(info))


class SilentMember:
    """An admitted member that sends its Hello and then nothing; back at once whenever its stream ends."""

    def __init__(self, target: str, bundle: CertificateBundle, venue: str = "silent") -> None:
        self.joins = 0
        self.codes: dict[str, int] = {}
        self._stop = threading.Event()
        self._target = target
        self._bundle = bundle
        self._hello = silent_hello(venue)
        self._thread = threading.Thread(target=self._run, daemon=True, name="silent-member")
        self._thread.start()

    def _requests(self) -> Iterator[cpb.AgentMessage]:
        yield self._hello
        self._stop.wait()

    def _run(self) -> None:
        while not self._stop.is_set():
            with secure_channel(self._target, self._bundle, server_name="localhost") as channel:
                call = cpb_grpc.CoordinatorStub(channel).RoundStream(self._requests())
                self.joins += 1
                try:
                    for _ in call:
                        if self._stop.is_set():
                            call.cancel()  # type: ignore[no-untyped-call]  # grpc's stubs leave it untyped
                    code = "OK"
                except grpc.RpcError as exc:
                    code = exc.code().name if isinstance(exc, grpc.Call) else "UNKNOWN"
            self.codes[code] = self.codes.get(code, 0) + 1
            self._stop.wait(SILENT_RETRY_S)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)


class IdleStreams:
    """``count`` streams from one valid certificate that never send a byte, each reopened after ``retry_s``
    once the server ends it; how each attempt ended is counted by status code."""

    def __init__(self, target: str, bundle: CertificateBundle, count: int, retry_s: float) -> None:
        self.codes: dict[str, int] = {}
        self.opened = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._retry_s = retry_s
        self._channel = secure_channel(target, bundle, server_name="localhost")
        self._threads = [
            threading.Thread(target=self._run, daemon=True, name=f"idle-{i}") for i in range(count)
        ]
        for thread in self._threads:
            thread.start()

    def _silence(self) -> Iterator[cpb.AgentMessage]:
        self._stop.wait()
        return
        yield  # a generator that sends nothing

    def _run(self) -> None:
        stub = cpb_grpc.CoordinatorStub(self._channel)
        while not self._stop.is_set():
            with self._lock:
                self.opened += 1
            try:
                for _ in stub.RoundStream(self._silence()):
                    pass
                code = "OK"
            except grpc.RpcError as exc:
                code = exc.code().name if isinstance(exc, grpc.Call) else "UNKNOWN"
            with self._lock:
                self.codes[code] = self.codes.get(code, 0) + 1
            self._stop.wait(self._retry_s)

    def close(self) -> None:
        self._stop.set()
        self._channel.close()
        for thread in self._threads:
            thread.join(5)


Disturbance = Callable[[Region], Callable[[], dict[str, object]]]
"""Starts a disturbance against a running region; returns the function that stops it and says what it did."""


def clean(region: Region) -> Callable[[], dict[str, object]]:
    return dict


def silent_member(region: Region) -> Callable[[], dict[str, object]]:
    member = SilentMember(region.target, region.bundle("silent"))

    def stop() -> dict[str, object]:
        member.close()
        return {"member_joins": member.joins, "member_stream_ends": dict(member.codes)}

    return stop


def idle_streams(region: Region) -> Callable[[], dict[str, object]]:
    streams = IdleStreams(region.target, region.bundle("idler"), IDLE_STREAMS, IDLE_RETRY_S)

    def stop() -> dict[str, object]:
        opened, codes = streams.opened, dict(streams.codes)
        streams.close()
        return {"idle_streams_opened": opened, "idle_stream_ends": codes}

    return stop


CASES: dict[str, Disturbance] = {"clean": clean, "silent": silent_member, "idle70": idle_streams}


@dataclass
class CaseResult:
    name: str
    window_s: float
    sessions: list[dict[str, Any]]
    abandoned: int
    evicted: int
    coordinator_alive: bool
    disturbance: dict[str, object]

    @property
    def per_second(self) -> float:
        return len(self.sessions) / self.window_s

    def latencies_ms(self) -> list[float]:
        return [float(s["elapsed_ms"]) for s in self.sessions]


def run_case(name: str, disturbance: Disturbance, n: int, window_s: float) -> CaseResult:
    with tempfile.TemporaryDirectory(prefix=f"crashonly-{name}-") as scratch:
        region = Region(Path(scratch), n)
        try:
            coordinator = region.coordinator(
                "--interval", str(INTERVAL_S),
                "--reply-timeout", str(REPLY_TIMEOUT_S),
                "--first-message-timeout", str(FIRST_MESSAGE_TIMEOUT_S),
                "--report-timeout", "1",
                "--no-progress",
            )  # fmt: skip
            for venue in region.venues:
                region.agent(venue)
            coordinator.wait_for("session", 120, count=WARMUP_SESSIONS)
            stop = disturbance(region)
            started = time.monotonic()
            time.sleep(window_s)
            ended = time.monotonic()
            what = stop()
            return CaseResult(
                name=name,
                window_s=ended - started,
                sessions=coordinator.of("session", started, ended),
                abandoned=len(coordinator.of("abandoned", started, ended)),
                evicted=len(coordinator.of("evicted", started, ended)),
                coordinator_alive=coordinator.alive,
                disturbance=what,
            )
        finally:
            region.close()


def main() -> dict[str, object]:
    metrics: dict[str, object] = {
        "agents": AGENTS,
        "window_s": WINDOW_S,
        "interval_s": INTERVAL_S,
        "reply_timeout_s": REPLY_TIMEOUT_S,
        "first_message_timeout_s": FIRST_MESSAGE_TIMEOUT_S,
    }
    results = {name: run_case(name, disturbance, AGENTS, WINDOW_S) for name, disturbance in CASES.items()}
    base = results["clean"]
    rows = []
    for name, result in results.items():
        latencies = result.latencies_ms() or [float("nan")]
        p50, p99 = statistics.median(latencies), percentile(latencies, 99)
        committed = [s for s in result.sessions if s["committed"]]
        rounds = [int(s["rounds"]) for s in result.sessions] or [0]
        converged = sum(1 for s in result.sessions if s["converged"]) / max(1, len(result.sessions))
        profits = [float(s["profit"]) for s in result.sessions] or [float("nan")]
        metrics[f"{name}_sessions"] = len(result.sessions)
        metrics[f"{name}_sessions_per_s"] = result.per_second
        metrics[f"{name}_session_p50_ms"] = p50
        metrics[f"{name}_session_p99_ms"] = p99
        metrics[f"{name}_committed_sessions"] = len(committed)
        metrics[f"{name}_converged_fraction"] = converged
        metrics[f"{name}_rounds_p50"] = statistics.median(rounds)
        metrics[f"{name}_profit_p50_quote"] = statistics.median(profits)
        metrics[f"{name}_abandoned_sessions"] = result.abandoned
        metrics[f"{name}_evictions"] = result.evicted
        metrics[f"{name}_coordinator_alive"] = result.coordinator_alive
        for key, value in result.disturbance.items():
            metrics[f"{name}_{key}"] = value
        throughput_ratio = result.per_second / base.per_second if base.per_second else float("nan")
        p99_ratio = p99 / metrics["clean_session_p99_ms"]  # type: ignore[operator]
        if name != "clean":
            metrics[f"{name}_over_clean_sessions_per_s_ratio"] = throughput_ratio
            metrics[f"{name}_over_clean_p99_ratio"] = p99_ratio
        rows.append(
            (
                name,
                len(result.sessions),
                result.per_second,
                p50,
                p99,
                f"{throughput_ratio:.3f}",
                f"{p99_ratio:.2f}",
                f"{len(committed)}/{len(result.sessions)}",
                f"{converged:.2f}",
                statistics.median(profits),
                result.abandoned,
                result.evicted,
                "yes" if result.coordinator_alive else "NO",
            )
        )
    print_table(
        f"crash-only coordinator: {AGENTS} honest agents as processes over mTLS, {WINDOW_S:g} s per case "
        f"(reply timeout {REPLY_TIMEOUT_S:g} s, first-message deadline {FIRST_MESSAGE_TIMEOUT_S:g} s)",
        (
            "case",
            "sessions",
            "sessions/s",
            "p50 ms",
            "p99 ms",
            "thrpt/clean",
            "p99/clean",
            "committed",
            "converged",
            "profit p50",
            "abandoned",
            "evicted",
            "coord up",
        ),
        rows,
    )
    for name, result in results.items():
        if result.disturbance:
            print(f"  {name}: {result.disturbance}")
    write_results("crashonly", metrics)
    return metrics


if __name__ == "__main__":
    main()
