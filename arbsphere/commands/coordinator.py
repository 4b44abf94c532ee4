"""`arbsphere coordinator serve`: run a region's coordinator (mTLS gRPC only) and its sessions.

The command only parses arguments; ``coordinator.service.CoordinatorService`` is the running coordinator.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
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
    ca_url: Annotated[
        str | None,
        typer.Option(
            help="Region CA service (`pki serve`), grpcs://HOST:PORT: renew the server certificate from it "
            "at 2/3 of its ttl (default: re-read --cert-dir)."
        ),
    ] = None,
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
    registry: Annotated[
        str | None,
        typer.Option(
            help="Adapter registry (SQLAlchemy URL or SQLite file) checked at every join: an agent whose "
            "adapter version is not registered or does not speak this region's IR is refused (default off)."
        ),
    ] = None,
    gateway_port: Annotated[
        int | None,
        typer.Option(help="Serve the region's HTTPS gateway and console on this port (0: a free one)."),
    ] = None,
    gateway_host: Annotated[str, typer.Option(help="Address the gateway listens on.")] = "127.0.0.1",
    gateway_secret_file: Annotated[
        Path | None,
        typer.Option(help="Signing key of the gateway's tokens (created 0600 if absent; needed to serve)."),
    ] = None,
    gateway_cert_dir: Annotated[
        Path | None, typer.Option(help="Gateway server bundle (default: --cert-dir; needs a server SAN).")
    ] = None,
) -> None:
    """Serve agents over mutual TLS, run federated sessions and record them on the ledger."""
    from registry.events.logs import configure as json_logs

    json_logs("coordinator", level=logging.WARNING)
    if strategy not in STRATEGY_NAMES:
        raise typer.BadParameter(
            f"expected one of {list(STRATEGY_NAMES)}, got {strategy!r}", param_hint="--strategy"
        )
    if gateway_port is not None and gateway_secret_file is None:
        raise typer.BadParameter("required with --gateway-port", param_hint="--gateway-secret-file")
    from coordinator.admission import RegistryUnavailable
    from coordinator.service import CoordinatorService, CoordinatorSettings
    from registry.pki import PkiError

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
        ca_url=ca_url,
        registry_url=registry,
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
    emit = pipeline.emit
    gateway = None
    if gateway_port is not None and gateway_secret_file is not None:
        gateway = _RegionGateway(
            region,
            pipeline.emit,
            ledger_url=ledger_url,
            secret_file=gateway_secret_file,
            cert_dir=gateway_cert_dir or cert_dir,
            host=gateway_host,
            port=gateway_port,
        )
        emit = gateway.emit
    try:
        pipeline.start()
        try:
            code = CoordinatorService(settings, emit).run()
        except (RegistryUnavailable, PkiError) as exc:  # PkiError: the certificate is expired or unusable
            typer.echo(f"error: {exc}", err=True)
            code = 2
    finally:
        if gateway is not None:
            gateway.stop()
        pipeline.close()
    raise typer.Exit(code)


class _RegionGateway:
    """The region's console on a running coordinator: one more consumer of its events (``emit`` feeds the
    pipeline, the region view and the console's stream) plus read-only access to its ledger. Its URL is
    announced right after the service's first event (``listening``), which stays the first line."""

    def __init__(
        self,
        region: str,
        downstream: Callable[[dict[str, object]], None],
        *,
        ledger_url: str,
        secret_file: Path,
        cert_dir: Path,
        host: str,
        port: int,
    ) -> None:
        from coordinator.gateway.server import serve_region_gateway
        from coordinator.gateway.view import RegionView
        from registry.gateway.fanout import EventFanout

        self._downstream = downstream
        self.view = RegionView(region)
        self.events = EventFanout()
        self.server, self._ledger = serve_region_gateway(
            self.view,
            ledger_url=ledger_url,
            secret_file=secret_file,
            cert_dir=cert_dir,
            host=host,
            port=port,
            events=self.events,
        )
        self._announced = False

    def emit(self, event: dict[str, object]) -> None:
        self._downstream(event)
        shown = self.view.observe(event)
        if shown is not None:
            self.events.publish(shown)
        if not self._announced:
            self._announced = True
            url = self.server.url
            self._downstream({"event": "gateway", "url": url, "console": f"{url}/console"})

    def stop(self) -> None:
        self.server.stop()
        if self._ledger is not None:
            self._ledger.close()


@app.command("token")
def token_command(
    secret_file: Annotated[
        Path, typer.Option(help="The region gateway's signing key (created 0600 if absent; keep it here).")
    ],
    ttl: Annotated[int, typer.Option(help="Lifetime in seconds (at most 3600).")] = 900,
    actor: Annotated[
        str | None, typer.Option(help="Who the token speaks for (default: the local user name).")
    ] = None,
) -> None:
    """Print a read token (a JWT) for the region's gateway and console (``Authorization: Bearer ...``, or
    ``/console#token=...``); the region's gateway is read-only, so ``read`` is the only scope it needs."""
    import getpass

    from registry.gateway.tokens import Scope, TokenError, TokenIssuer, load_or_create_secret

    try:
        issuer = TokenIssuer(load_or_create_secret(secret_file))
        token = issuer.issue(actor or getpass.getuser(), Scope.READ, ttl)
    except TokenError as exc:
        raise typer.BadParameter(str(exc)) from None
    print(token, flush=True)
