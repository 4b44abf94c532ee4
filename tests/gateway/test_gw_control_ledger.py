"""End to end: an operator's control action through the agent's gateway lands on the region's ledger,
signed by the agent, with its actor."""

from __future__ import annotations

import json
import ssl
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from agents.controls import Scope
from agents.gateway.tokens import TokenIssuer, load_or_create_secret
from registry.ledger import Ledger
from registry.pki import SpiffeId, write_bundle
from registry.pki.announcements import verify_agent_entry
from tests.federation.test_fed_processes import REGION, Region, free_port
from tests.gateway.test_gw_processes import Watched

pytestmark = pytest.mark.slow


def controls_on_ledger(tmp: Path) -> list[dict[str, Any]]:
    with Ledger.open(f"sqlite:///{tmp / 'ledger.sqlite'}") as ledger:
        return [json.loads(e.payload) for e in ledger.query(kind="CONTROL")]


def test_control_actions_are_agent_signed_ledger_entries(tmp_path: Path) -> None:
    region = Region(tmp_path, 2, ("order_book", "cpmm"))
    try:
        operated = next(v for v in region.venues if v.startswith("order_book"))
        server_bundle = region.ca.issue(
            SpiffeId.agent(REGION, operated), dns_names=["localhost"], ip_addresses=["127.0.0.1"]
        )
        write_bundle(tmp_path / operated, server_bundle)
        secret_file = tmp_path / "gateway.secret"
        issuer = TokenIssuer(load_or_create_secret(secret_file))
        trade = {"Authorization": f"Bearer {issuer.issue('alice', Scope.TRADE)}"}
        port = free_port()
        region.coordinator(port, "--sessions", "0", "--interval", "0.2", "--no-progress")
        common = ("--paper-latency-ms", "50", "--events", "none")
        gateway = ("--gateway-port", "0", "--gateway-secret-file", str(secret_file))
        watched = Watched(region.agent(operated, port, 0, *common, *gateway))
        for venue in region.venues:
            if venue != operated:
                region.agent(venue, port, 0, *common)
        url = watched.wait(lambda: [e["url"] for e in watched.since(0, "gateway")])[0]
        watched.wait(lambda: watched.since(0, "plan"))  # joined: the stream is up
        tls = ssl.create_default_context(cafile=str(tmp_path / operated / "ca.pem"))
        with httpx.Client(base_url=url, verify=tls, timeout=10) as client:
            assert client.post("/controls/pause", headers=trade).json()["mode"] == "paused"
            assert client.post("/controls/resume", headers=trade).json()["mode"] == "active"

        deadline = time.monotonic() + 30
        entries: list[dict[str, Any]] = []
        while time.monotonic() < deadline and len(entries) < 2:
            entries = controls_on_ledger(tmp_path)
            time.sleep(0.2)
        assert [(e["action"], e["actor"], e["venue"], e["ok"], e["mode"]) for e in entries] == [
            ("pause", "alice", operated, True, "paused"),
            ("resume", "alice", operated, True, "active"),
        ]
        for entry in entries:
            assert entry["subject"] == operated and isinstance(entry["ts_ms"], int)
            assert verify_agent_entry(entry)
        assert not verify_agent_entry({**entries[0], "actor": "mallory"})
    finally:
        region.close()
