"""End to end: a coordinator and two agents as processes; the operator drives one through its gateway."""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from agents.controls import Scope
from agents.gateway.tokens import TokenIssuer, load_or_create_secret
from registry.pki import SpiffeId, write_bundle
from tests.federation.test_fed_processes import REGION, Region, events, free_port

pytestmark = pytest.mark.slow


class Watched:
    """An agent process's events, read on a thread as they come."""

    def __init__(self, process: Any) -> None:
        self.events: list[tuple[float, dict[str, Any]]] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._read, args=(process,), daemon=True).start()

    def _read(self, process: Any) -> None:
        for event in events(process):
            with self._lock:
                self.events.append((time.monotonic(), event))

    def since(self, t0: float, kind: str) -> list[dict[str, Any]]:
        with self._lock:
            return [e for t, e in self.events if t >= t0 and e["event"] == kind]

    def wait(self, found: Callable[[], object], timeout: float = 60.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = found()
            if value:
                return value
            time.sleep(0.05)
        raise AssertionError(f"timed out; last events: {[e for _, e in self.events[-5:]]}")


def sent_orders(client: httpx.Client, headers: dict[str, str]) -> int:
    """Orders that reached the (paper) venue, as the agent's store knows them (refused legs excluded)."""
    orders = client.get("/trades", headers=headers, params={"limit": 1000}).json()["orders"]
    return sum(1 for o in orders if o["status"] != "rejected")


def test_pause_observe_resume_kill_through_the_gateway(tmp_path: Path) -> None:
    region = Region(tmp_path, 2, ("order_book", "cpmm"))
    try:
        operated = next(v for v in region.venues if v.startswith("order_book"))
        # The gateway serves with the agent's own certificate: give it a server name.
        server_bundle = region.ca.issue(
            SpiffeId.agent(REGION, operated), dns_names=["localhost"], ip_addresses=["127.0.0.1"]
        )
        write_bundle(tmp_path / operated, server_bundle)
        secret_file = tmp_path / "gateway.secret"
        issuer = TokenIssuer(load_or_create_secret(secret_file))
        trade = {"Authorization": f"Bearer {issuer.issue('alice', Scope.TRADE)}"}
        admin = {"Authorization": f"Bearer {issuer.issue('root', Scope.ADMIN)}"}
        port = free_port()
        region.coordinator(port, "--sessions", "0", "--interval", "0.2", "--no-progress")
        common = ("--paper-latency-ms", "50", "--prediction-error-pct", "1000000", "--events", "none")
        gateway = ("--gateway-port", "0", "--gateway-secret-file", str(secret_file))
        watched = Watched(region.agent(operated, port, 0, *common, *gateway))
        for venue in region.venues:
            if venue != operated:
                region.agent(venue, port, 0, *common)
        url = watched.wait(lambda: [e["url"] for e in watched.since(0, "gateway")])[0]
        tls = ssl.create_default_context(cafile=str(tmp_path / operated / "ca.pem"))
        with httpx.Client(base_url=url, verify=tls, timeout=10) as client:
            watched.wait(lambda: sent_orders(client, trade) >= 2)

            assert client.post("/controls/pause", headers=trade).json()["mode"] == "paused"
            time.sleep(1.0)  # a plan committed just before the pause is refused at the venue's gate
            before = sent_orders(client, trade)
            t_paused = time.monotonic()
            time.sleep(2.0)  # several sessions (0.2 s apart)
            assert sent_orders(client, trade) == before
            assert not [p for p in watched.since(t_paused, "plan") if p["legs"]]

            assert client.post("/controls/resume", headers=trade).json()["mode"] == "active"
            watched.wait(lambda: sent_orders(client, trade) > before)

            assert client.post("/controls/observe-only", headers=trade).json()["mode"] == "observe_only"
            time.sleep(1.0)
            before = sent_orders(client, trade)
            t_observing = time.monotonic()
            shown = watched.wait(lambda: [w for w in watched.since(t_observing, "would_trade") if w["legs"]])
            assert shown[0]["mode"] == "observe_only"
            assert sent_orders(client, trade) == before  # shown, not sent
            assert client.get("/status", headers=trade).json()["would_trade"]["legs"]

            assert client.post("/controls/kill", headers=trade).status_code == 403
            killed = client.post("/controls/kill", headers=admin).json()
            assert killed["mode"] == "killed"
            time.sleep(1.0)
            before = sent_orders(client, trade)
            time.sleep(1.5)
            assert sent_orders(client, trade) == before
            assert client.get("/risk", headers=trade).json()["mode"] == "killed"

        recorded = [(e["action"], e["actor"]) for e in watched.since(0, "control")]
        assert recorded == [
            ("pause", "alice"),
            ("resume", "alice"),
            ("observe-only", "alice"),
            ("kill", "root"),
        ]
    finally:
        region.close()
