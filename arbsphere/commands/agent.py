"""`arbsphere agent run`: one venue's edge agent, joined to its region's coordinator over mutual TLS.

A venue is configuration: ``--config my-venue.toml`` (``agents.agent_config``; examples in ``examples/``)
names the exchange, instruments, endpoints, credentials, caps, risk and mode. Without a config file the flags
describe a venue of the seeded synthetic region (the demo's market). The running agent is composed in
``agents.service``; this module only parses arguments and prints the agent's events as JSON lines.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from agents.service import AgentService
    from registry.gateway.fanout import EventFanout
    from registry.gateway.server import GatewayServer

app = typer.Typer(help="Edge agent.", no_args_is_help=True)


def _print(event: dict[str, object]) -> None:
    print(json.dumps(event, sort_keys=True), flush=True)


@app.command("run")
def run_command(
    *,
    config: Annotated[
        Path | None, typer.Option(help="Venue config (TOML); flags given as well override its values.")
    ] = None,
    venue: Annotated[
        str | None, typer.Option(help="Venue id (must match the certificate's SPIFFE name).")
    ] = None,
    cert_dir: Annotated[Path | None, typer.Option(help="Agent bundle (key.pem, cert.pem, ca.pem).")] = None,
    target: Annotated[str | None, typer.Option(help="Coordinator address host:port.")] = None,
    ca_url: Annotated[
        str | None,
        typer.Option(
            help="Region CA service (`pki serve`), grpcs://HOST:PORT: renew the certificate from it at 2/3 "
            "of its ttl (default: re-read --cert-dir)."
        ),
    ] = None,
    live: Annotated[bool, typer.Option("--live", help="Confirm mode = 'live': real orders.")] = False,
    plays: Annotated[
        str | None, typer.Option(help="Synthetic region: the scenario venue to play (default: --venue).")
    ] = None,
    scenario_venues: Annotated[int, typer.Option(help="Synthetic region: number of venues.")] = 2,
    seed: Annotated[int, typer.Option(help="Synthetic region: seed of the market.")] = 7,
    kinds: Annotated[str, typer.Option(help="Synthetic region: comma-separated venue kinds.")] = (
        "order_book,cpmm,clmm,perp"
    ),
    sessions: Annotated[
        int | None, typer.Option(help="Sessions to serve, then exit (0: until stopped).")
    ] = None,
    server_name: Annotated[
        str | None, typer.Option(help="Name the coordinator's certificate carries.")
    ] = None,
    latency_budget_ms: Annotated[int | None, typer.Option(help="This venue's latency budget.")] = None,
    tick_bps: Annotated[float, typer.Option(help="Synthetic feed: common mid move per session (bps).")] = 0.0,
    credential_file: Annotated[
        Path | None, typer.Option(help="Registry-issued verifiable credential presented at join.")
    ] = None,
    state_dir: Annotated[
        Path | None,
        typer.Option(help="Execution store, outbox and journal, kept across restarts (default: temporary)."),
    ] = None,
    observe_only: Annotated[bool, typer.Option(help="Compute and commit plans, send no orders.")] = False,
    daily_notional_cap: Annotated[
        float | None, typer.Option(help="Risk: quote notional per UTC day.")
    ] = None,
    max_trades_per_minute: Annotated[
        int | None, typer.Option(help="Risk: orders per rolling minute.")
    ] = None,
    daily_loss_cap: Annotated[float | None, typer.Option(help="Risk: realised loss per UTC day.")] = None,
    prediction_error_pct: Annotated[
        float | None,
        typer.Option(help="Risk: realised vs predicted PnL gap (%) that, 3 times in 10 min, halts."),
    ] = None,
    paper_latency_ms: Annotated[int, typer.Option(help="Synthetic venues: paper order latency (ms).")] = 0,
    inventory_limits: Annotated[
        bool, typer.Option(help="Plan sells within the assets held and buys within the quote cash.")
    ] = True,
    book_feed: Annotated[
        str, typer.Option(help="Synthetic order books: 'scenario' (static) or 'simulator' (seeded feed).")
    ] = "scenario",
    events: Annotated[
        str | None,
        typer.Option(
            help="Event log: nats://HOST:PORT/SCOPE (JetStream), a file (embedded) or 'none' "
            "(default: events.jsonl in the state directory)."
        ),
    ] = None,
    metrics_port: Annotated[
        int | None, typer.Option(help="Serve Prometheus /metrics on this port (0: a free one; default off).")
    ] = None,
    metrics_host: Annotated[str, typer.Option(help="Address /metrics listens on.")] = "127.0.0.1",
    gateway_port: Annotated[
        int | None,
        typer.Option(help="Serve the operator's HTTPS gateway on this port (0: a free one; default off)."),
    ] = None,
    gateway_host: Annotated[str | None, typer.Option(help="Address the gateway listens on.")] = None,
    gateway_secret_file: Annotated[
        Path | None, typer.Option(help="Signing key of the gateway's tokens (created 0600 if absent).")
    ] = None,
    gateway_cert_dir: Annotated[
        Path | None, typer.Option(help="Gateway server bundle (default: --cert-dir; needs a server SAN).")
    ] = None,
    gateway_audit_url: Annotated[
        str | None, typer.Option(help="The region's console URL, linked from this agent's console (audit).")
    ] = None,
    dp_epsilon: Annotated[
        float | None,
        typer.Option(help="Differential privacy: epsilon per session (default off)."),
    ] = None,
    dp_window_epsilon: Annotated[
        float | None, typer.Option(help="Differential privacy: budget per window (default 24 sessions).")
    ] = None,
    dp_window_s: Annotated[int | None, typer.Option(help="Differential privacy: window length (s).")] = None,
) -> None:
    """Join the region, answer its rounds privately, execute this venue's legs and report them."""
    from agents.agent_config import ConfigError, load_config, merge, parse_config
    from agents.service import AgentService
    from registry.events.logs import configure as json_logs

    json_logs("agent", level=logging.WARNING)
    overrides: dict[str, object] = {
        "venue": venue,
        "sessions": sessions,
        "latency_budget_ms": latency_budget_ms,
        "state_dir": str(state_dir) if state_dir else None,
        "coordinator": {
            "target": target,
            "cert_dir": str(cert_dir) if cert_dir else None,
            "server_name": server_name,
            "credential_file": str(credential_file) if credential_file else None,
            "ca_url": ca_url,
        },
        "caps": {
            "daily_notional": daily_notional_cap,
            "max_trades_per_minute": max_trades_per_minute,
            "inventory_limits": None if inventory_limits else False,
        },
        "privacy": {
            "epsilon_per_session": dp_epsilon,
            "window_epsilon": dp_window_epsilon,
            "window_s": dp_window_s,
        },
        "risk": {
            "daily_loss_cap": daily_loss_cap,
            "prediction_error_pct": prediction_error_pct,
            "observe_only": True if observe_only else None,
        },
        "gateway": {
            "port": gateway_port,
            "host": gateway_host,
            "secret_file": str(gateway_secret_file) if gateway_secret_file else None,
            "cert_dir": str(gateway_cert_dir) if gateway_cert_dir else None,
        },
    }
    try:
        if config is not None:
            parsed = load_config(config, overrides)
        else:
            if venue is None:
                raise ConfigError("--venue: required without --config")
            synthetic: dict[str, object] = {
                "exchange": "simulator",
                "source": "simulator",
                "simulator": {
                    "plays": plays,
                    "venues": scenario_venues,
                    "seed": seed,
                    "kinds": kinds,
                    "tick_bps": tick_bps,
                    "book_feed": book_feed,
                    "paper_latency_ms": paper_latency_ms,
                },
            }
            parsed = parse_config(merge(synthetic, overrides), origin="command line")
    except ConfigError as exc:
        raise typer.BadParameter(str(exc)) from None
    from arbsphere.event_pipeline import EventPipeline

    log_url = events if events is not None else _config_events(parsed.events, config)
    pipeline = EventPipeline(
        role="agent",
        name=parsed.venue,
        events=log_url,
        default_path=parsed.state_dir / "events.jsonl" if parsed.state_dir is not None else None,
        metrics_port=metrics_port,
        metrics_host=metrics_host,
    )
    from registry.gateway.fanout import EventFanout

    console = EventFanout()  # the console's live stream: one more consumer of the agent's events

    def emit(event: dict[str, object]) -> None:
        pipeline.emit(event)
        console.publish(event)

    try:
        try:
            service = AgentService(parsed, live_allowed=live, emit=emit)
        except ConfigError as exc:
            raise typer.BadParameter(str(exc)) from None
        gateways: list[GatewayServer] = []
        if parsed.gateway.port is not None:
            service.on_ready = lambda running: gateways.append(
                _start_gateway(running, emit, console, gateway_audit_url)
            )
        pipeline.start()
        from agents.grpc_client import CoordinatorTrustError, JoinRefused
        from registry.pki import PkiError

        try:
            pipeline.emit(service.run())
        except JoinRefused as exc:  # not a blip: say why once and stop, instead of reconnecting forever
            pipeline.emit({"event": "join_refused", "venue": parsed.venue, "reason": str(exc)})
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(3) from None
        except (CoordinatorTrustError, PkiError) as exc:  # mTLS cannot work: a foreign CA, an expiry
            pipeline.emit({"event": "certificate_error", "venue": parsed.venue, "reason": str(exc)})
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        finally:
            for gateway in gateways:
                gateway.stop()
    finally:
        pipeline.close()


def _start_gateway(
    service: AgentService,
    emit: Callable[[dict[str, object]], None],
    console: EventFanout,
    audit_url: str | None,
) -> GatewayServer:
    """Serve the running agent's gateway (``[gateway]`` in its config) and announce its URL and console."""
    from agents.gateway.server import serve_agent_gateway

    config = service.config
    assert service.controls is not None and service.status is not None
    server = serve_agent_gateway(
        service.controls,
        service.status,
        config.gateway,
        cert_dir=config.coordinator.cert_dir,
        events=console,
        audit_url=audit_url,
    )
    emit({"event": "gateway", "venue": config.venue, "url": server.url, "console": f"{server.url}/console"})
    return server


def _config_events(value: str | None, config: Path | None) -> str | None:
    """The config file's ``events``: a relative file path is relative to the file's folder."""
    if value is None or config is None or "://" in value or value.lower() in ("none", "off"):
        return value
    path = Path(value)
    return str(path if path.is_absolute() else config.parent / path)


@app.command("check-config")
def check_config_command(
    config: Annotated[Path, typer.Option(help="Venue config (TOML) to validate.")],
    metadata: Annotated[
        bool, typer.Option(help="Also fetch the venue's CCXT market metadata (lots, ticks, fees).")
    ] = False,
) -> None:
    """Validate a venue config and print it resolved (credentials are named, never shown)."""
    from agents.agent_config import ConfigError, load_config, read_secrets

    try:
        parsed = load_config(config)
        out: dict[str, object] = {"event": "config", **parsed.model_dump(mode="json")}
        if parsed.mode == "live":
            read_secrets(parsed.credentials)
            out["credentials_found"] = True
        if metadata and parsed.exchange != "simulator":
            from agents.execution.live import make_exchange
            from agents.service import venue_rules
            from agents.venues import venue_spec

            spec = venue_spec(parsed.exchange)
            exchange = make_exchange(spec.ccxt_id, base_url=parsed.endpoints.rest, api_key="", secret="")
            out["rules"] = [
                {k: str(v) for k, v in vars(rule).items()} if hasattr(rule, "__dict__") else str(rule)
                for rule in venue_rules(parsed, exchange)
            ]
    except ConfigError as exc:
        raise typer.BadParameter(str(exc), param_hint="--config") from None
    _print(out)


@app.command("disclose")
def disclose_command(
    state_dir: Annotated[Path, typer.Option(help="The agent's state directory (holds commitment.key).")],
    session: Annotated[str, typer.Option(help="Session id of the plan to disclose.")],
    sequence: Annotated[int, typer.Option(min=1, help="Plan sequence of the plan to disclose.")],
) -> None:
    """Print the opening key of one plan's ledger commitments, for an auditor (no other plan is revealed).

    The auditor checks ``HMAC(opening_key, "arbsphere/v1/commit\\0" || digest)`` against the ledger's
    ``plan_digest`` / ``state_hash`` with the digest of the plan the venue hands over
    (``agents.commitments.verify_opening``)."""
    from agents.commitments import KEY_FILE, CommitmentKey

    if not (state_dir / KEY_FILE).exists():
        raise typer.BadParameter(f"no {KEY_FILE} in {state_dir}", param_hint="--state-dir")
    key = CommitmentKey.load_or_create(state_dir)
    _print(
        {
            "event": "disclosure",
            "session": session,
            "sequence": sequence,
            "opening_key": key.opening(session, sequence).hex(),
        }
    )


@app.command("token")
def token_command(
    secret_file: Annotated[
        Path, typer.Option(help="The gateway's signing key (created 0600 if absent; keep it on this host).")
    ],
    scope: Annotated[
        str, typer.Option(help="read, trade (includes read) or admin (includes both).")
    ] = "read",
    ttl: Annotated[int, typer.Option(help="Lifetime in seconds (at most 3600).")] = 900,
    actor: Annotated[
        str | None, typer.Option(help="Who the token speaks for (default: the local user name).")
    ] = None,
) -> None:
    """Print a gateway token (a JWT) for ``Authorization: Bearer ...``; control actions are recorded under
    its actor."""
    import getpass

    from agents.controls import Scope
    from agents.gateway.tokens import TokenError, TokenIssuer, load_or_create_secret

    try:
        chosen = Scope(scope)
    except ValueError:
        raise typer.BadParameter(f"expected one of {[s.value for s in Scope]}, got {scope!r}") from None
    try:
        issuer = TokenIssuer(load_or_create_secret(secret_file))
        token = issuer.issue(actor or getpass.getuser(), chosen, ttl)
    except TokenError as exc:
        raise typer.BadParameter(str(exc)) from None
    print(token, flush=True)
