"""`arbsphere coordinator serve`: run a region's coordinator (mTLS gRPC only) and its sessions.

The command only parses arguments; ``coordinator.service.CoordinatorService`` is the running coordinator.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from coordinator.engine.config import STRATEGY_NAMES

if TYPE_CHECKING:
    from registry.ledger import NoteSigner

# Heavy modules (grpc, SQLAlchemy, the coordinator core) are imported inside the commands, so that
# `arbsphere --help` stays fast.

app = typer.Typer(help="Regional coordinator.", no_args_is_help=True)


def load_or_create_log_key(path: Path, name: str) -> NoteSigner:
    """The ledger's signing key: loaded from ``path``, or generated from the OS CSPRNG and saved 0600."""
    from coordinator.service import load_or_create_log_key as load

    return load(path, name)


@app.command("serve")
def serve_command(
    *,
    cert_dir: Annotated[Path, typer.Option(help="Coordinator bundle (key.pem, cert.pem, ca.pem).")],
    region: Annotated[str, typer.Option(help="Region (SPIFFE trust domain) agents must belong to.")],
    host: Annotated[str, typer.Option(help="Listen address (TLS only).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Listen port; 0 picks a free one (see --port-file).")] = 0,
    port_file: Annotated[Path | None, typer.Option(help="Write the bound port here.")] = None,
    expect: Annotated[int, typer.Option(help="Agents to wait for before the first session.")] = 2,
    sessions: Annotated[
        int,
        typer.Option(
            help="Sessions to complete, then exit (0: run until stopped; abandoned ones don't count)."
        ),
    ] = 1,
    interval: Annotated[float, typer.Option(help="Seconds between sessions.")] = 0.5,
    join_timeout: Annotated[
        float,
        typer.Option(help="Seconds to wait for the agents before going on with a quorum (or waiting again)."),
    ] = 60.0,
    strategy: Annotated[str, typer.Option(help=f"One of {list(STRATEGY_NAMES)}.")] = "price",
    round_timeout: Annotated[float, typer.Option(help="Deadline of one aggregation (s).")] = 2.0,
    reply_timeout: Annotated[
        float, typer.Option(help="Deadline of a session key, adjustment or commit reply (s).")
    ] = 5.0,
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
    latency_floor_ms: Annotated[
        int, typer.Option(help="Shortest session deadline, whatever budget an agent declares (ms).")
    ] = 250,
    latency_ceiling_ms: Annotated[
        int, typer.Option(help="Longest session deadline, whatever budget an agent declares (ms).")
    ] = 60_000,
    first_message_timeout: Annotated[
        float, typer.Option(help="Seconds a new stream has to send its Hello before it is closed.")
    ] = 10.0,
    max_streams_per_identity: Annotated[
        int, typer.Option(help="Concurrent streams one agent identity may hold (more are refused).")
    ] = 4,
    max_concurrent_rpcs: Annotated[
        int, typer.Option(help="Concurrent streams the server admits in all (more are refused).")
    ] = 256,
    events: Annotated[
        str | None,
        typer.Option(
            help="Event log: nats://HOST:PORT/SCOPE (JetStream), a file (embedded) or 'none' "
            "(default: events.jsonl next to a SQLite ledger, else var/events/coordinator-<region>.jsonl)."
        ),
    ] = None,
    metrics_port: Annotated[
        int | None, typer.Option(help="Serve Prometheus /metrics on this port (0: a free one; default off).")
    ] = None,
    metrics_host: Annotated[str, typer.Option(help="Address /metrics listens on.")] = "127.0.0.1",
) -> None:
    """Serve agents over mutual TLS, run federated sessions and record them on the ledger."""
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    if strategy not in STRATEGY_NAMES:
        raise typer.BadParameter(
            f"expected one of {list(STRATEGY_NAMES)}, got {strategy!r}", param_hint="--strategy"
        )
    from coordinator.service import CoordinatorService, CoordinatorSettings

    settings = CoordinatorSettings(
        cert_dir=cert_dir,
        region=region,
        host=host,
        port=port,
        port_file=port_file,
        expect=expect,
        sessions=sessions,
        interval=interval,
        join_timeout=join_timeout,
        strategy=strategy,
        round_timeout=round_timeout,
        reply_timeout=reply_timeout,
        ledger_url=ledger_url,
        log_key_file=log_key_file,
        progress=progress,
        report_timeout=report_timeout,
        trusted_issuers=tuple(trusted_issuer or ()),
        latency_floor_ms=latency_floor_ms,
        latency_ceiling_ms=latency_ceiling_ms,
        first_message_timeout=first_message_timeout,
        max_streams_per_identity=max_streams_per_identity,
        max_concurrent_rpcs=max_concurrent_rpcs,
    )
    try:
        settings.check()
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    from arbsphere.event_pipeline import EventPipeline

    if ledger_url.startswith("sqlite:///"):
        default_log = Path(ledger_url.removeprefix("sqlite:///")).parent / "events.jsonl"
    else:
        default_log = Path("var/events") / f"coordinator-{region}.jsonl"
    pipeline = EventPipeline(
        role="coordinator",
        name=region,
        events=events,
        default_path=default_log,
        metrics_port=metrics_port,
        metrics_host=metrics_host,
    )
    try:
        pipeline.start()
        code = CoordinatorService(settings, pipeline.emit).run()
    finally:
        pipeline.close()
    raise typer.Exit(code)
