"""Start the agent's gateway from its ``[gateway]`` settings: TLS uvicorn on a daemon thread of its process.

The server (``registry.gateway.server.GatewayServer``, shared with the region's gateway) serves a bundle
directory (``key.pem``, ``cert.pem``, ``ca.pem``: by default the agent's own, issued by the region CA);
clients verify it against the CA, so it must carry a server name (issue it with a DNS or IP SAN).
Certificates are read once at start: rotating the agent's bundle needs a gateway restart.
"""

from __future__ import annotations

from pathlib import Path

from agents.agent_config import Gateway
from agents.controls import AgentControls, AgentStatus
from agents.gateway.app import build_app
from agents.gateway.ratelimit import RateLimiter
from agents.gateway.tokens import TokenVerifier, load_or_create_secret
from registry.gateway.fanout import EventFanout
from registry.gateway.server import GatewayServer


def serve_agent_gateway(
    controls: AgentControls,
    status: AgentStatus,
    settings: Gateway,
    *,
    cert_dir: Path | None,
    events: EventFanout | None = None,
    audit_url: str | None = None,
) -> GatewayServer:
    """Build and start the gateway of a running agent from its ``[gateway]`` settings (``cert_dir``: the
    bundle to serve with when the settings name none; ``events``: the agent's events, for the console's
    live stream; ``audit_url``: the region's console, linked from the agent's for the audit view)."""
    if settings.secret_file is None:
        raise ValueError("gateway.secret_file: required to serve the gateway")
    bundle = settings.cert_dir or cert_dir
    if bundle is None:
        raise ValueError("gateway.cert_dir: no certificate bundle to serve with")
    app = build_app(
        controls,
        status,
        TokenVerifier(load_or_create_secret(settings.secret_file)),
        limiter=RateLimiter(settings.control_rate, settings.control_burst),
        events=events,
        audit_url=audit_url,
        title=f"ArbSphere agent gateway: {controls.venue}",
    )
    server = GatewayServer(app, cert_dir=bundle, host=settings.host, port=settings.port or 0)
    server.start()
    return server
