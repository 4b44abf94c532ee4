"""`make demo`: the federated multi-venue demo as real processes over mutual TLS, the whole loop.

Two cases, each a coordinator process plus one process per venue on loopback: the two-venue MVP (two
order books with an injected mispricing) and a mixed five-venue region (books, a constant-product pool,
a concentrated-liquidity pool). Every agent builds only its own venue from the seeded synthetic market,
solves its local problem inside the federated plan, executes its own legs on paper against its own market,
keeps the fills in its execution store and reports the outcome to the coordinator, which records joins,
plan commits and execution reports on the ledger. The launcher is the only party that sees everything,
so it can print each venue's plan and fills next to the centralised full-information optimum, check that
every asset nets to exactly zero and count what the ledger holds.
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

from agents.market.simulated_books import SimulatedBookFeed, book_venues
from registry.identity import AgentClaims, DidKeyPair, JwtCredentialService
from registry.identity.did_key import did_key_from_public_key
from registry.ledger import Ledger, kind_name
from registry.pki import DevCertificateAuthority, SpiffeId, write_bundle
from registry.pki.announcements import IDENTITY_FILE, load_or_create_identity
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
    Case(
        "two-venue MVP: two order books fed by the market simulator, injected mispricing", 2, ("order_book",)
    ),
    Case("mixed region: order books, a CPMM pool, a CLMM pool", 5, ("order_book", "cpmm", "clmm")),
)


@dataclass
class CaseResult:
    session: dict[str, Any] = field(default_factory=dict)
    checkpoint: str = ""
    plans: list[dict[str, Any]] = field(default_factory=list)
    executions: list[dict[str, Any]] = field(default_factory=list)
    rounds: list[dict[str, Any]] = field(default_factory=list)
    ledger_kinds: dict[str, int] = field(default_factory=dict)


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "arbsphere.cli", *args]


def _lines(stream: IO[str]) -> Iterator[dict[str, Any]]:
    for raw in stream:
        line = raw.strip()
        if line.startswith("{"):
            yield json.loads(line)


def issue_credential(registry: DidKeyPair, venue: str, path: Path, state_dir: Path) -> None:
    """The registry binds the agent's DID (its identity key in ``state_dir``) to the venue, its adapter and
    its SPIFFE identity (``arbsphere registry issue-credential`` does the same)."""
    identity = load_or_create_identity(state_dir / IDENTITY_FILE)
    claims = AgentClaims(
        subject_did=did_key_from_public_key(identity.public_key()),
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
        issue_credential(registry, venue, workdir / venue / "credential.jwt", workdir / venue / "state")
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
                        "--state-dir",
                        str(workdir / venue / "state"),
                        "--book-feed",
                        "simulator",
                        "--daily-notional-cap",
                        "1e8",  # the demo compares with the unconstrained optimum: keep the cap slack
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
                    + (f"profit {event['profit']:>10.4f} (balanced)" if "profit" in event else ""),
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
            for event in _lines(process.stdout):
                if event["event"] == "plan":
                    result.plans.append(event)
                elif event["event"] == "execution":
                    result.executions.append(event)
            if process.wait(timeout=60) != 0:
                raise RuntimeError(f"an agent exited with {process.returncode}")
        result.ledger_kinds = ledger_kinds(workdir / "ledger.sqlite")
        return result
    finally:
        for process in (coordinator, *agents):
            if process.poll() is None:
                process.kill()


def ledger_kinds(path: Path) -> dict[str, int]:
    """Entries per kind, read the way an auditor would: the ledger opened read-only after the run."""
    counts: dict[str, int] = {}
    with Ledger.open(f"sqlite:///{path}") as ledger:
        for entry in ledger.query(limit=100_000):
            name = kind_name(entry.kind)
            counts[name] = counts.get(name, 0) + 1
    return counts


def _fills_text(fills: list[dict[str, Any]], instrument: str) -> str:
    mine = [f for f in fills if f["instrument"] == instrument]
    size = sum((Decimal(f["size"]) for f in mine), Decimal(0))
    if not mine or size == 0:
        return "none"
    average = sum((Decimal(f["price"]) * Decimal(f["size"]) for f in mine), Decimal(0)) / size
    return f"{len(mine)} fill{'s' if len(mine) > 1 else ''}, {size.normalize():f} @ {average:.4f}"


def report(case: Case, result: CaseResult, console: Console) -> bool:
    scenario = generate_scenario(case.n_venues, SEED, kinds=case.kinds)
    curves = scenario.curves()
    for venue in book_venues(scenario):  # the launcher replays the same seeded feed the agents read
        curves[venue] = {**curves[venue], **SimulatedBookFeed(scenario, venue, SEED).curves()}
    reference = centralised_optimum(curves)
    table = Table(title="committed plan per venue (each agent's own legs) and its paper fills")
    for column in ("venue", "instrument", "side", "size", "limit price cap", "paper fills (avg price)"):
        table.add_column(column)
    executions = {(e["venue"], e["sequence"]): e for e in result.executions}
    net: dict[str, Decimal] = {}
    for plan in sorted(result.plans, key=lambda p: p["venue"]):
        fills = executions.get((plan["venue"], plan["sequence"]), {}).get("fills", [])
        for leg in plan["legs"]:
            table.add_row(
                plan["venue"],
                leg["instrument"],
                leg["side"],
                leg["size"],
                leg["limit_price"],
                _fills_text(fills, leg["instrument"]),
            )
            signed = Decimal(leg["size"]) * (1 if leg["side"] == "BUY" else -1)
            net[leg["instrument"]] = net.get(leg["instrument"], Decimal(0)) + signed
    console.print(table)
    pnl = Table(title="execution per venue (quote cash flows: predicted by the plan, realised by the fills)")
    for column in ("venue", "status", "fills", "predicted PnL", "realised PnL", "realised - predicted"):
        pnl.add_column(column, justify="left" if column in ("venue", "status") else "right")
    realised_total = Decimal(0)
    predicted_total = Decimal(0)
    for execution in sorted(result.executions, key=lambda e: e["venue"]):
        realised_total += Decimal(execution["realised_pnl"])
        predicted_total += Decimal(execution["predicted_pnl"])
        pnl.add_row(
            execution["venue"],
            execution["status"],
            str(len(execution["fills"])),
            f"{Decimal(execution['predicted_pnl']):.4f}",
            f"{Decimal(execution['realised_pnl']):.4f}",
            f"{Decimal(execution['pnl_vs_plan']):+.4f}",
        )
    console.print(pnl)
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
    filled = all(e["status"] == "FILLED" for e in result.executions)
    executed = {(e["venue"], e["sequence"]) for e in result.executions}
    all_executed = executed == {(p["venue"], p["sequence"]) for p in result.plans}
    console.print(
        f"  paper execution: realised plan profit {realised_total:.4f} USD "
        f"(predicted {predicted_total:.4f} USD); all legs filled: {filled}",
        highlight=False,
    )
    kinds = result.ledger_kinds
    reported = kinds.get("EXECUTION_REPORT", 0) == len(result.plans)
    console.print(
        "  ledger entries: " + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())),
        highlight=False,
    )
    console.print("  ledger checkpoint (C2SP signed note; joins carry the agents' credential ids):")
    for line in result.checkpoint.splitlines():
        console.print(f"    {line}", highlight=False)
    return balanced and ratio >= 0.999 and bool(result.plans) and all_executed and reported


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
