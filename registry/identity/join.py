"""What a coordinator runs when an agent joins: verify its credential in whichever format, bound to TLS.

The agent's TLS identity (``peer``, from ``registry.pki.peer_spiffe_id``) must be the SPIFFE ID the
registry bound into the credential; the credential must come from a trusted registry DID and be valid
now. VC-JWT needs nothing but ``cryptography``; a Data Integrity (JSON) credential needs didkit, run
in its subprocess worker.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from registry.identity.credentials import (
    CredentialFormat,
    CredentialService,
    VerifiedCredential,
    require_binding,
)
from registry.identity.errors import CredentialInvalid
from registry.identity.vc_jwt import JwtCredentialService
from registry.pki.spiffe import SpiffeId


def detect_format(encoded: str) -> CredentialFormat:
    """A JSON object is a Data Integrity credential; three dot-separated segments are a VC-JWT."""
    if not isinstance(encoded, str) or not encoded:
        raise CredentialInvalid(f"credential: expected a non-empty string, got {type(encoded).__name__}")
    if encoded.lstrip().startswith("{"):
        return CredentialFormat.VC_LDP
    if encoded.count(".") == 2:
        return CredentialFormat.VC_JWT
    raise CredentialInvalid("credential: expected a compact VC-JWT or a JSON credential, got neither")


def verify_credential(
    encoded: str,
    *,
    trusted_issuers: Collection[str],
    now: datetime,
    ldp_service: CredentialService | None = None,
) -> VerifiedCredential:
    """Verify with the service matching the format (didkit only for ``vc-ldp``)."""
    if detect_format(encoded) is CredentialFormat.VC_JWT:
        return JwtCredentialService().verify(encoded, trusted_issuers=trusted_issuers, now=now)
    if ldp_service is None:
        from registry.identity.didkit_service import DidkitCredentialService

        ldp_service = DidkitCredentialService()
    return ldp_service.verify(encoded, trusted_issuers=trusted_issuers, now=now)


def check_join(
    encoded: str,
    *,
    trusted_issuers: Collection[str],
    peer: SpiffeId,
    now: datetime,
    venue: str | None = None,
    ldp_service: CredentialService | None = None,
) -> VerifiedCredential:
    """Verify ``encoded`` and require it to name the TLS ``peer`` (and ``venue``), else raise."""
    verified = verify_credential(encoded, trusted_issuers=trusted_issuers, now=now, ldp_service=ldp_service)
    return require_binding(verified, peer=peer, venue=venue)
