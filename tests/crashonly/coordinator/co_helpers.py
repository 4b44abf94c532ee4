"""A region of real processes for the coordinator's crash-only tests, and a hostile insider.

The coordinator and the honest agents are the CLI as separate processes (mutual TLS on loopback, a dev CA,
synthetic order-book venues fed by the seeded simulator). ``Mallory`` is an admitted agent the test drives
by hand: a real mTLS stream from the test process with a valid certificate of the same CA, sending what
the reliability campaign found harmful.
"""

from __future__ import annotations

import json
import os
import queue
import socket
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import grpc

from energibridge.protocol import wire
from energibridge.protocol.venue import VenueInfo
from energibridge.v1 import coordinator_pb2 as cpb
from energibridge.v1 import coordinator_pb2_grpc as cpb_grpc
from registry.ledger import Ledger, kind_name
from registry.pki import CertificateBundle, DevCertificateAuthority, write_bundle
from registry.pki.grpc_tls import secure_channel
from sdk.scenarios import generate_scenario
from tests.venues.region import Proc, cli

REGION = "crash"
SEED = 7
KINDS = ("order_book",)
BOOK_FEED = "scenario"
"""Static books: every session finds the same mispricing again, so every session can commit."""
TICK_BPS = "0"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Crew:
    """CA, one coordinator at a time on a fixed port, honest scenario agents; everything under ``root``."""

    def __init__(self, root: Path, n: int) -> None:
        self.root = root
        self.n = n
        self.ca = DevCertificateAuthority.create(root / "ca", REGION)
        self.venues = sorted(generate_scenario(n, SEED, kinds=KINDS).venues)
        self.port = free_port()
        self.target = f"127.0.0.1:{self.port}"
        self.procs: list[Proc] = []
        write_bundle(root / "coordinator", self.ca.issue_coordinator())
        for venue in self.venues:
            write_bundle(root / venue, self.ca.issue_agent(venue))

    @property
    def ledger_url(self) -> str:
        return f"sqlite:///{self.root / 'ledger.sqlite'}"

    def coordinator(self, *extra: str) -> Proc:
        proc = self._spawn(
            "coordinator",
            cli(
                "coordinator", "serve",
                "--cert-dir", str(self.root / "coordinator"),
                "--region", REGION,
                "--port", str(self.port),
                "--sessions", "0",
                "--expect", str(self.n),
                "--interval", "0.2",
                "--report-timeout", "1",
                "--ledger-url", self.ledger_url,
                "--log-key-file", str(self.root / "log.key"),
                *extra,
            ),
        )  # fmt: skip
        proc.wait_for("listening", 60)
        return proc

    def agent(self, venue: str, *extra: str, name: str | None = None) -> Proc:
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
                "--book-feed", BOOK_FEED,
                "--tick-bps", TICK_BPS,
                "--state-dir", str(self.root / f"state-{venue}"),
                *extra,
            ),
        )  # fmt: skip

    def _spawn(self, name: str, command: list[str]) -> Proc:
        popen = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            cwd=self.root,
        )
        proc = Proc(name, popen)
        self.procs.append(proc)
        return proc

    def close(self) -> None:
        for proc in self.procs:
            proc.kill()

    def entries(self) -> list[tuple[str, dict[str, Any]]]:
        """Every ledger entry as (kind, payload), read the way an auditor would (read-only)."""
        with Ledger.open(self.ledger_url) as ledger:
            return [(kind_name(e.kind), json.loads(e.payload)) for e in ledger.query(limit=100_000)]


def actors(ledger_url: str) -> set[str]:
    """Every identity that signed an entry of the ledger."""
    with Ledger.open(ledger_url) as ledger:
        return {e.actor_did for e in ledger.query(limit=100_000)}


def commits_after(coordinator: Proc, seen: int, timeout_s: float, *, minimum: int = 2) -> dict[str, Any]:
    """The first ``session`` event after the first ``seen`` whose plan was committed by >= ``minimum``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        sessions = coordinator.of("session")[seen:]
        for session in sessions:
            if len(session["committed"]) >= minimum:
                return session
        if coordinator.popen.poll() is not None:
            raise AssertionError(
                f"the coordinator exited ({coordinator.popen.returncode}): {coordinator.tail()}"
            )
        time.sleep(0.05)
    raise AssertionError(f"no committed session within {timeout_s} s: {coordinator.tail()}")


def wait_event(
    proc: Proc, kind: str, timeout_s: float, match: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for event in proc.of(kind):
            if match(event):
                return event
        if proc.popen.poll() is not None:
            raise AssertionError(f"{proc.name} exited ({proc.popen.returncode}): {proc.tail()}")
        time.sleep(0.05)
    raise AssertionError(f"{proc.name}: no matching {kind!r} within {timeout_s} s: {proc.tail()}")


def plan_keys(procs: list[Proc]) -> list[tuple[str, str, int]]:
    """(venue, session, sequence) of every plan any agent process committed and executed."""
    return [(e["venue"], e["session"], e["sequence"]) for p in procs for e in p.of("plan")]


def duplicates(keys: list[Any]) -> list[Any]:
    return [k for k, n in Counter(keys).items() if n > 1]


Reply = Callable[[cpb.CoordinatorMessage], list[cpb.AgentMessage]]


def mallory_hello(**overrides: Any) -> cpb.AgentMessage:
    info = VenueInfo("mallory", {"BTC-USD": Decimal("0.0001")}, {"BTC-USD": 60_000.0}, 5000)
    hello = wire.hello_message(info)
    for name, value in overrides.items():
        if isinstance(value, list):
            del getattr(hello, name)[:]
            getattr(hello, name).extend(value)
        else:
            setattr(hello, name, value)
    return cpb.AgentMessage(hello=hello)


class Mallory:
    """One stream of an admitted hostile agent: sends ``first``, then answers each coordinator message
    with ``reply(message)``; records what came back and how the stream ended."""

    def __init__(
        self,
        target: str,
        bundle: CertificateBundle,
        first: cpb.AgentMessage | None,
        reply: Reply | None = None,
    ) -> None:
        self.outbox: queue.Queue[cpb.AgentMessage | None] = queue.Queue()
        self.received: list[cpb.CoordinatorMessage] = []
        self.code: grpc.StatusCode | None = None
        self.ended = threading.Event()
        self._reply = reply
        if first is not None:
            self.outbox.put(first)
        self._thread = threading.Thread(target=self._run, args=(target, bundle), daemon=True)
        self._thread.start()

    def _requests(self) -> Iterator[cpb.AgentMessage]:
        while (message := self.outbox.get()) is not None:
            yield message

    def _run(self, target: str, bundle: CertificateBundle) -> None:
        with secure_channel(target, bundle, server_name="localhost") as channel:
            try:
                for message in cpb_grpc.CoordinatorStub(channel).RoundStream(self._requests(), timeout=120):
                    self.received.append(message)
                    for answer in self._reply(message) if self._reply else []:
                        self.outbox.put(answer)
                self.code = grpc.StatusCode.OK
            except grpc.RpcError as exc:
                self.code = exc.code() if isinstance(exc, grpc.Call) else grpc.StatusCode.UNKNOWN
            finally:
                self.ended.set()
                self.outbox.put(None)

    def send(self, message: cpb.AgentMessage) -> None:
        self.outbox.put(message)

    def errors(self) -> list[cpb.ErrorReply]:
        return [m.error for m in list(self.received) if m.WhichOneof("body") == "error"]

    def close(self) -> None:
        self.outbox.put(None)
