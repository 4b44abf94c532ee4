"""did:key for ledger actors: the ledger's view of :mod:`registry.identity.did_key`.

One implementation of did:key and base58btc lives in ``registry/identity`` (checked against the didkit
vectors); this module keeps the ledger's small API and its single error type, :class:`DidKeyError`, so the
ledger and its offline verifier report bad actors uniformly.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from registry.identity.base58 import b58decode as _b58decode
from registry.identity.base58 import b58encode
from registry.identity.did_key import did_key_from_public_key, public_key_from_did_key
from registry.identity.errors import IdentityError

MAX_DID_LENGTH = 128

__all__ = [
    "DidKeyError",
    "b58decode",
    "b58encode",
    "did_from_public_bytes",
    "did_from_public_key",
    "public_bytes_from_did",
    "public_key_from_did",
]


class DidKeyError(ValueError):
    """A string is not an Ed25519 did:key."""


def b58decode(text: str) -> bytes:
    try:
        return _b58decode(text)
    except (IdentityError, ValueError) as exc:
        raise DidKeyError(f"base58btc: {exc}") from None


def did_from_public_bytes(public_key: bytes) -> str:
    if len(public_key) != 32:
        raise DidKeyError(f"Ed25519 public key: expected 32 bytes, got {len(public_key)}")
    return did_key_from_public_key(public_key)


def did_from_public_key(public_key: Ed25519PublicKey) -> str:
    return did_key_from_public_key(public_key)


def public_key_from_did(did: str) -> Ed25519PublicKey:
    """The Ed25519 key named by ``did`` (canonical did:key only); raises :class:`DidKeyError` otherwise."""
    if not isinstance(did, str) or len(did) > MAX_DID_LENGTH:
        raise DidKeyError(f"did:key: expected a string of at most {MAX_DID_LENGTH} characters")
    try:
        return public_key_from_did_key(did)
    except (IdentityError, ValueError) as exc:
        raise DidKeyError(f"did:key: {exc}") from None


def public_bytes_from_did(did: str) -> bytes:
    """The 32-byte Ed25519 key named by ``did``; raises :class:`DidKeyError` otherwise."""
    return public_key_from_did(did).public_bytes(Encoding.Raw, PublicFormat.Raw)
