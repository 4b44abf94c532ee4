"""Serve the region's gateway over TLS with uvicorn on a daemon thread of the coordinator's process.

The same shape as the agent's (``agents.gateway.server``, which this package may not import): the socket is
bound before the thread starts, so port 0 gives a free port known as soon as ``start`` returns; the bundle
(``key.pem``, ``cert.pem``) is by default the coordinator's own, which carries loopback server names.
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from coordinator.gateway.app import build_app
from coordinator.gateway.ledger_view import LedgerView
from coordinator.gateway.view import RegionView
from registry.gateway.fanout import EventFanout
from registry.gateway.tokens import TokenVerifier, load_or_create_secret
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
