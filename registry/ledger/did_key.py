"""Minimal did:key for Ed25519: ``did:key:z`` + base58btc(0xed 0x01 || 32-byte public key).

Only what the ledger needs to name and verify its actors. The identity module (``registry/identity``) owns
DIDs in general; this one is deliberately small so the ledger verifier has no other dependency.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

DID_KEY_PREFIX = "did:key:z"
ED25519_MULTICODEC = b"\xed\x01"
_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_INDEX = {ch: i for i, ch in enumerate(_ALPHABET)}
MAX_DID_LENGTH = 128


class DidKeyError(ValueError):
    """A string is not an Ed25519 did:key."""


def b58encode(data: bytes) -> str:
    """Bitcoin-alphabet base58 (base58btc), leading zero bytes as '1'."""
    zeros = len(data) - len(data.lstrip(b"\x00"))
    number = int.from_bytes(data, "big")
    digits: list[str] = []
    while number:
        number, rem = divmod(number, 58)
        digits.append(_ALPHABET[rem])
    return "1" * zeros + "".join(reversed(digits))


def b58decode(text: str) -> bytes:
    number = 0
    for position, ch in enumerate(text):
        value = _INDEX.get(ch)
        if value is None:
            raise DidKeyError(f"base58btc: invalid character {ch!r} at offset {position}")
        number = number * 58 + value
    zeros = len(text) - len(text.lstrip("1"))
    body = number.to_bytes((number.bit_length() + 7) // 8, "big") if number else b""
    return b"\x00" * zeros + body


def did_from_public_bytes(public_key: bytes) -> str:
    if len(public_key) != 32:
        raise DidKeyError(f"Ed25519 public key: expected 32 bytes, got {len(public_key)}")
    return DID_KEY_PREFIX + b58encode(ED25519_MULTICODEC + public_key)


def did_from_public_key(public_key: Ed25519PublicKey) -> str:
    return did_from_public_bytes(public_key.public_bytes(Encoding.Raw, PublicFormat.Raw))


def public_bytes_from_did(did: str) -> bytes:
    """The 32-byte Ed25519 key named by ``did``; raises :class:`DidKeyError` otherwise."""
    if not isinstance(did, str) or len(did) > MAX_DID_LENGTH:
        raise DidKeyError(f"did:key: expected a string of at most {MAX_DID_LENGTH} characters")
    if not did.startswith(DID_KEY_PREFIX):
        raise DidKeyError(f"did:key: expected a 'did:key:z...' (base58btc) identifier, got {did[:40]!r}")
    raw = b58decode(did[len(DID_KEY_PREFIX) :])
    if len(raw) != 34 or raw[:2] != ED25519_MULTICODEC:
        raise DidKeyError(f"did:key: expected multicodec 0xed01 + 32-byte Ed25519 key, got {did[:40]!r}")
    if did_from_public_bytes(raw[2:]) != did:
        raise DidKeyError(f"did:key: non-canonical encoding {did[:40]!r}")
    return raw[2:]


def public_key_from_did(did: str) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(public_bytes_from_did(did))
