"""`arbsphere coordinator serve`: run a region's coordinator (mTLS gRPC only) and its sessions."""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from coordinator.engine.config import STRATEGY_NAMES

if TYPE_CHECKING:
    from registry.ledger import NoteSigner

# Heavy modules (grpc, SQLAlchemy, the coordinator core) are imported inside the commands, so that
# `arbsphere --help` stays fast.

app = typer.Typer(help="Regional coordinator.", no_args_is_help=True)


def _emit(event: str, **fields: object) -> None:
    print(json.dumps({"event": event, **fields}, sort_keys=True), flush=True)


def load_or_create_log_key(path: Path, name: str) -> NoteSigner:
    """The ledger's signing key: loaded from ``path``, or generated from the OS CSPRNG and saved 0600."""
    from registry.ledger import NoteSigner
    from registry.pki.store import write_secret_file

    if path.exists():
        return NoteSigner.parse(path.read_text())
    signer = NoteSigner.generate(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_secret_file(path, signer.to_skey().encode())
    return signer


@app.command("serve")
def serve_command(
    *,
    cert_dir: Annotated[Path, typer.Option(help="Coordinator bundle (key.pem, cert.pem, ca.pem).")],
    region: Annotated[str, typer.Option(help="Region (SPIFFE trust domain) agents must belong to.")],
    host: Annotated[str, typer.Option(help="Listen address (TLS only).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Listen port; 0 picks a free one (see --port-file).")] = 0,
    port_file: Annotated[Path | None, typer.Option(help="Write the bound port here.")] = None,
    expect: Annotated[int, typer.Option(help="Agents to wait for before the first session.")] = 2,
    sessions: Annotated[int, typer.Option(help="Sessions to run, then exit (0: run until stopped).")] = 1,
    interval: Annotated[float, typer.Option(help="Seconds between sessions.")] = 0.5,
    join_timeout: Annotated[float, typer.Option(help="Seconds to wait for the agents.")] = 60.0,
    strategy: Annotated[str, typer.Option(help=f"One of {list(STRATEGY_NAMES)}.")] = "price",
    round_timeout: Annotated[float, typer.Option(help="Deadline of one aggregation (s).")] = 2.0,
    ledger_url: Annotated[str, typer.Option(help="SQLAlchemy URL of the governance ledger.")] = (
        "sqlite:///var/ledger.sqlite"
    ),
    log_key_file: Annotated[
        Path, typer.Option(help="The log's note signing key (created 0600 if absent).")
    ] = (Path("var/ledger-log.key")),
    progress: Annotated[bool, typer.Option(help="Print one line per round.")] = True,
    report_timeout: Annotated[
        float, typer.Option(help="Seconds to wait after a commit for the agents' execution reports.")
    ] = 2.0,
    trusted_issuer: Annotated[
        list[str] | None,
        typer.Option(
            help="Registry did:key whose credentials admit agents (repeatable); none: certificates only."
        ),
    ] = None,
) -> None:
    """Serve agents over mutual TLS, run federated sessions and record them on the ledger."""
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    if strategy not in STRATEGY_NAMES:
        raise typer.BadParameter(
            f"expected one of {list(STRATEGY_NAMES)}, got {strategy!r}", param_hint="--strategy"
        )
    from coordinator.audit import LedgerAudit
    from coordinator.grpc_server import ExecutionReports, GrpcLink, last_sequence, serve, venues_of
    from coordinator.session import SessionDriver
    from energibridge.protocol.messages import RoundSummary
    from registry.ledger import Ed25519Signer, Ledger
    from registry.pki import read_bundle

    if ledger_url.startswith("sqlite:///"):
        Path(ledger_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    bundle = read_bundle(cert_dir)
    ledger = Ledger.open(ledger_url, load_or_create_log_key(log_key_file, f"arbsphere.{region}.log"))
    audit = LedgerAudit(ledger, Ed25519Signer.generate())
    server = serve(bundle, region=region, host=host, port=port, trusted_issuers=tuple(trusted_issuer or ()))
    if port_file is not None:
        port_file.write_text(str(server.port))
    _emit("listening", host=host, port=server.port, region=region)
    try:
        server.hub.wait_for(expect, join_timeout)
        for venue, connection in sorted(server.hub.connected().items()):
            audit.record(
                "join",
                venue,
                {
                    "region": region,
                    "agent_did": connection.agent_did,
                    "credential_id": connection.credential_id,
                },
            )

        def on_round(summary: RoundSummary) -> None:
            if progress:
                _emit(
                    "round",
                    round=summary.round_id,
                    responders=summary.responders,
                    imbalance_lots=round(summary.max_imbalance_lots, 6),
                    gap=round(summary.gap, 6),
                    profit=round(summary.profit, 6),
                )

        driver = SessionDriver(
            GrpcLink(server.hub, round_timeout_s=round_timeout),
            venues_of(server.hub),
            strategy=strategy,
            audit=audit,
            on_round=on_round,
        )
        driver.sequence = last_sequence(server.hub)
        reports = ExecutionReports(server.hub, audit)
        count = 0
        while sessions == 0 or count < sessions:
            driver.venues = dict(venues_of(server.hub))
            if len(driver.venues) < 2:
                server.hub.wait_for(2, join_timeout)
                continue
            driver.sequence = max(driver.sequence, last_sequence(server.hub))
            result = driver.run(f"{region}-{int(time.time() * 1000)}-{count + 1}")
            reports.expect(result.session_id, result.acks)
            recorded = reports.drain(report_timeout)
            audit.flush()
            checkpoint = ledger.checkpoint()
            _emit(
                "session",
                session=result.session_id,
                strategy=result.strategy,
                rounds=result.rounds,
                converged=result.converged,
                profit=result.profit,
                elapsed_ms=round(result.elapsed_s * 1e3, 2),
                participants=list(result.participants),
                dropped=list(result.dropped),
                sequence=result.sequence,
                committed=[a.venue_id for a in result.acks],
                execution_reports=recorded,
                ledger_size=checkpoint.size,
                ledger_root=checkpoint.root_hash.hex(),
            )
            count += 1
            if sessions == 0 or count < sessions:
                time.sleep(interval)
        _emit("checkpoint", note=ledger.checkpoint().note)
    finally:
        server.stop()
        ledger.close()
