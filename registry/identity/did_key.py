"""did:key for Ed25519 (W3C CCG did:key method): ``did:key:z`` + base58btc(0xed 0x01 || public key).

Also the JWK (RFC 8037 OKP) form of the same keys, because didkit speaks JWK and VC-JWT ``kid`` values
are verification method ids of this DID.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from registry.identity.b64url import b64url_decode, b64url_encode
from registry.identity.base58 import b58decode, b58encode
from registry.identity.errors import IdentityError, InvalidDid

DID_KEY_PREFIX = "did:key:"
MULTIBASE_BASE58BTC = "z"
ED25519_PUB_MULTICODEC = b"\xed\x01"  # unsigned varint of 0xed (ed25519-pub)
ED25519_KEY_LEN = 32
MAX_DID_LEN = 128


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def did_key_from_public_key(public_key: Ed25519PublicKey | bytes) -> str:
    """The did:key of an Ed25519 public key (object or 32 raw bytes)."""
    raw = public_key if isinstance(public_key, bytes) else _raw_public(public_key)
    if len(raw) != ED25519_KEY_LEN:
        raise InvalidDid(f"public_key: expected {ED25519_KEY_LEN} raw Ed25519 bytes, got {len(raw)}")
    return DID_KEY_PREFIX + MULTIBASE_BASE58BTC + b58encode(ED25519_PUB_MULTICODEC + raw)


def _multibase_of(did: str, *, field: str) -> str:
    if not isinstance(did, str):
        raise InvalidDid(f"{field}: expected a did:key string, got {type(did).__name__}")
    if len(did) > MAX_DID_LEN:
        raise InvalidDid(f"{field}: expected at most {MAX_DID_LEN} characters, got {len(did)}")
    if not did.startswith(DID_KEY_PREFIX + MULTIBASE_BASE58BTC):
        raise InvalidDid(f"{field}: expected 'did:key:z...' (base58btc multibase), got {did!r}")
    return did[len(DID_KEY_PREFIX) :]


def public_key_from_did_key(did: str, *, field: str = "did") -> Ed25519PublicKey:
    """Resolve an Ed25519 did:key to its public key; other key types and malformed ids are refused."""
    multibase = _multibase_of(did, field=field)
    decoded = b58decode(multibase[1:], field=field)
    if decoded[:2] != ED25519_PUB_MULTICODEC:
        raise InvalidDid(
            f"{field}: expected the ed25519-pub multicodec prefix 0xed01, "
            f"got 0x{decoded[:2].hex()} in {did!r}"
        )
    raw = decoded[2:]
    if len(raw) != ED25519_KEY_LEN:
        raise InvalidDid(f"{field}: expected a {ED25519_KEY_LEN}-byte Ed25519 key, got {len(raw)} bytes")
    # Re-encoding must give the same string: no alternative spellings of one key.
    if did_key_from_public_key(raw) != did:
        raise InvalidDid(f"{field}: expected the canonical encoding of its key, got {did!r}")
    return Ed25519PublicKey.from_public_bytes(raw)


def verification_method_id(did: str) -> str:
    """``did:key:z...#z...``: the only verification method of a did:key."""
    multibase = _multibase_of(did, field="did")
    public_key_from_did_key(did)
    return f"{did}#{multibase}"


def did_of_verification_method(method_id: str, *, field: str = "verificationMethod") -> str:
    """The DID part of a did:key verification method id, checked to be the canonical one."""
    if not isinstance(method_id, str) or "#" not in method_id:
        raise InvalidDid(f"{field}: expected 'did:key:z...#z...', got {method_id!r}")
    did = method_id.split("#", 1)[0]
    if verification_method_id(did) != method_id:
        raise InvalidDid(f"{field}: expected {verification_method_id(did)!r}, got {method_id!r}")
    return did


def public_jwk(public_key: Ed25519PublicKey) -> dict[str, str]:
    """RFC 8037 OKP JWK of a public key."""
    return {"kty": "OKP", "crv": "Ed25519", "x": b64url_encode(_raw_public(public_key))}


def resolve_did_key(did: str) -> dict[str, Any]:
    """A minimal DID document for an Ed25519 did:key (one verification method, used for both purposes)."""
    key = public_key_from_did_key(did)
    vm = verification_method_id(did)
    return {
        "@context": ["https://www.w3.org/ns/did/v1"],
        "id": did,
        "verificationMethod": [
            {
                "id": vm,
                "type": "Ed25519VerificationKey2018",
                "controller": did,
                "publicKeyJwk": public_jwk(key),
            }
        ],
        "authentication": [vm],
        "assertionMethod": [vm],
    }


@dataclass(frozen=True, slots=True)
class DidKeyPair:
    """An Ed25519 signing key with its did:key. ``repr`` never shows the private key."""

    private_key: Ed25519PrivateKey

    @classmethod
    def generate(cls) -> DidKeyPair:
        """A fresh key from the OS CSPRNG."""
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_jwk(cls, jwk: Mapping[str, Any] | str) -> DidKeyPair:
        """From a private OKP/Ed25519 JWK (dict or JSON text); ``x`` must match ``d`` if present."""
        if isinstance(jwk, str):
            try:
                jwk = json.loads(jwk)
            except ValueError:
                raise InvalidDid("jwk: expected JSON text, got unparsable data") from None
        if not isinstance(jwk, Mapping):
            raise InvalidDid(f"jwk: expected a JSON object, got {type(jwk).__name__}")
        if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
            raise InvalidDid(
                f"jwk: expected kty 'OKP' and crv 'Ed25519', got {jwk.get('kty')!r}/{jwk.get('crv')!r}"
            )
        try:
            d = b64url_decode(jwk.get("d"), field="jwk.d")  # type: ignore[arg-type]
        except IdentityError as exc:
            raise InvalidDid(str(exc)) from None
        if len(d) != ED25519_KEY_LEN:
            raise InvalidDid(f"jwk.d: expected {ED25519_KEY_LEN} bytes, got {len(d)}")
        pair = cls(Ed25519PrivateKey.from_private_bytes(d))
        if "x" in jwk and jwk["x"] != public_jwk(pair.public_key)["x"]:
            raise InvalidDid("jwk.x: expected the public key of jwk.d, got a different key")
        return pair

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()

    @property
    def did(self) -> str:
        return did_key_from_public_key(self.public_key)

    @property
    def verification_method(self) -> str:
        return verification_method_id(self.did)

    def private_jwk(self) -> dict[str, str]:
        """The private JWK (for didkit). Secret: pass it over a pipe, never argv or logs."""
        raw = self.private_key.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )
        return {**public_jwk(self.public_key), "d": b64url_encode(raw)}

    def sign(self, message: bytes) -> bytes:
        return self.private_key.sign(message)

    def __repr__(self) -> str:
        return f"DidKeyPair(did={self.did!r})"
