"""`make demo`: the federated multi-venue demo as real processes over mutual TLS.

Two cases, each a coordinator process plus one process per venue on loopback: the two-venue MVP (two
order books with an injected mispricing) and a mixed five-venue region (books, a constant-product pool,
a concentrated-liquidity pool). Every agent builds only its own venue from the seeded synthetic market.
The launcher is the only party that sees everything, so it can print each venue's plan next to the
centralised full-information optimum and check that every asset nets to exactly zero.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from rich.console import Console
from rich.table import Table

from registry.identity import AgentClaims, DidKeyPair, JwtCredentialService
from registry.pki import DevCertificateAuthority, SpiffeId, write_bundle
from sdk.reference_solver import centralised_optimum
from sdk.scenarios import generate_scenario

REGION = "demo"
SEED = 7


@dataclass(frozen=True)
class Case:
    title: str
    n_venues: int
    kinds: tuple[str, ...]


CASES = (
    Case("two-venue MVP: two order books, injected mispricing", 2, ("order_book",)),
    Case("mixed region: order books, a CPMM pool, a CLMM pool", 5, ("order_book", "cpmm", "clmm")),
)


@dataclass
class CaseResult:
    session: dict[str, Any] = field(default_factory=dict)
    checkpoint: str = ""
    plans: list[dict[str, Any]] = field(default_factory=list)
    rounds: list[dict[str, Any]] = field(default_factory=list)


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "arbsphere.cli", *args]


def _lines(stream: IO[str]) -> Iterator[dict[str, Any]]:
    for raw in stream:
        line = raw.strip()
        if line.startswith("{"):
            yield json.loads(line)


def issue_credential(registry: DidKeyPair, venue: str, path: Path) -> None:
    """The registry binds a fresh agent DID to the venue, its adapter and its SPIFFE identity."""
    claims = AgentClaims(
        subject_did=DidKeyPair.generate().did,
        venue=venue,
        adapter="arbsphere-reference",
        adapter_version="0.1.0",
        spiffe_id=SpiffeId.agent(REGION, venue),
    )
    issued = JwtCredentialService().issue(
        registry, claims, issued_at=datetime.now(UTC), ttl=timedelta(hours=1)
    )
    path.write_text(issued.encoded)


def run_case(
    case: Case, workdir: Path, ca: DevCertificateAuthority, registry: DidKeyPair, console: Console
) -> CaseResult:
    scenario = generate_scenario(case.n_venues, SEED, kinds=case.kinds)
    venues = sorted(scenario.venues)
    write_bundle(workdir / "coordinator", ca.issue_coordinator())
    for venue in venues:
        write_bundle(workdir / venue, ca.issue_agent(venue))
        issue_credential(registry, venue, workdir / venue / "credential.jwt")
    port_file = workdir / "port"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    coordinator = subprocess.Popen(  # noqa: S603 (our own CLI, argument list, no shell)
        _cli(
            "coordinator",
            "serve",
            "--cert-dir",
            str(workdir / "coordinator"),
            "--region",
            REGION,
            "--port-file",
            str(port_file),
            "--expect",
            str(len(venues)),
            "--sessions",
            "1",
            "--ledger-url",
            f"sqlite:///{workdir / 'ledger.sqlite'}",
            "--log-key-file",
            str(workdir / "log.key"),
            "--trusted-issuer",
            registry.did,
        ),
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    agents: list[subprocess.Popen[str]] = []
    try:
        deadline = time.monotonic() + 60
        while not port_file.exists() or not port_file.read_text():
            if coordinator.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the coordinator did not start")
            time.sleep(0.05)
        target = f"127.0.0.1:{port_file.read_text()}"
        for venue in venues:
            agents.append(
                subprocess.Popen(  # noqa: S603 (our own CLI, argument list, no shell)
                    _cli(
                        "agent",
                        "run",
                        "--venue",
                        venue,
                        "--cert-dir",
                        str(workdir / venue),
                        "--target",
                        target,
                        "--scenario-venues",
                        str(case.n_venues),
                        "--seed",
                        str(SEED),
                        "--kinds",
                        ",".join(case.kinds),
                        "--credential-file",
                        str(workdir / venue / "credential.jwt"),
                    ),
                    stdout=subprocess.PIPE,
                    text=True,
                    env=env,
                )
            )
        result = CaseResult()
        assert coordinator.stdout is not None
        for event in _lines(coordinator.stdout):
            if event["event"] == "round":
                result.rounds.append(event)
                if event["round"] > 10 and event["round"] % 25:
                    continue  # long sessions: every 25th round after the first ten
                console.print(
                    f"  round {event['round']:>3}  responders {event['responders']}  "
                    f"imbalance {event['imbalance_lots']:>12.4g} lots  gap {event['gap']:>10.4g}  "
                    f"profit {event['profit']:>10.4f}",
                    highlight=False,
                )
            elif event["event"] == "session":
                result.session = event
            elif event["event"] == "checkpoint":
                result.checkpoint = event["note"]
        if coordinator.wait(timeout=60) != 0:
            raise RuntimeError(f"the coordinator exited with {coordinator.returncode}")
        for process in agents:
            assert process.stdout is not None
            result.plans.extend(e for e in _lines(process.stdout) if e["event"] == "plan")
            if process.wait(timeout=60) != 0:
                raise RuntimeError(f"an agent exited with {process.returncode}")
        return result
    finally:
        for process in (coordinator, *agents):
            if process.poll() is None:
                process.kill()


def report(case: Case, result: CaseResult, console: Console) -> bool:
    scenario = generate_scenario(case.n_venues, SEED, kinds=case.kinds)
    reference = centralised_optimum(scenario.curves())
    table = Table(title="committed plan per venue (each agent's own legs)")
    for column in ("venue", "instrument", "side", "size", "limit price cap"):
        table.add_column(column)
    net: dict[str, Decimal] = {}
    for plan in sorted(result.plans, key=lambda p: p["venue"]):
        for leg in plan["legs"]:
            table.add_row(plan["venue"], leg["instrument"], leg["side"], leg["size"], leg["limit_price"])
            signed = Decimal(leg["size"]) * (1 if leg["side"] == "BUY" else -1)
            net[leg["instrument"]] = net.get(leg["instrument"], Decimal(0)) + signed
    console.print(table)
    profit = float(result.session.get("profit", float("nan")))
    ratio = profit / reference.profit if reference.profit else float("nan")
    balanced = all(v == 0 for v in net.values())
    console.print(
        f"  rounds {result.session.get('rounds')}  ({result.session.get('strategy')}, "
        "secure aggregation, mTLS)  "
        f"solve {result.session.get('elapsed_ms')} ms",
        highlight=False,
    )
    console.print(
        f"  profit {profit:.4f} USD vs centralised optimum {reference.profit:.4f} USD "
        f"(certified bound {reference.dual_bound:.4f}): {100 * ratio:.3f}%",
        highlight=False,
    )
    console.print(
        f"  net per instrument: { {k: str(v) for k, v in sorted(net.items())} }  balanced: {balanced}"
    )
    console.print("  ledger checkpoint (C2SP signed note; joins carry the agents' credential ids):")
    for line in result.checkpoint.splitlines():
        console.print(f"    {line}", highlight=False)
    return balanced and ratio >= 0.999 and bool(result.plans)


def run_demo() -> int:
    console = Console(width=120)
    ok = True
    with tempfile.TemporaryDirectory(prefix="arbsphere-demo-") as scratch:
        root = Path(scratch)
        ca = DevCertificateAuthority.create(root / "ca", REGION)
        registry = DidKeyPair.generate()
        for n, case in enumerate(CASES, start=1):
            console.rule(f"[bold]case {n}: {case.title}")
            workdir = root / f"case{n}"
            workdir.mkdir()
            result = run_case(case, workdir, ca, registry, console)
            ok = report(case, result, console) and ok
    console.rule("[bold green]demo passed" if ok else "[bold red]demo failed")
    return 0 if ok else 1
