"""VC-JWT (VC Data Model 1.1 section 6.3.1) signed with EdDSA: always available, no didkit needed.

Header ``{"alg":"EdDSA","typ":"JWT","kid":<issuer verification method>}``; claims ``iss``, ``sub``, ``nbf``,
``iat``, ``exp``, ``jti`` and ``vc`` (the full credential, so that the JWT claims and the credential
properties must agree; verification checks that they do). didkit 0.3.3 verifies these tokens and we
verify didkit's (see tests/identity), so the format is interoperable, not private.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from registry.identity.credentials import (
    AgentClaims,
    CredentialFormat,
    IssuedCredential,
    ParsedCredential,
    VerifiedCredential,
    build_credential,
    check_issuer,
    check_time_window,
    new_credential_id,
    parse_agent_credential,
    validate_issue_window,
)
from registry.identity.did_key import DidKeyPair, public_key_from_did_key, verification_method_id
from registry.identity.errors import CredentialInvalid, InvalidDid
from registry.identity.jws import sign_compact, verify_compact

DEFAULT_LEEWAY = timedelta(seconds=60)


def _numeric_date(payload: dict[str, Any], claim: str) -> float:
    value = payload.get(claim)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise CredentialInvalid(f"JWT {claim}: expected a NumericDate (seconds since epoch), got {value!r}")
    return float(value)


class JwtCredentialService:
    """Issue and verify agent credentials as EdDSA VC-JWTs with ``cryptography`` only."""

    @property
    def format(self) -> CredentialFormat:
        return CredentialFormat.VC_JWT

    def issue(
        self,
        issuer: DidKeyPair,
        claims: AgentClaims,
        *,
        issued_at: datetime,
        ttl: timedelta,
        credential_id: str | None = None,
    ) -> IssuedCredential:
        start, end = validate_issue_window(issued_at, ttl)
        cid = credential_id if credential_id is not None else new_credential_id()
        vc = build_credential(issuer.did, claims, issued_at=start, expires_at=end, credential_id=cid)
        parsed = parse_agent_credential(vc)
        payload = {
            "iss": issuer.did,
            "sub": claims.subject_did,
            "nbf": int(start.timestamp()),
            "iat": int(start.timestamp()),
            "exp": int(end.timestamp()),
            "jti": cid,
            "vc": vc,
        }
        token = sign_compact({"typ": "JWT", "kid": issuer.verification_method}, payload, issuer)
        return IssuedCredential(CredentialFormat.VC_JWT, token, vc, parsed)

    def verify(
        self,
        encoded: str,
        *,
        trusted_issuers: Collection[str],
        now: datetime,
        leeway: timedelta = DEFAULT_LEEWAY,
    ) -> VerifiedCredential:
        def resolve(header: dict[str, Any], payload: dict[str, Any]) -> Ed25519PublicKey:
            iss = payload.get("iss")
            if not isinstance(iss, str):
                raise CredentialInvalid(f"JWT iss: expected the issuer DID, got {iss!r}")
            check_issuer(iss, trusted_issuers)
            try:
                key = public_key_from_did_key(iss, field="JWT iss")
                expected_kid = verification_method_id(iss)
            except InvalidDid as exc:
                raise CredentialInvalid(str(exc)) from None
            if header.get("kid") != expected_kid:
                raise CredentialInvalid(
                    f"JWS header kid: expected {expected_kid!r}, got {header.get('kid')!r}"
                )
            if header.get("typ", "JWT") != "JWT":
                raise CredentialInvalid(f"JWS header typ: expected 'JWT', got {header.get('typ')!r}")
            return key

        payload = verify_compact(encoded, resolve).payload
        parsed = parse_agent_credential(payload.get("vc"))
        _check_claims_agree(payload, parsed)
        check_time_window(parsed, now=now, leeway=leeway)
        return VerifiedCredential(CredentialFormat.VC_JWT, parsed)


def _check_claims_agree(payload: dict[str, Any], parsed: ParsedCredential) -> None:
    """VC-JWT decoding rules: registered claims and credential properties must describe one credential."""
    pairs = [
        ("iss", payload.get("iss"), parsed.issuer_did, "issuer"),
        ("sub", payload.get("sub"), parsed.claims.subject_did, "credentialSubject.id"),
        ("jti", payload.get("jti"), parsed.credential_id, "id"),
    ]
    for claim, got, expected, prop in pairs:
        if got != expected:
            raise CredentialInvalid(f"JWT {claim}: expected {expected!r} (the vc {prop}), got {got!r}")
    for claim, moment, prop in (
        ("nbf", parsed.issued_at, "issuanceDate"),
        ("exp", parsed.expires_at, "expirationDate"),
    ):
        value = _numeric_date(payload, claim)
        if value != moment.timestamp():
            raise CredentialInvalid(
                f"JWT {claim}: expected {moment.timestamp():.0f} (the vc {prop}), got {value!r}"
            )
