"""End to end, as processes: the registry is consulted at join, and what agents cause reaches the ledger.

A coordinator started with ``--registry`` refuses an agent whose adapter version is not registered, or does
not speak the region's IR, with FAILED_PRECONDITION and the registry's violations; the agent says why and
exits (no reconnect loop). With a registered adapter, a credential from ``registry issue-credential`` and
differential privacy on, a session's JOIN entries carry the negotiated IR version and each agent's
privacy spends are on the ledger, signed by the agent.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from arbsphere.cli import app
from energibridge.version import CURRENT
from registry.contracts import ContractStore, ir_descriptor_set
from registry.identity.did_key import did_key_from_public_key
from registry.ledger import Ledger
from registry.ledger.entry import kind_name
from registry.pki.announcements import verify_agent_entry
from tests.federation.test_fed_processes import REGION, Region, events, free_port

pytestmark = pytest.mark.slow


def descriptor_set(tmp: Path) -> Path:
    path = tmp / "ir.pb"
    path.write_bytes(ir_descriptor_set())
    return path


def registry_with(tmp: Path, ir_range: str | None) -> Path:
    """A registry database holding the synthetic venues' adapter (``synthetic-market 0.1.0``), or none."""
    db = tmp / "registry.db"
    ContractStore.open(f"sqlite:///{db}").close()
    if ir_range is not None:
        manifest = {
            "name": "synthetic-market",
            "version": "0.1.0",
            "venue_kind": "order_book",
            "capabilities": ["books"],
            "ir_range": ir_range,
        }
        (tmp / "adapter.json").write_text(json.dumps(manifest))
        result = CliRunner().invoke(
            app,
            [
                "registry",
                "--db",
                f"sqlite:///{db}",
                "--verdict-log",
                str(tmp / "verdicts.jsonl"),
                "register",
                "--manifest",
                str(tmp / "adapter.json"),
                "--descriptor-set",
                str(descriptor_set(tmp)),
            ],
        )
        assert result.exit_code == 0, result.output
    return db


def ledger_payloads(tmp: Path, kind: str) -> list[dict[str, Any]]:
    with Ledger.open(f"sqlite:///{tmp / 'ledger.sqlite'}") as ledger:
        return [json.loads(e.payload) for e in ledger.query(kind=kind, limit=10_000)]


def wait_for(found: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = found()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out")


def refused_join(region: Region, port: int, venue: str) -> dict[str, Any]:
    """Run one agent against the coordinator; it must stop on its own, saying why."""
    agent = region.agent(venue, port, 1, "--events", "none")
    try:
        refused = [e for e in events(agent) if e["event"] == "join_refused"]
        assert agent.wait(timeout=30) == 3
    except subprocess.TimeoutExpired:  # pragma: no cover - the failure this test exists for
        agent.kill()
        raise AssertionError("the refused agent kept running") from None
    assert len(refused) == 1
    return refused[0]


def test_unregistered_and_incompatible_adapters_are_refused_at_join(tmp_path: Path) -> None:
    region = Region(tmp_path, 2, ("order_book", "order_book"))
    try:
        db = registry_with(tmp_path, None)
        port = free_port()
        coordinator = region.coordinator(port, "--sessions", "0", "--registry", str(db), "--no-progress")
        listening = next(e for e in events(coordinator) if e["event"] == "listening")
        assert listening["registry"]["adapters"] == 0
        assert listening["ir_version"] == str(CURRENT)

        started = time.monotonic()
        refused = refused_join(region, port, region.venues[0])
        assert time.monotonic() - started < 30
        assert "[ADAPTER_NOT_REGISTERED]" in refused["reason"]
        assert "synthetic-market 0.1.0 is not registered" in refused["reason"]

        # Registered, but only for IR versions below the region's: refused with the IR violation.
        manifest = {
            "name": "synthetic-market",
            "version": "0.1.0",
            "venue_kind": "order_book",
            "capabilities": ["books"],
            "ir_range": f">=1.0,<{CURRENT.major}.{CURRENT.minor}",
        }
        (tmp_path / "old.json").write_text(json.dumps(manifest))
        result = CliRunner().invoke(
            app,
            [
                "registry",
                "--db",
                f"sqlite:///{db}",
                "--verdict-log",
                str(tmp_path / "v.jsonl"),
                "register",
                "--manifest",
                str(tmp_path / "old.json"),
                "--descriptor-set",
                str(descriptor_set(tmp_path)),
            ],
        )
        assert result.exit_code == 0, result.output
        refused = refused_join(region, port, region.venues[1])
        assert "[IR_INCOMPATIBLE]" in refused["reason"]
        assert f"the region speaks {CURRENT}" in refused["reason"]

        wait_for(lambda: len(ledger_payloads(tmp_path, "REGISTRY_VERDICT")) >= 2)
        verdicts = ledger_payloads(tmp_path, "REGISTRY_VERDICT")
        assert [(v["subject"], v["accepted"]) for v in verdicts] == [
            (region.venues[0], False),
            (region.venues[1], False),
        ]
        assert verdicts[0]["violations"][0]["rule"] == "ADAPTER_NOT_REGISTERED"
        assert verdicts[1]["violations"][0]["rule"] == "IR_INCOMPATIBLE"
        assert not ledger_payloads(tmp_path, "JOIN")
    finally:
        region.close()


def test_registered_agents_join_with_credentials_and_their_privacy_spends_are_signed(tmp_path: Path) -> None:
    region = Region(tmp_path, 2, ("order_book", "order_book"))
    try:
        db = registry_with(tmp_path, ">=1.0,<2.0")
        issuer_key = tmp_path / "registry-signer.key"
        issuer = ""
        for venue in region.venues:
            result = CliRunner().invoke(
                app,
                [
                    "registry",
                    "--db",
                    f"sqlite:///{db}",
                    "--signer-key-file",
                    str(issuer_key),
                    "issue-credential",
                    "--venue",
                    venue,
                    "--region",
                    REGION,
                    "--adapter",
                    "synthetic-market",
                    "--adapter-version",
                    "0.1.0",
                    "--agent-state-dir",
                    str(tmp_path / f"state-{venue}"),
                    "--out",
                    str(tmp_path / venue / "credential.jwt"),
                ],
            )
            assert result.exit_code == 0, result.output
            issuer = json.loads(result.stdout)["issuer"]
        port = free_port()
        coordinator = region.coordinator(
            port, "--sessions", "2", "--registry", str(db), "--trusted-issuer", issuer, "--no-progress"
        )
        agents = [
            region.agent(
                venue,
                port,
                2,
                "--events",
                "none",
                "--state-dir",
                str(tmp_path / f"state-{venue}"),
                "--credential-file",
                str(tmp_path / venue / "credential.jwt"),
                "--dp-epsilon",
                "1.0",
            )
            for venue in region.venues
        ]
        sessions = [e for e in events(coordinator) if e["event"] == "session"]
        assert len(sessions) == 2
        assert coordinator.wait(timeout=30) == 0
        for agent in agents:
            agent.wait(timeout=30)

        joins = ledger_payloads(tmp_path, "JOIN")
        assert sorted(j["subject"] for j in joins) == region.venues
        for join in joins:
            assert join["ir_version"] == str(CURRENT)
            assert (join["adapter"], join["adapter_version"]) == ("synthetic-market", "0.1.0")
            assert join["agent_did"].startswith("did:key:") and join["credential_id"]
        verdicts = ledger_payloads(tmp_path, "REGISTRY_VERDICT")
        assert sorted((v["subject"], v["accepted"]) for v in verdicts) == [(v, True) for v in region.venues]

        spends = ledger_payloads(tmp_path, "PRIVACY_SPEND")
        assert {s["subject"] for s in spends} == set(region.venues)
        for spend in spends:
            assert spend["event"] == "privacy_spend"
            assert spend["agent_id"] == spend["subject"]
            assert verify_agent_entry(spend), spend
        forged = {**spends[0], "spent_zcdp_rho": spends[0]["spent_zcdp_rho"] / 2}
        assert not verify_agent_entry(forged)
        # The spends' signer is the identity the registry's credential was issued to.
        dids = {j["subject"]: j["agent_did"] for j in joins}
        for spend in spends:
            key = bytes.fromhex(spend["agent_identity_key"])
            assert did_key_from_public_key(key) == dids[spend["subject"]]
        with Ledger.open(f"sqlite:///{tmp_path / 'ledger.sqlite'}") as ledger:
            assert {kind_name(e.kind) for e in ledger.query(limit=10_000)} >= {
                "JOIN",
                "REGISTRY_VERDICT",
                "PRIVACY_SPEND",
                "CONFIG_CHANGE",
            }
    finally:
        region.close()
