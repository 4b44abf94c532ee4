"""Authenticated key agreement: session keys that a coordinator can relay but never substitute.

Secure aggregation hides a venue's contribution only if the pairwise masks are agreed with the real peers.
If agents took whatever X25519 directory the coordinator relays, a coordinator could put its own key in
place of a venue's, agree masks with everyone and unmask that venue exactly. So every entry of the directory
carries proof of who announced it, and every agent checks every entry before deriving a single mask:

1. The agent holds an Ed25519 **identity key** (its ``did:key``). Its **binding** ties that key to its
   SPIFFE identity: an ECDSA signature, by the private key of its region-CA-issued X.509-SVID, over
   ``DOMAIN/bind || lp(spiffe uri) || identity public key``. The SVID travels with it (DER).
2. Per session it signs its X25519 public key, bound to the session id and its venue id, with the identity
   key (``energibridge.secagg.keys.announce``).
3. A verifier (every agent; the coordinator too, to refuse a bad entry before it reaches anyone) checks the
   SVID chains to the region CA it already trusts for mTLS and is valid now, that it names an *agent* of
   *this region* called exactly the venue of the entry, the binding, and the announcement signature
   (``verify_announcements``: session id, one entry per venue, no key shared by two venues).

A coordinator holds no agent SVID key, so it can neither forge a binding nor re-sign a key; a replayed
announcement fails on the session id. What it can still do is leave members out (they are then simply not
in the mask set: the remaining members' sum stays masked) or refuse to run the session.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from energibridge.secagg import KeyAgreementError
from energibridge.secagg.keys import DOMAIN, KeyAnnouncement, length_prefixed, verify_announcements
from energibridge.v1 import coordinator_pb2 as cpb
from registry.pki.certificates import CertificateBundle, load_private_key_pem, verify_leaf
from registry.pki.errors import PkiError
from registry.pki.spiffe import WorkloadRole
from registry.pki.store import write_secret_file

MAX_CERTIFICATE_BYTES = 16 * 1024
"""An SVID is well under 2 KiB; anything larger is refused before it is parsed."""


@dataclass(frozen=True, slots=True)
class SignedKey:
    """One directory entry as it travels: the session key and everything that proves who announced it."""

    venue_id: str
    public_key: bytes
    signature: bytes
    identity_key: bytes
    certificate: bytes
    binding: bytes


IDENTITY_FILE = "identity.key"


def load_or_create_identity(path: Path) -> Ed25519PrivateKey:
    """The agent's Ed25519 identity key from ``path`` (PKCS#8 PEM), created 0600 on first use."""
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise KeyAgreementError(f"{path}: expected an Ed25519 private key, got {type(key).__name__}")
        return key
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    write_secret_file(path, pem)
    return key


def binding_payload(spiffe_uri: str, identity_key: bytes) -> bytes:
    return DOMAIN + b"/bind" + length_prefixed(spiffe_uri) + identity_key


def identity_public_bytes(identity: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    public = identity.public_key() if isinstance(identity, Ed25519PrivateKey) else identity
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def bind_identity(bundle: CertificateBundle, identity: Ed25519PrivateKey) -> tuple[bytes, bytes]:
    """``(certificate DER, binding signature)``: the SVID and its key's signature over the identity key."""
    from cryptography import x509

    cert = x509.load_pem_x509_certificate(bundle.cert_pem)
    key = load_private_key_pem(bundle.key_pem)
    payload = binding_payload(bundle.spiffe_id.uri, identity_public_bytes(identity))
    return cert.public_bytes(serialization.Encoding.DER), key.sign(payload, ec.ECDSA(hashes.SHA256()))


def verify_directory(
    session_id: str,
    entries: list[SignedKey],
    *,
    ca_pem: bytes,
    region: str,
    now: datetime,
    cache: IdentityCache | None = None,
) -> dict[str, bytes]:
    """Check every entry (see the module docstring); return ``{venue: X25519 public key}``.

    Raises ``KeyAgreementError`` naming the entry and what failed: the session must then be refused.
    With a ``cache``, an identity proof already verified (same venue, key, SVID and binding, SVID still
    valid) is not re-verified: only each session's announcement signature is.
    """
    verify = cache.verify if cache is not None else verify_identity
    identities: dict[str, Ed25519PublicKey] = {}
    announcements: list[KeyAnnouncement] = []
    for index, entry in enumerate(entries):
        where = f"directory[{index}] ({entry.venue_id!r:.80})"
        if entry.venue_id in identities:
            raise KeyAgreementError(f"{where}: a second entry for {entry.venue_id!r}")
        identities[entry.venue_id] = verify(
            entry.venue_id,
            entry.identity_key,
            entry.certificate,
            entry.binding,
            ca_pem=ca_pem,
            region=region,
            now=now,
            where=where,
        )
        announcements.append(
            KeyAnnouncement(session_id, entry.venue_id, bytes(entry.public_key), bytes(entry.signature))
        )
    return verify_announcements(session_id, announcements, identities)


class IdentityCache:
    """Identity proofs already verified, until their SVID expires (bounded: oldest dropped first)."""

    def __init__(self, limit: int = 4096) -> None:
        self.limit = limit
        self._known: dict[tuple[str, bytes, bytes, bytes, bytes, str], tuple[Ed25519PublicKey, datetime]] = {}

    def verify(
        self,
        venue_id: str,
        identity_key: bytes,
        certificate: bytes,
        binding: bytes,
        *,
        ca_pem: bytes,
        region: str,
        now: datetime,
        where: str = "identity",
    ) -> Ed25519PublicKey:
        from cryptography import x509

        key = (venue_id, bytes(identity_key), bytes(certificate), bytes(binding), ca_pem, region)
        known = self._known.get(key)
        if known is not None and now <= known[1]:
            return known[0]
        public = verify_identity(
            venue_id, identity_key, certificate, binding, ca_pem=ca_pem, region=region, now=now, where=where
        )
        not_after = x509.load_der_x509_certificate(bytes(certificate)).not_valid_after_utc
        if len(self._known) >= self.limit:
            self._known.pop(next(iter(self._known)))
        self._known[key] = (public, not_after)
        return public


def verify_identity(
    venue_id: str,
    identity_key: bytes,
    certificate: bytes,
    binding: bytes,
    *,
    ca_pem: bytes,
    region: str,
    now: datetime,
    where: str = "identity",
) -> Ed25519PublicKey:
    """The identity key of ``venue_id``, once its SVID chains to the region CA, names an agent of this
    region called ``venue_id``, and binds the key (raises ``KeyAgreementError`` naming what failed)."""
    from cryptography import x509

    if len(certificate) > MAX_CERTIFICATE_BYTES:
        raise KeyAgreementError(f"{where}.certificate: more than {MAX_CERTIFICATE_BYTES} bytes")
    try:
        cert = x509.load_der_x509_certificate(bytes(certificate))
        pem = cert.public_bytes(serialization.Encoding.PEM)
        spiffe = verify_leaf(pem, ca_pem, now=now, field=f"{where}.certificate")
    except PkiError as exc:  # already names the field
        raise KeyAgreementError(str(exc)) from exc
    except ValueError as exc:
        raise KeyAgreementError(f"{where}.certificate: {exc}") from exc
    if spiffe.role is not WorkloadRole.AGENT or spiffe.region != region or spiffe.name != venue_id:
        raise KeyAgreementError(
            f"{where}.certificate: names {spiffe.uri}, expected an agent of region {region!r} called "
            f"{venue_id!r}"
        )
    if len(identity_key) != 32:
        raise KeyAgreementError(f"{where}.identity_key: expected 32 bytes, got {len(identity_key)}")
    public = cert.public_key()
    if not isinstance(public, ec.EllipticCurvePublicKey):
        raise KeyAgreementError(f"{where}.certificate: expected an EC key, got {type(public).__name__}")
    try:
        public.verify(
            bytes(binding), binding_payload(spiffe.uri, bytes(identity_key)), ec.ECDSA(hashes.SHA256())
        )
    except InvalidSignature as exc:
        raise KeyAgreementError(
            f"{where}.binding: not signed by {spiffe.uri}'s certificate key over its identity key"
        ) from exc
    return Ed25519PublicKey.from_public_bytes(bytes(identity_key))


def ack_message(
    session_id: str, venue_id: str, sequence: int, state_hash: bytes, plan_digest: bytes
) -> bytes:
    """What an agent signs when it acknowledges a plan (an auditor recomputes it from the ledger entry)."""
    return (
        DOMAIN
        + b"/ack"
        + length_prefixed(session_id)
        + length_prefixed(venue_id)
        + sequence.to_bytes(8, "big")
        + bytes(state_hash)
        + bytes(plan_digest)
    )


REPORT_PROOF_FIELDS: tuple[Literal["signature", "identity_key", "certificate", "identity_binding"], ...] = (
    "signature",
    "identity_key",
    "certificate",
    "identity_binding",
)
"""The ExecutionReport fields that carry its signature and identity proof (left out of what is signed)."""


def unsigned_report(report: cpb.ExecutionReport) -> bytes:
    """The report serialized deterministically without its proof fields: what ``report_message`` wraps
    for the agent to sign and the coordinator to check (and the ledger keeps for auditors)."""
    unsigned = cpb.ExecutionReport()
    unsigned.CopyFrom(report)
    for name in REPORT_PROOF_FIELDS:
        unsigned.ClearField(name)
    return unsigned.SerializeToString(deterministic=True)


def report_message(unsigned: bytes) -> bytes:
    """What an agent signs for an execution report: the report serialized deterministically with its
    signature and proof fields cleared (the ledger keeps those bytes so an auditor can check them)."""
    return DOMAIN + b"/report" + unsigned


def verify_signature(identity_key: bytes, signature: bytes, message: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(bytes(identity_key)).verify(bytes(signature), message)
    except (InvalidSignature, ValueError):
        return False
    return True


def verify_agent_entry(payload: Mapping[str, object]) -> bool:
    """An auditor's check of an agent-originated ledger entry (``plan_committed``, ``execution_report``,
    ``privacy_spend`` or ``control``): the agent's signature over exactly what the entry says.

    The coordinator checked, when it recorded the entry, that ``agent_identity_key`` is bound to the
    venue's SVID; this check needs no certificate: a coordinator that changed any signed field, or wrote
    an entry the agent never sent, fails it."""
    import base64

    if payload.get("event") in ("privacy_spend", "control"):
        from registry.pki.agent_records import verify_record_entry

        return verify_record_entry(payload)
    try:
        identity = bytes.fromhex(str(payload["agent_identity_key"]))
        signature = bytes.fromhex(str(payload["agent_signature"]))
        venue, session, sequence = str(payload["subject"]), str(payload["session"]), payload["sequence"]
        if not isinstance(sequence, int):
            return False
        if payload.get("event") == "plan_committed":
            message = ack_message(
                session,
                venue,
                sequence,
                bytes.fromhex(str(payload["state_hash"])),
                bytes.fromhex(str(payload["plan_digest"])),
            )
            return verify_signature(identity, signature, message)
        if payload.get("event") == "execution_report":
            signed = base64.b64decode(str(payload["agent_signed"]), validate=True)
            report = cpb.ExecutionReport.FromString(signed)
            said = (report.venue_id, report.session_id, report.sequence, bytes(report.plan_digest).hex())
            if said != (venue, session, sequence, payload["plan_digest"]):
                return False
            if report.completed_unix_ms != payload.get("completed_unix_ms"):
                return False
            status = cpb.ExecutionStatus.Name(report.status).removeprefix("EXECUTION_STATUS_")
            counts = (report.legs, report.legs_short, report.fill_count, status, list(report.risk_gates))
            fields = ("legs", "legs_short", "fill_count", "status", "risk_gates")
            if counts != tuple(payload.get(f) for f in fields):
                return False
            if Decimal(report.pnl_vs_plan_quote) != Decimal(str(payload["pnl_vs_plan_quote"])):
                return False
            return verify_signature(identity, signature, report_message(signed))
    except (KeyError, ValueError, TypeError, ArithmeticError):
        return False
    return False
