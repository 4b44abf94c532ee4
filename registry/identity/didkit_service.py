"""Agent credentials with a Data Integrity proof (Ed25519Signature2018), made and checked by didkit.

didkit only ever runs in the worker subprocess (``didkit_client``). Everything that does not need
JSON-LD canonicalisation is checked here first, in-process: the VC shape and our profile, the issuer,
the proof's verification method and purpose, and the time window; didkit 0.3.3 does not check
``expirationDate`` at all (an expired credential verifies with no error: see tests/identity).
"""

from __future__ import annotations

import json
from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any

from registry.identity.credentials import (
    AgentClaims,
    CredentialFormat,
    IssuedCredential,
    VerifiedCredential,
    build_credential,
    check_issuer,
    check_time_window,
    format_datetime,
    new_credential_id,
    parse_agent_credential,
    validate_issue_window,
)
from registry.identity.did_key import DidKeyPair, verification_method_id
from registry.identity.didkit_client import DEFAULT_TIMEOUT_S, run_didkit_worker
from registry.identity.errors import CredentialInvalid, DidkitRejected, DidkitWorkerError
from registry.identity.jws import MAX_TOKEN_LEN, strict_json_object
from registry.identity.vc_jwt import DEFAULT_LEEWAY

PROOF_TYPE = "Ed25519Signature2018"
PROOF_PURPOSE = "assertionMethod"


class DidkitCredentialService:
    """``CredentialService`` over didkit (format ``vc-ldp``)."""

    def __init__(self, *, timeout: float = DEFAULT_TIMEOUT_S, retries: int = 1) -> None:
        self._timeout = timeout
        self._retries = retries

    @property
    def format(self) -> CredentialFormat:
        return CredentialFormat.VC_LDP

    def _run(self, op: str, **arguments: Any) -> Any:
        return run_didkit_worker(op, arguments, timeout=self._timeout, retries=self._retries).result

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
        options = {
            "proofPurpose": PROOF_PURPOSE,
            "verificationMethod": issuer.verification_method,
            "created": format_datetime(start),
        }
        signed_text = self._run(
            "issue_credential", credential=vc, proof_options=options, key=issuer.private_jwk()
        )
        if not isinstance(signed_text, str):
            raise DidkitWorkerError(f"issue_credential: expected JSON text, got {type(signed_text).__name__}")
        signed = strict_json_object(signed_text.encode(), field="didkit credential")
        body = {k: v for k, v in signed.items() if k != "proof"}
        if body != vc:
            raise DidkitWorkerError("issue_credential: didkit changed the credential it was asked to sign")
        _check_proof(signed, parsed.issuer_did)
        return IssuedCredential(CredentialFormat.VC_LDP, signed_text, signed, parsed)

    def verify(
        self,
        encoded: str,
        *,
        trusted_issuers: Collection[str],
        now: datetime,
        leeway: timedelta = DEFAULT_LEEWAY,
    ) -> VerifiedCredential:
        if not isinstance(encoded, str) or len(encoded) > MAX_TOKEN_LEN:
            raise CredentialInvalid(f"credential: expected JSON text of at most {MAX_TOKEN_LEN} characters")
        document = strict_json_object(encoded.encode(), field="credential")
        parsed = parse_agent_credential(document)
        check_issuer(parsed.issuer_did, trusted_issuers)
        _check_proof(document, parsed.issuer_did)
        check_time_window(parsed, now=now, leeway=leeway)
        try:
            report = self._run(
                "verify_credential", credential=document, proof_options={"proofPurpose": PROOF_PURPOSE}
            )
        except DidkitRejected as exc:
            raise CredentialInvalid(f"proof: didkit refused the credential: {exc}") from None
        report = json.loads(report) if isinstance(report, str) else report
        if not isinstance(report, dict):
            raise DidkitWorkerError(f"verify_credential: expected a JSON report, got {report!r}")
        if report.get("errors") or "proof" not in (report.get("checks") or []):
            raise CredentialInvalid(
                f"proof: didkit reports checks={report.get('checks')} errors={report.get('errors')}"
            )
        return VerifiedCredential(CredentialFormat.VC_LDP, parsed)


def _check_proof(document: dict[str, Any], issuer_did: str) -> None:
    proof = document.get("proof")
    if not isinstance(proof, dict):
        raise CredentialInvalid(f"proof: expected an object, got {type(proof).__name__}")
    if proof.get("type") != PROOF_TYPE:
        raise CredentialInvalid(f"proof.type: expected {PROOF_TYPE!r}, got {proof.get('type')!r}")
    if proof.get("proofPurpose") != PROOF_PURPOSE:
        raise CredentialInvalid(
            f"proof.proofPurpose: expected {PROOF_PURPOSE!r}, got {proof.get('proofPurpose')!r}"
        )
    expected_vm = verification_method_id(issuer_did)
    if proof.get("verificationMethod") != expected_vm:
        raise CredentialInvalid(
            f"proof.verificationMethod: expected the issuer's {expected_vm!r}, "
            f"got {proof.get('verificationMethod')!r}"
        )
