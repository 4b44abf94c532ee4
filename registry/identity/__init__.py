"""Identities and credentials: Ed25519 did:key, and verifiable credentials the registry issues to agents.

Two proof formats behind one ``CredentialService`` interface: ``JwtCredentialService`` (VC-JWT, EdDSA,
``cryptography`` only, always available) and ``DidkitCredentialService`` (Data Integrity proof via didkit,
run in a subprocess because its archived binding crashes at interpreter exit).
"""

from registry.identity.credentials import (
    AGENT_CREDENTIAL,
    AgentClaims,
    CredentialFormat,
    CredentialService,
    IssuedCredential,
    ParsedCredential,
    VerifiedCredential,
    build_credential,
    parse_agent_credential,
    require_binding,
    validate_vc_shape,
)
from registry.identity.did_key import (
    DidKeyPair,
    did_key_from_public_key,
    public_key_from_did_key,
    resolve_did_key,
    verification_method_id,
)
from registry.identity.didkit_service import DidkitCredentialService
from registry.identity.errors import (
    CredentialInvalid,
    DidkitRejected,
    DidkitUnavailable,
    DidkitWorkerError,
    IdentityError,
    InvalidDid,
)
from registry.identity.join import check_join, detect_format, verify_credential
from registry.identity.keystore import load_did_key, save_did_key
from registry.identity.vc_jwt import JwtCredentialService

__all__ = [
    "AGENT_CREDENTIAL",
    "AgentClaims",
    "CredentialFormat",
    "CredentialInvalid",
    "CredentialService",
    "DidKeyPair",
    "DidkitCredentialService",
    "DidkitRejected",
    "DidkitUnavailable",
    "DidkitWorkerError",
    "IdentityError",
    "InvalidDid",
    "IssuedCredential",
    "JwtCredentialService",
    "ParsedCredential",
    "VerifiedCredential",
    "build_credential",
    "check_join",
    "detect_format",
    "did_key_from_public_key",
    "load_did_key",
    "parse_agent_credential",
    "public_key_from_did_key",
    "require_binding",
    "resolve_did_key",
    "save_did_key",
    "validate_vc_shape",
    "verification_method_id",
    "verify_credential",
]
