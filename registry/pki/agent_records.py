"""Agent-signed ledger records: privacy spends and operator control actions, checked before they are appended.

An agent sends an ``AgentRecord`` (IR 1.2): the record's kind, its body as canonical JSON, the agent's
Ed25519 identity-key signature over the message with its proof fields cleared (``record_message``), and
the proof binding that key to the venue's SVID (the same proof as session keys and execution reports,
``registry.pki.announcements``). The coordinator validates the body against the kind's schema
(``record_fields``: every field named, typed and bounded; nothing private is accepted), checks the proof,
and appends the fields together with the signed bytes. An auditor re-checks such an entry without
trusting the coordinator (``verify_record_entry``): a coordinator that changed any field, or wrote a
record the agent never sent, fails it.

What a record may hold is fixed here, not by the agent: a privacy spend carries only the mechanism's
public parameters and the accounting (``agents.privacy.records.PrivacySpendRecord``); a control record
carries who did what to which venue, whether it was applied, the resulting mode and when, never the
positions an emergency hedge handed over.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Callable, Mapping
from typing import Any, Final, Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from energibridge.secagg.keys import DOMAIN
from energibridge.v1 import coordinator_pb2 as cpb
from energibridge.v1 import ir_pb2
from registry.pki.announcements import identity_public_bytes, verify_signature

MAX_BODY_BYTES: Final = 4096
MAX_TEXT: Final = 256
MAX_UNIX_MS: Final = 32503680000000  # year 3000
MAX_COUNT: Final = 2**32 - 1

RECORD_PROOF_FIELDS: tuple[Literal["signature", "identity_key", "certificate", "identity_binding"], ...] = (
    "signature",
    "identity_key",
    "certificate",
    "identity_binding",
)
"""The AgentRecord fields that carry its signature and identity proof (left out of what is signed)."""

EVENTS: Mapping[int, str] = {
    ir_pb2.AUDIT_KIND_PRIVACY_SPEND: "privacy_spend",
    ir_pb2.AUDIT_KIND_CONTROL: "control",
}
"""The audit event an AgentRecord of each kind becomes (``coordinator.audit.KINDS``)."""

CONTROL_ACTIONS: Final = frozenset(
    {"pause", "resume", "observe-only", "observe-off", "kill", "reset-kill", "cancel-all", "emergency-hedge"}
)
CONTROL_MODES: Final = frozenset({"active", "paused", "observe_only", "killed"})


class RecordError(ValueError):
    """An agent record is malformed, off-schema or not signed by its identity key (the message names the
    field)."""


def canonical_json(body: Mapping[str, object]) -> bytes:
    """Sorted keys, no whitespace, UTF-8: the one byte string of a record body."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def unsigned_record(record: cpb.AgentRecord) -> bytes:
    """The record serialized deterministically without its proof fields (what is signed and kept)."""
    unsigned = cpb.AgentRecord()
    unsigned.CopyFrom(record)
    for name in RECORD_PROOF_FIELDS:
        unsigned.ClearField(name)
    return unsigned.SerializeToString(deterministic=True)


def record_message(unsigned: bytes) -> bytes:
    """What an agent signs for a record: domain-separated from session keys, acks and reports."""
    return DOMAIN + b"/record" + unsigned


def sign_record(
    venue_id: str,
    kind: int,
    body: bytes,
    *,
    identity: Ed25519PrivateKey,
    certificate: bytes,
    binding: bytes,
) -> cpb.AgentRecord:
    """The agent's side: an AgentRecord signed by ``identity`` with the proof of that key."""
    record = cpb.AgentRecord(venue_id=venue_id, kind=ir_pb2.AuditKind.ValueType(kind), body=body)
    record.signature = identity.sign(record_message(unsigned_record(record)))
    record.identity_key = identity_public_bytes(identity)
    record.certificate = certificate
    record.identity_binding = binding
    return record


def _text(body: Mapping[str, Any], key: str, where: str, *, limit: int = MAX_TEXT) -> str:
    value = body[key]
    if not isinstance(value, str) or not 0 < len(value) <= limit or not value.isprintable():
        raise RecordError(f"{where}.{key}: expected 1..{limit} printable characters, got {value!r:.80}")
    return value


def _int(body: Mapping[str, Any], key: str, where: str, low: int, high: int) -> int:
    value = body[key]
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise RecordError(f"{where}.{key}: expected an integer in [{low}, {high}], got {value!r:.80}")
    return value


def _float(
    body: Mapping[str, Any], key: str, where: str, *, positive: bool, below: float = math.inf
) -> float:
    value = body[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise RecordError(f"{where}.{key}: expected a finite number, got {value!r:.80}")
    if (value <= 0 if positive else value < 0) or value >= below:
        bound = "> 0" if positive else ">= 0"
        raise RecordError(f"{where}.{key}: expected {bound} and < {below}, got {value!r}")
    return float(value)


PRIVACY_FIELDS: Final = frozenset(
    {
        "kind",
        "agent_id",
        "window_start_unix_ms",
        "window_seconds",
        "sequence",
        "at_unix_ms",
        "mechanism",
        "dimension",
        "l2_sensitivity",
        "noise_scale",
        "rho_requested",
        "rho_charged",
        "spent_zcdp_rho",
        "budget_zcdp_rho",
        "delta",
        "opendp_version",
    }
)
CONTROL_FIELDS: Final = frozenset({"action", "actor", "venue", "ok", "mode", "ts_ms"})


def _privacy_spend(venue_id: str, body: Mapping[str, Any]) -> dict[str, object]:
    where = "AgentRecord.body"
    if body.get("kind") != "PRIVACY_SPEND":
        raise RecordError(f"{where}.kind: expected 'PRIVACY_SPEND', got {body.get('kind')!r:.80}")
    if _text(body, "agent_id", where) != venue_id:
        raise RecordError(f"{where}.agent_id: expected {venue_id!r} (the stream's identity)")
    if body["mechanism"] != "gaussian":
        raise RecordError(f"{where}.mechanism: expected 'gaussian', got {body['mechanism']!r:.80}")
    out: dict[str, object] = {"agent_id": venue_id, "mechanism": "gaussian"}
    out["window_start_unix_ms"] = _int(body, "window_start_unix_ms", where, 0, MAX_UNIX_MS)
    out["window_seconds"] = _int(body, "window_seconds", where, 1, MAX_COUNT)
    out["sequence"] = _int(body, "sequence", where, 1, MAX_COUNT)
    out["at_unix_ms"] = _int(body, "at_unix_ms", where, 0, MAX_UNIX_MS)
    out["dimension"] = _int(body, "dimension", where, 1, 1 << 20)
    for key in ("l2_sensitivity", "noise_scale", "rho_requested", "rho_charged", "budget_zcdp_rho"):
        out[key] = _float(body, key, where, positive=True)
    out["spent_zcdp_rho"] = _float(body, "spent_zcdp_rho", where, positive=False)
    out["delta"] = _float(body, "delta", where, positive=True, below=1.0)
    out["opendp_version"] = _text(body, "opendp_version", where, limit=64)
    return out


def _control(venue_id: str, body: Mapping[str, Any]) -> dict[str, object]:
    where = "AgentRecord.body"
    if _text(body, "venue", where) != venue_id:
        raise RecordError(f"{where}.venue: expected {venue_id!r} (the stream's identity)")
    action = _text(body, "action", where, limit=32)
    if action not in CONTROL_ACTIONS:
        raise RecordError(f"{where}.action: expected one of {sorted(CONTROL_ACTIONS)}, got {action!r}")
    mode = _text(body, "mode", where, limit=32)
    if mode not in CONTROL_MODES:
        raise RecordError(f"{where}.mode: expected one of {sorted(CONTROL_MODES)}, got {mode!r}")
    if not isinstance(body["ok"], bool):
        raise RecordError(f"{where}.ok: expected true or false, got {body['ok']!r:.80}")
    return {
        "venue": venue_id,
        "action": action,
        "actor": _text(body, "actor", where, limit=128),
        "ok": body["ok"],
        "mode": mode,
        "ts_ms": _int(body, "ts_ms", where, 0, MAX_UNIX_MS),
    }


_SCHEMAS: Mapping[int, tuple[frozenset[str], Callable[[str, Mapping[str, Any]], dict[str, object]]]] = {
    ir_pb2.AUDIT_KIND_PRIVACY_SPEND: (PRIVACY_FIELDS, _privacy_spend),
    ir_pb2.AUDIT_KIND_CONTROL: (CONTROL_FIELDS, _control),
}


def record_fields(venue_id: str, record: cpb.AgentRecord) -> tuple[str, dict[str, object]]:
    """Validate ``record`` from the stream of ``venue_id``; ``(audit event, fields)`` (raises
    ``RecordError`` naming the field). The signature is not checked here (``check_signature``)."""
    if record.venue_id != venue_id:
        raise RecordError(
            f"AgentRecord.venue_id: expected {venue_id!r} (the stream's identity), "
            f"got {record.venue_id!r:.80}"
        )
    schema = _SCHEMAS.get(int(record.kind))
    if schema is None:
        allowed = sorted(ir_pb2.AuditKind.Name(k) for k in _SCHEMAS)  # type: ignore[arg-type]
        raise RecordError(f"AgentRecord.kind: expected one of {allowed}, got {int(record.kind)}")
    if not 0 < len(record.body) <= MAX_BODY_BYTES:
        raise RecordError(f"AgentRecord.body: expected 1..{MAX_BODY_BYTES} bytes, got {len(record.body)}")
    try:
        body = json.loads(record.body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise RecordError("AgentRecord.body: expected a UTF-8 JSON object") from None
    if not isinstance(body, dict):
        raise RecordError(f"AgentRecord.body: expected a JSON object, got {type(body).__name__}")
    if canonical_json(body) != bytes(record.body):
        raise RecordError("AgentRecord.body: expected canonical JSON (sorted keys, no whitespace)")
    expected, parse = schema
    if set(body) != expected:
        missing, extra = sorted(expected - set(body)), sorted(set(body) - expected)
        raise RecordError(f"AgentRecord.body: fields missing {missing}, unexpected {extra}")
    return EVENTS[int(record.kind)], parse(venue_id, body)


def check_signature(record: cpb.AgentRecord) -> dict[str, object]:
    """The record's signature by the identity key it carries (the caller checks that key's binding);
    returns the fields an auditor re-checks on the ledger."""
    signed = unsigned_record(record)
    if not verify_signature(record.identity_key, record.signature, record_message(signed)):
        raise RecordError("AgentRecord.signature: not by the identity key it carries")
    return {
        "agent_identity_key": bytes(record.identity_key).hex(),
        "agent_signature": bytes(record.signature).hex(),
        "agent_signed": base64.b64encode(signed).decode(),
    }


def verify_record_entry(payload: Mapping[str, object]) -> bool:
    """An auditor's check of a ``privacy_spend`` or ``control`` ledger entry: the agent signed exactly the
    fields the entry states (no certificate needed; the coordinator checked the key's binding)."""
    try:
        identity = bytes.fromhex(str(payload["agent_identity_key"]))
        signature = bytes.fromhex(str(payload["agent_signature"]))
        signed = base64.b64decode(str(payload["agent_signed"]), validate=True)
        record = cpb.AgentRecord.FromString(signed)
        if record.venue_id != payload.get("subject"):
            return False
        event, fields = record_fields(str(payload["subject"]), record)
        if event != payload.get("event"):
            return False
        if any(payload.get(key) != value for key, value in fields.items()):
            return False
        return verify_signature(identity, signature, record_message(signed))
    except (KeyError, ValueError, TypeError):
        return False
