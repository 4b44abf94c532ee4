"""Serve the gateway over TLS with uvicorn on a daemon thread of the agent's process.

The server certificate is a bundle directory (``key.pem``, ``cert.pem``, ``ca.pem``: by default the agent's
own, issued by the region CA); clients verify it against the CA, so it must carry a server name (issue it
with a DNS or IP SAN). The socket is bound before the thread starts, so port 0 gives a free port that is
known (``url``) as soon as ``start`` returns. Certificates are read once at start: rotating the agent's
bundle needs a gateway restart.
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from agents.agent_config import Gateway
from agents.controls import AgentControls, AgentStatus
from agents.gateway.app import build_app
from agents.gateway.ratelimit import RateLimiter
from agents.gateway.tokens import TokenVerifier, load_or_create_secret
from registry.gateway.fanout import EventFanout
from registry.pki.store import CERT_FILE, KEY_FILE

START_TIMEOUT_S = 10.0


class GatewayServer:
    def __init__(self, app: FastAPI, *, cert_dir: Path, host: str = "127.0.0.1", port: int = 0) -> None:
        for name in (KEY_FILE, CERT_FILE):
            if not (cert_dir / name).is_file():
                raise FileNotFoundError(f"gateway cert_dir: {cert_dir / name} does not exist")
        self._socket = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, port))
        self.host = host
        self.port = int(self._socket.getsockname()[1])
        config = uvicorn.Config(
            app,
            ssl_keyfile=str(cert_dir / KEY_FILE),
            ssl_certfile=str(cert_dir / CERT_FILE),
            log_level="warning",
            access_log=False,
            lifespan="off",
            ws="websockets-sansio",
        )
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"https://{host}:{self.port}"

    def start(self) -> str:
        """Serve on a daemon thread; returns the URL once the server accepts connections."""
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, name="gateway", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"gateway did not start on {self.url}")
            time.sleep(0.01)
        return self.url

    def stop(self, timeout_s: float = 5.0) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout_s)
        self._socket.close()


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
