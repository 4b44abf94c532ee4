"""A real region for end-to-end venue tests: a dev CA, the coordinator and agents as separate processes
started with the CLI (mutual TLS on loopback), each agent configured by a TOML file that points it at a
loopback fake venue (``tests.fakevenues``). Nothing here is a mock: the agents open real websockets and send
real REST orders through CCXT to the fakes, and the coordinator writes the real ledger."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from registry.ledger import Ledger, kind_name
from registry.pki import DevCertificateAuthority, write_bundle

REGION = "e2e"


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "arbsphere.cli", *args]


@dataclass
class Proc:
    """A CLI process whose JSON-line stdout is collected on a thread (so it never blocks on a full pipe)."""

    name: str
    popen: subprocess.Popen[str]
    events: list[dict[str, Any]] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)

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
                    self.events.append(json.loads(line))
                except json.JSONDecodeError:
                    self.stderr.append(line)
            elif line:
                self.stderr.append(line)

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in list(self.events) if e.get("event") == kind]

    def wait_for(self, kind: str, timeout_s: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            found = self.of(kind)
            if found:
                return found[0]
            if self.popen.poll() is not None:
                time.sleep(0.2)
                found = self.of(kind)
                if found:
                    return found[0]
                raise AssertionError(
                    f"{self.name} exited ({self.popen.returncode}) before {kind!r}: {self.tail()}"
                )
            time.sleep(0.05)
        raise AssertionError(f"{self.name}: no {kind!r} within {timeout_s} s: {self.tail()}")

    def tail(self) -> str:
        return " | ".join(self.stderr[-15:])

    def kill(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGKILL)
            self.popen.wait(10)

    def finish(self, timeout_s: float) -> int:
        try:
            return self.popen.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"{self.name} did not finish within {timeout_s} s: {self.tail()}") from None


class Region:
    """CA + coordinator + agents under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.ca = DevCertificateAuthority.create(root / "ca", REGION)
        self.procs: list[Proc] = []
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.target = ""

    @property
    def ledger_path(self) -> Path:
        return self.root / "ledger.sqlite"

    def start_coordinator(self, *, expect: int, sessions: int, extra: tuple[str, ...] = ()) -> Proc:
        write_bundle(self.root / "coordinator", self.ca.issue_coordinator())
        port_file = self.root / "port"
        port_file.unlink(missing_ok=True)
        proc = self._spawn(
            "coordinator",
            cli(
                "coordinator",
                "serve",
                "--cert-dir",
                str(self.root / "coordinator"),
                "--region",
                REGION,
                "--port-file",
                str(port_file),
                "--expect",
                str(expect),
                "--sessions",
                str(sessions),
                "--ledger-url",
                f"sqlite:///{self.ledger_path}",
                "--log-key-file",
                str(self.root / "log.key"),
                *extra,
            ),
        )
        deadline = time.monotonic() + 60
        while not port_file.exists() or not port_file.read_text():
            if proc.popen.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the coordinator did not start: {proc.tail()}")
            time.sleep(0.05)
        self.target = f"127.0.0.1:{port_file.read_text()}"
        return proc

    def write_agent_config(
        self,
        venue: str,
        exchange: str,
        *,
        rest: str,
        ws: str,
        instruments: list[dict[str, object]],
        mode: str = "live",
        sessions: int = 1,
        extra: str = "",
    ) -> Path:
        bundle = self.root / f"agent-{venue}"
        if not (bundle / "cert.pem").exists():
            write_bundle(bundle, self.ca.issue_agent(venue))
        lines = [
            f'venue = "{venue}"',
            f'exchange = "{exchange}"',
            'source = "live"',
            f'mode = "{mode}"',
            f"sessions = {sessions}",
            f'state_dir = "state-{venue}"',
            "latency_budget_ms = 5000",
            extra,
            "[coordinator]",
            f'target = "{self.target}"',
            f'cert_dir = "{bundle}"',
            "[credentials]",
            'api_key_env = "FAKE_API_KEY"',
            'secret_env = "FAKE_API_SECRET"',
            "[endpoints]",
            f'rest = "{rest}"',
            f'ws = "{ws}"',
            "[caps]",
            "book_usage = 0.5",
            "daily_notional = 10000000.0",
            "[risk]",
            "stale_after_s = 5.0",
        ]
        for inst in instruments:
            lines.append("[[instruments]]")
            for key, value in inst.items():
                lines.append(f'{key} = "{value}"' if isinstance(value, str | Decimal) else f"{key} = {value}")
        path = self.root / f"{venue}.toml"
        path.write_text("\n".join(lines) + "\n")
        return path

    def start_agent(
        self, config: Path, credentials: Mapping[str, str], *, live: bool = True, extra: tuple[str, ...] = ()
    ) -> Proc:
        env = {"FAKE_API_KEY": credentials["apiKey"], "FAKE_API_SECRET": credentials["secret"]}
        args = ["agent", "run", "--config", str(config), *extra]
        if live:
            args.append("--live")
        return self._spawn(f"agent {config.stem}", cli(*args), env)

    def _spawn(self, name: str, command: list[str], env: Mapping[str, str] | None = None) -> Proc:
        popen = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**self.env, **(env or {})},
            cwd=self.root,
        )
        proc = Proc(name, popen)
        self.procs.append(proc)
        return proc

    def ledger_kinds(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        with Ledger.open(f"sqlite:///{self.ledger_path}") as ledger:
            for entry in ledger.query(limit=100_000):
                name = kind_name(entry.kind)
                counts[name] = counts.get(name, 0) + 1
        return counts

    def report(self) -> str:
        """Every process's last output lines (for assertion messages)."""
        return "\n".join(f"[{p.name}] rc={p.popen.poll()} {p.tail()}" for p in self.procs)

    def close(self) -> None:
        for proc in self.procs:
            proc.kill()

    def __enter__(self) -> Region:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def lines(stream: IO[str]) -> Iterator[dict[str, Any]]:
    for raw in stream:
        line = raw.strip()
        if line.startswith("{"):
            yield json.loads(line)
