"""Start the region's gateway: TLS uvicorn on a daemon thread of the coordinator's process.

The server is ``registry.gateway.server.GatewayServer``, shared with the agent's gateway; the bundle
(``key.pem``, ``cert.pem``) is by default the coordinator's own, which carries loopback server names.
"""

from __future__ import annotations

from pathlib import Path

from coordinator.gateway.app import build_app
from coordinator.gateway.ledger_view import LedgerView
from coordinator.gateway.view import RegionView
from registry.gateway.fanout import EventFanout
from registry.gateway.server import GatewayServer
from registry.gateway.tokens import TokenVerifier, load_or_create_secret


def serve_region_gateway(
    view: RegionView,
    *,
    ledger_url: str | None,
    secret_file: Path,
    cert_dir: Path,
    host: str = "127.0.0.1",
    port: int = 0,
    events: EventFanout | None = None,
) -> tuple[GatewayServer, LedgerView | None]:
    """Build and start the region's gateway; returns it and the ledger reader to close after it."""
    ledger = LedgerView(ledger_url) if ledger_url else None
    app = build_app(
        view,
        ledger,
        TokenVerifier(load_or_create_secret(secret_file)),
        events=events,
        title=f"ArbSphere region console: {view.region}",
    )
    server = GatewayServer(app, cert_dir=cert_dir, host=host, port=port)
    server.start()
    return server, ledger
