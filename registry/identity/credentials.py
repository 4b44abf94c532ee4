"""The agent credential in the W3C VC Data Model 1.1 shape, and the interface both proof formats share.

The registry issues one ``ArbSphereAgentCredential`` per agent: it binds the agent's did:key (the
subject), its venue, the adapter (name and semver version) it runs, and the SPIFFE ID of its mTLS
certificates. The SPIFFE ID, not a certificate fingerprint, is bound because certificates live for
minutes to hours while the credential lives for days: every fresh certificate keeps matching.
"""

from __future__ import annotations

import enum
import hashlib
import re
import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from registry.identity.did_key import DidKeyPair, public_key_from_did_key
from registry.identity.errors import CredentialInvalid, InvalidDid
from registry.pki.errors import InvalidSpiffeId
from registry.pki.spiffe import SpiffeId, WorkloadRole, validate_name

VC_CONTEXT_V1 = "https://www.w3.org/2018/credentials/v1"
VERIFIABLE_CREDENTIAL = "VerifiableCredential"
AGENT_CREDENTIAL = "ArbSphereAgentCredential"
ARBSPHERE_VOCAB = "https://arbsphere.dev/ns/credentials/v1#"
# Inline JSON-LD context so that the Data Integrity (didkit) path can expand our terms without fetching
# anything; the VC-JWT path carries it unchanged.
ARBSPHERE_CONTEXT: dict[str, str] = {
    "arbsphere": ARBSPHERE_VOCAB,
    AGENT_CREDENTIAL: f"arbsphere:{AGENT_CREDENTIAL}",
    "venue": "arbsphere:venue",
    "adapter": "arbsphere:adapter",
    "adapterVersion": "arbsphere:adapterVersion",
    "spiffeId": "arbsphere:spiffeId",
}
MAX_CREDENTIAL_TTL = timedelta(days=366)
_SEMVER = re.compile(
    r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?"
)
_URI = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*:\S+")


class CredentialFormat(enum.StrEnum):
    VC_JWT = "vc-jwt"  # JOSE, EdDSA, verifiable with `cryptography` alone
    VC_LDP = "vc-ldp"  # Data Integrity proof (Ed25519Signature2018) made and checked by didkit


def _require_aware(value: datetime, *, field: str) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise CredentialInvalid(f"{field}: expected a timezone-aware datetime, got {value!r}")
    return value.astimezone(UTC)


def format_datetime(value: datetime) -> str:
    """xsd:dateTime in UTC with second precision, e.g. ``2026-01-01T12:00:00Z``."""
    return _require_aware(value, field="datetime").strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_datetime(value: object, *, field: str) -> datetime:
    if not isinstance(value, str):
        raise CredentialInvalid(f"{field}: expected an xsd:dateTime string, got {type(value).__name__}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise CredentialInvalid(f"{field}: expected an xsd:dateTime, got {value!r}") from None
    if parsed.tzinfo is None:
        raise CredentialInvalid(f"{field}: expected a time zone (e.g. 'Z'), got {value!r}")
    return parsed.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class AgentClaims:
    """What the credential asserts about its subject. Validated on construction."""

    subject_did: str
    venue: str
    adapter: str
    adapter_version: str
    spiffe_id: SpiffeId

    def __post_init__(self) -> None:
        try:
            public_key_from_did_key(self.subject_did, field="subject_did")
        except InvalidDid as exc:
            raise CredentialInvalid(str(exc)) from None
        try:
            validate_name(self.venue, field="venue")
            validate_name(self.adapter, field="adapter")
        except InvalidSpiffeId as exc:
            raise CredentialInvalid(str(exc)) from None
        if not isinstance(self.adapter_version, str) or not _SEMVER.fullmatch(self.adapter_version):
            raise CredentialInvalid(
                f"adapter_version: expected a semantic version, got {self.adapter_version!r}"
            )
        if not isinstance(self.spiffe_id, SpiffeId):
            raise CredentialInvalid(f"spiffe_id: expected a SpiffeId, got {type(self.spiffe_id).__name__}")
        if self.spiffe_id.role is not WorkloadRole.AGENT or self.spiffe_id.name != self.venue:
            raise CredentialInvalid(
                f"spiffe_id: expected spiffe://<region>/agent/{self.venue}, got {self.spiffe_id.uri!r}"
            )

    def subject_json(self) -> dict[str, str]:
        return {
            "id": self.subject_did,
            "venue": self.venue,
            "adapter": self.adapter,
            "adapterVersion": self.adapter_version,
            "spiffeId": self.spiffe_id.uri,
        }

    @classmethod
    def from_subject_json(cls, subject: object) -> AgentClaims:
        if not isinstance(subject, Mapping):
            raise CredentialInvalid(f"credentialSubject: expected an object, got {type(subject).__name__}")
        expected = {"id", "venue", "adapter", "adapterVersion", "spiffeId"}
        if set(subject) != expected:
            raise CredentialInvalid(
                f"credentialSubject: expected exactly {sorted(expected)}, got {sorted(subject)}"
            )
        for key in expected:
            if not isinstance(subject[key], str):
                raise CredentialInvalid(f"credentialSubject.{key}: expected a string, got {subject[key]!r}")
        try:
            spiffe_id = SpiffeId.parse(subject["spiffeId"], field="credentialSubject.spiffeId")
        except InvalidSpiffeId as exc:
            raise CredentialInvalid(str(exc)) from None
        return cls(subject["id"], subject["venue"], subject["adapter"], subject["adapterVersion"], spiffe_id)


def validate_vc_shape(credential: object) -> dict[str, Any]:
    """Check the VC Data Model 1.1 mandatory properties (section 4); returns the credential as a dict.

    ``@context`` starts with the v1 context; ``type`` contains ``VerifiableCredential``; ``issuer`` is a URI
    (or an object with an ``id`` URI); ``issuanceDate`` is an xsd:dateTime; ``credentialSubject`` is an
    object or a non-empty list of objects; ``id`` and ``expirationDate`` are well-formed when present.
    """
    if not isinstance(credential, Mapping):
        raise CredentialInvalid(f"credential: expected a JSON object, got {type(credential).__name__}")
    context = credential.get("@context")
    contexts = context if isinstance(context, list) else [context]
    if not contexts or contexts[0] != VC_CONTEXT_V1:
        raise CredentialInvalid(f"@context: expected {VC_CONTEXT_V1!r} first, got {context!r}")
    types = credential.get("type")
    types = types if isinstance(types, list) else [types]
    if VERIFIABLE_CREDENTIAL not in types or not all(isinstance(t, str) for t in types):
        raise CredentialInvalid(f"type: expected a list containing {VERIFIABLE_CREDENTIAL!r}, got {types!r}")
    issuer = credential.get("issuer")
    issuer_id = issuer.get("id") if isinstance(issuer, Mapping) else issuer
    if not isinstance(issuer_id, str) or not _URI.fullmatch(issuer_id):
        raise CredentialInvalid(f"issuer: expected a URI (or an object with an id URI), got {issuer!r}")
    if "id" in credential and not (isinstance(credential["id"], str) and _URI.fullmatch(credential["id"])):
        raise CredentialInvalid(f"id: expected a URI, got {credential['id']!r}")
    parse_datetime(credential.get("issuanceDate"), field="issuanceDate")
    if "expirationDate" in credential:
        parse_datetime(credential["expirationDate"], field="expirationDate")
    subject = credential.get("credentialSubject")
    subjects = subject if isinstance(subject, list) else [subject]
    if not subjects or not all(isinstance(s, Mapping) for s in subjects):
        raise CredentialInvalid(
            f"credentialSubject: expected an object or a list of objects, got {subject!r}"
        )
    return dict(credential)


def build_credential(
    issuer_did: str,
    claims: AgentClaims,
    *,
    issued_at: datetime,
    expires_at: datetime,
    credential_id: str,
) -> dict[str, Any]:
    """The unsigned credential (identical for both proof formats)."""
    return {
        "@context": [VC_CONTEXT_V1, dict(ARBSPHERE_CONTEXT)],
        "id": credential_id,
        "type": [VERIFIABLE_CREDENTIAL, AGENT_CREDENTIAL],
        "issuer": issuer_did,
        "issuanceDate": format_datetime(issued_at),
        "expirationDate": format_datetime(expires_at),
        "credentialSubject": claims.subject_json(),
    }


@dataclass(frozen=True, slots=True)
class ParsedCredential:
    """The facts of an agent credential, read from its (not yet proof-checked) JSON."""

    credential_id: str
    issuer_did: str
    claims: AgentClaims
    issued_at: datetime
    expires_at: datetime


def parse_agent_credential(credential: object) -> ParsedCredential:
    """Shape check plus our profile: our type and context, a did:key issuer, an expiration date."""
    vc = validate_vc_shape(credential)
    if vc.get("type") != [VERIFIABLE_CREDENTIAL, AGENT_CREDENTIAL]:
        raise CredentialInvalid(
            f"type: expected {[VERIFIABLE_CREDENTIAL, AGENT_CREDENTIAL]}, got {vc.get('type')!r}"
        )
    if vc.get("@context") != [VC_CONTEXT_V1, ARBSPHERE_CONTEXT]:
        raise CredentialInvalid("@context: expected the v1 context followed by the ArbSphere context")
    issuer = vc["issuer"]
    if not isinstance(issuer, str):
        raise CredentialInvalid(f"issuer: expected a did:key string, got {issuer!r}")
    try:
        public_key_from_did_key(issuer, field="issuer")
    except InvalidDid as exc:
        raise CredentialInvalid(str(exc)) from None
    if not isinstance(vc.get("id"), str):
        raise CredentialInvalid(f"id: expected a credential id URI, got {vc.get('id')!r}")
    if "expirationDate" not in vc:
        raise CredentialInvalid("expirationDate: expected one (agent credentials always expire), got none")
    issued = parse_datetime(vc["issuanceDate"], field="issuanceDate")
    expires = parse_datetime(vc["expirationDate"], field="expirationDate")
    if expires <= issued:
        raise CredentialInvalid(
            f"expirationDate: expected after issuanceDate {vc['issuanceDate']}, got {vc['expirationDate']}"
        )
    return ParsedCredential(
        vc["id"], issuer, AgentClaims.from_subject_json(vc["credentialSubject"]), issued, expires
    )


def check_time_window(parsed: ParsedCredential, *, now: datetime, leeway: timedelta) -> None:
    """Not before ``issued_at - leeway``; expired from ``expires_at`` on (no leeway on expiry)."""
    now = _require_aware(now, field="now")
    if now + leeway < parsed.issued_at:
        raise CredentialInvalid(
            f"issuanceDate: credential not valid before {format_datetime(parsed.issued_at)}, "
            f"checked at {format_datetime(now)}"
        )
    if now >= parsed.expires_at:
        raise CredentialInvalid(
            f"expirationDate: credential expired at {format_datetime(parsed.expires_at)}, "
            f"checked at {format_datetime(now)}"
        )


def check_issuer(issuer_did: str, trusted_issuers: Collection[str]) -> None:
    if issuer_did not in trusted_issuers:
        raise CredentialInvalid(f"issuer: expected one of {sorted(trusted_issuers)}, got {issuer_did!r}")


def new_credential_id() -> str:
    """``urn:uuid:`` + a random (OS CSPRNG) UUID."""
    return f"urn:uuid:{uuid.uuid4()}"


def validate_issue_window(issued_at: datetime, ttl: timedelta) -> tuple[datetime, datetime]:
    """Truncate to seconds (xsd:dateTime and JWT NumericDate precision) and bound the lifetime."""
    start = _require_aware(issued_at, field="issued_at").replace(microsecond=0)
    if not isinstance(ttl, timedelta) or not timedelta(seconds=1) <= ttl <= MAX_CREDENTIAL_TTL:
        raise CredentialInvalid(f"ttl: expected 1 s .. {MAX_CREDENTIAL_TTL.days} days, got {ttl!r}")
    return start, start + ttl


@dataclass(frozen=True, slots=True)
class IssuedCredential:
    """An issued credential: ``encoded`` is what travels (compact JWT, or the signed JSON for LDP)."""

    format: CredentialFormat
    encoded: str
    credential: dict[str, Any] = field(repr=False)
    parsed: ParsedCredential

    def ledger_record(self) -> dict[str, Any]:
        """JSON-ready facts for the ledger's CREDENTIAL_ISSUED entry."""
        return {
            "format": self.format.value,
            "credential_id": self.parsed.credential_id,
            "issuer": self.parsed.issuer_did,
            "subject": self.parsed.claims.subject_did,
            "venue": self.parsed.claims.venue,
            "adapter": self.parsed.claims.adapter,
            "adapter_version": self.parsed.claims.adapter_version,
            "spiffe_id": self.parsed.claims.spiffe_id.uri,
            "issuance_date": format_datetime(self.parsed.issued_at),
            "expiration_date": format_datetime(self.parsed.expires_at),
            "sha256": hashlib.sha256(self.encoded.encode()).hexdigest(),
        }


@dataclass(frozen=True, slots=True)
class VerifiedCredential:
    """A credential whose proof, issuer, time window and profile all checked out."""

    format: CredentialFormat
    parsed: ParsedCredential

    @property
    def claims(self) -> AgentClaims:
        return self.parsed.claims

    @property
    def issuer_did(self) -> str:
        return self.parsed.issuer_did


class CredentialService(Protocol):
    """One interface, two proof formats (``JwtCredentialService``, ``DidkitCredentialService``)."""

    @property
    def format(self) -> CredentialFormat: ...

    def issue(
        self,
        issuer: DidKeyPair,
        claims: AgentClaims,
        *,
        issued_at: datetime,
        ttl: timedelta,
        credential_id: str | None = None,
    ) -> IssuedCredential:
        """Sign a credential for ``claims`` valid from ``issued_at`` for ``ttl``."""
        ...

    def verify(
        self,
        encoded: str,
        *,
        trusted_issuers: Collection[str],
        now: datetime,
        leeway: timedelta = ...,
    ) -> VerifiedCredential:
        """Verify proof, issuer in ``trusted_issuers``, validity at ``now``; raise ``CredentialInvalid``."""
        ...


def require_binding(
    verified: VerifiedCredential, *, peer: SpiffeId, venue: str | None = None
) -> VerifiedCredential:
    """At join: the credential must name the SPIFFE ID the TLS handshake authenticated (and the venue)."""
    if verified.claims.spiffe_id != peer:
        raise CredentialInvalid(
            f"credentialSubject.spiffeId: expected the TLS peer {peer.uri!r}, "
            f"got {verified.claims.spiffe_id.uri!r}"
        )
    if venue is not None and verified.claims.venue != venue:
        raise CredentialInvalid(f"credentialSubject.venue: expected {venue!r}, got {verified.claims.venue!r}")
    return verified
