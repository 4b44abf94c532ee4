"""Agent-signed records (privacy spends, control actions): checked by the coordinator and by auditors."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from coordinator.agent_records import AgentRecords
from coordinator.audit import LedgerAudit
from coordinator.grpc_server import Connection, Hub
from energibridge.protocol.venue import VenueInfo
from energibridge.secagg import KeyAgreementError
from energibridge.v1 import coordinator_pb2 as cpb
from energibridge.v1 import ir_pb2
from registry.identity.did_key import did_key_from_public_key
from registry.ledger import Ed25519Signer, Ledger, NoteSigner
from registry.pki import DevCertificateAuthority
from registry.pki.agent_records import RecordError, canonical_json, record_fields, sign_record
from registry.pki.announcements import bind_identity, verify_agent_entry

REGION = "records.test"

SPEND = {
    "kind": "PRIVACY_SPEND",
    "agent_id": "alice",
    "window_start_unix_ms": 1_700_000_000_000,
    "window_seconds": 86_400,
    "sequence": 1,
    "at_unix_ms": 1_700_000_000_500,
    "mechanism": "gaussian",
    "dimension": 4,
    "l2_sensitivity": 1.0,
    "noise_scale": 2.5,
    "rho_requested": 0.01,
    "rho_charged": 0.01,
    "spent_zcdp_rho": 0.01,
    "budget_zcdp_rho": 0.5,
    "delta": 1e-6,
    "opendp_version": "0.12.0",
}
CONTROL = {
    "action": "pause",
    "actor": "alice@ops",
    "venue": "alice",
    "ok": True,
    "mode": "paused",
    "ts_ms": 1,
}


@pytest.fixture
def setting(tmp_path: Path) -> tuple[Hub, Ledger, LedgerAudit, DevCertificateAuthority]:
    ca = DevCertificateAuthority.ephemeral(REGION)
    hub = Hub()
    hub.trust = (ca.ca_pem, REGION)
    ledger = Ledger.open(f"sqlite:///{tmp_path / 'l.sqlite'}", NoteSigner.generate("records.log"))
    return hub, ledger, LedgerAudit(ledger, Ed25519Signer.generate()), ca


def signed(ca: DevCertificateAuthority, venue: str, kind: int, body: dict[str, object]) -> cpb.AgentRecord:
    identity = Ed25519PrivateKey.generate()
    certificate, binding = bind_identity(ca.issue_agent(venue), identity)
    return sign_record(
        venue, kind, canonical_json(body), identity=identity, certificate=certificate, binding=binding
    )


def test_signed_records_reach_the_ledger_and_verify_without_the_coordinator(
    setting: tuple[Hub, Ledger, LedgerAudit, DevCertificateAuthority],
) -> None:
    hub, ledger, audit, ca = setting
    records = AgentRecords(hub, audit)
    hub.records.put(("alice", signed(ca, "alice", ir_pb2.AUDIT_KIND_PRIVACY_SPEND, SPEND)))
    hub.records.put(("alice", signed(ca, "alice", ir_pb2.AUDIT_KIND_CONTROL, CONTROL)))
    assert records.drain() == 2
    audit.flush()
    spend = json.loads(ledger.query(kind="PRIVACY_SPEND")[0].payload)
    control = json.loads(ledger.query(kind="CONTROL")[0].payload)
    assert spend["spent_zcdp_rho"] == 0.01 and spend["subject"] == "alice"
    assert (control["actor"], control["action"], control["venue"], control["ok"]) == (
        "alice@ops",
        "pause",
        "alice",
        True,
    )
    assert verify_agent_entry(spend) and verify_agent_entry(control)
    assert not verify_agent_entry({**control, "actor": "mallory"})
    assert not verify_agent_entry({**spend, "rho_charged": 0.001})
    assert not verify_agent_entry({**control, "subject": "bob"})
    ledger.close()


def test_a_record_signed_for_another_venue_or_by_another_key_is_refused(
    setting: tuple[Hub, Ledger, LedgerAudit, DevCertificateAuthority],
) -> None:
    hub, ledger, audit, ca = setting
    records = AgentRecords(hub, audit)
    # bob's stream sends a record signed by a key bound to alice's SVID: refused.
    identity = Ed25519PrivateKey.generate()
    certificate, binding = bind_identity(ca.issue_agent("alice"), identity)
    impostor = sign_record(
        "bob",
        ir_pb2.AUDIT_KIND_CONTROL,
        canonical_json({**CONTROL, "venue": "bob"}),
        identity=identity,
        certificate=certificate,
        binding=binding,
    )
    hub.records.put(("bob", impostor))
    alice = signed(ca, "alice", ir_pb2.AUDIT_KIND_CONTROL, CONTROL)
    # A body changed after signing: refused.
    tampered = cpb.AgentRecord()
    tampered.CopyFrom(alice)
    tampered.body = canonical_json({**CONTROL, "actor": "mallory"})
    hub.records.put(("alice", tampered))
    assert records.drain() == 0
    assert records.refused == 2
    refusals = list(hub.refused)
    assert "bob: REFUSED: AgentRecord.certificate: names spiffe://records.test/agent/alice" in refusals[0]
    assert "AgentRecord.signature: not by the identity key it carries" in refusals[1]
    audit.flush()
    assert not ledger.query(kind="CONTROL")
    ledger.close()


@pytest.mark.parametrize(
    ("kind", "body", "field"),
    [
        (ir_pb2.AUDIT_KIND_CONTROL, {**CONTROL, "venue": "bob"}, "AgentRecord.body.venue"),
        (ir_pb2.AUDIT_KIND_CONTROL, {**CONTROL, "action": "drop-tables"}, "AgentRecord.body.action"),
        (ir_pb2.AUDIT_KIND_CONTROL, {**CONTROL, "ok": "yes"}, "AgentRecord.body.ok"),
        (ir_pb2.AUDIT_KIND_CONTROL, {**CONTROL, "positions": {"SOL": "3"}}, "AgentRecord.body"),
        (ir_pb2.AUDIT_KIND_PRIVACY_SPEND, {**SPEND, "delta": 2.0}, "AgentRecord.body.delta"),
        (ir_pb2.AUDIT_KIND_PRIVACY_SPEND, {**SPEND, "noise_scale": -1}, "AgentRecord.body.noise_scale"),
        (ir_pb2.AUDIT_KIND_PRIVACY_SPEND, {**SPEND, "agent_id": "bob"}, "AgentRecord.body.agent_id"),
        (ir_pb2.AUDIT_KIND_JOIN, CONTROL, "AgentRecord.kind"),
    ],
)
def test_off_schema_records_are_refused_naming_the_field(
    kind: int, body: dict[str, object], field: str
) -> None:
    record = cpb.AgentRecord(venue_id="alice", kind=kind, body=canonical_json(body))  # type: ignore[arg-type]
    with pytest.raises(RecordError, match=field):
        record_fields("alice", record)


def test_bodies_must_be_canonical_json() -> None:
    body = json.dumps(CONTROL, indent=1).encode()
    record = cpb.AgentRecord(venue_id="alice", kind=ir_pb2.AUDIT_KIND_CONTROL, body=body)
    with pytest.raises(RecordError, match="canonical JSON"):
        record_fields("alice", record)


def test_a_record_signed_by_another_identity_than_the_joined_one_is_refused(
    setting: tuple[Hub, Ledger, LedgerAudit, DevCertificateAuthority],
) -> None:
    hub, ledger, audit, ca = setting
    joined = Ed25519PrivateKey.generate()
    info = VenueInfo("alice", {"SOL": Decimal("0.1")}, {"SOL": 100.0}, 1000)
    hub.register(Connection("alice", info, 0, agent_did=did_key_from_public_key(joined.public_key())))
    records = AgentRecords(hub, audit)
    hub.records.put(("alice", signed(ca, "alice", ir_pb2.AUDIT_KIND_CONTROL, CONTROL)))  # another key
    assert records.drain() == 0
    assert "is not the identity alice joined with" in hub.refused[-1]
    certificate, binding = bind_identity(ca.issue_agent("alice"), joined)
    body = canonical_json(CONTROL)
    own = sign_record(
        "alice", ir_pb2.AUDIT_KIND_CONTROL, body, identity=joined, certificate=certificate, binding=binding
    )
    hub.records.put(("alice", own))
    assert records.drain() == 1
    ledger.close()


@pytest.mark.parametrize("where", ["SessionKey", "ExecutionReport"])
def test_session_keys_and_reports_must_come_from_the_joined_identity(
    setting: tuple[Hub, Ledger, LedgerAudit, DevCertificateAuthority], where: str
) -> None:
    """A key the region CA bound to the venue is not enough: it must be the did:key the agent joined with
    (a stolen SVID used with a fresh identity key is refused on every path, not only on records)."""
    hub, ledger, _, ca = setting
    joined, other = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    info = VenueInfo("alice", {"SOL": Decimal("0.1")}, {"SOL": 100.0}, 1000)
    hub.register(Connection("alice", info, 0, agent_did=did_key_from_public_key(joined.public_key())))
    certificate, binding = bind_identity(ca.issue_agent("alice"), other)
    raw = other.public_key().public_bytes_raw()
    with pytest.raises(KeyAgreementError, match=f"{where}.identity_key: .* is not the identity"):
        hub.verify_member("alice", raw, certificate, binding, where=where)
    certificate, binding = bind_identity(ca.issue_agent("alice"), joined)
    hub.verify_member("alice", joined.public_key().public_bytes_raw(), certificate, binding, where=where)
    ledger.close()
