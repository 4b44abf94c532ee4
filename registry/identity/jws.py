"""Compact JWS with EdDSA (RFC 7515 + RFC 8037), only as much as VC-JWT needs, built on ``cryptography``.

Decoding is strict: exactly three canonical base64url segments, JSON objects without duplicate keys,
``alg`` exactly ``EdDSA`` (so ``none`` and algorithm confusion are impossible), no ``crit`` extensions.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from registry.identity.b64url import b64url_decode, b64url_encode
from registry.identity.did_key import DidKeyPair
from registry.identity.errors import CredentialInvalid, IdentityError

ALG = "EdDSA"
MAX_TOKEN_LEN = 32 * 1024
ED25519_SIGNATURE_LEN = 64


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8: one byte string per value (what we sign and hash)."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise CredentialInvalid(f"JSON: duplicate member {key!r}")
        out[key] = value
    return out


def strict_json_object(data: bytes, *, field: str) -> dict[str, Any]:
    """Parse a JSON object, refusing duplicate members, NaN/Infinity and non-objects."""

    def refuse_constant(name: str) -> Any:
        raise CredentialInvalid(f"{field}: expected finite JSON numbers, got {name}")

    try:
        value = json.loads(data, object_pairs_hook=_no_duplicates, parse_constant=refuse_constant)
    except CredentialInvalid:
        raise
    except (ValueError, UnicodeDecodeError):
        raise CredentialInvalid(f"{field}: expected a JSON object, got unparsable data") from None
    if not isinstance(value, dict):
        raise CredentialInvalid(f"{field}: expected a JSON object, got {type(value).__name__}")
    return value


def sign_compact(header: Mapping[str, Any], payload: Mapping[str, Any], key: DidKeyPair) -> str:
    """``b64(header).b64(payload).b64(Ed25519 signature)``; ``alg`` is forced to EdDSA."""
    head = b64url_encode(canonical_json({**header, "alg": ALG}))
    body = b64url_encode(canonical_json(dict(payload)))
    signing_input = f"{head}.{body}".encode("ascii")
    return f"{head}.{body}.{b64url_encode(key.sign(signing_input))}"


@dataclass(frozen=True, slots=True)
class DecodedJws:
    header: dict[str, Any]
    payload: dict[str, Any]


def verify_compact(
    token: str, resolve_key: Callable[[dict[str, Any], dict[str, Any]], Ed25519PublicKey]
) -> DecodedJws:
    """Check a compact JWS. ``resolve_key(header, payload)`` returns the key that must have signed it
    (it decides which issuers are acceptable) and raises ``CredentialInvalid`` otherwise."""
    if not isinstance(token, str):
        raise CredentialInvalid(f"token: expected a compact JWS string, got {type(token).__name__}")
    if len(token) > MAX_TOKEN_LEN:
        raise CredentialInvalid(f"token: expected at most {MAX_TOKEN_LEN} characters, got {len(token)}")
    parts = token.split(".")
    if len(parts) != 3:
        raise CredentialInvalid(f"token: expected 3 dot-separated segments, got {len(parts)}")
    try:
        header = strict_json_object(b64url_decode(parts[0], field="JWS header"), field="JWS header")
        payload = strict_json_object(b64url_decode(parts[1], field="JWS payload"), field="JWS payload")
        signature = b64url_decode(parts[2], field="JWS signature")
    except CredentialInvalid:
        raise
    except IdentityError as exc:
        raise CredentialInvalid(str(exc)) from None
    if header.get("alg") != ALG:
        raise CredentialInvalid(f"JWS header alg: expected {ALG!r}, got {header.get('alg')!r}")
    if "crit" in header:
        raise CredentialInvalid(f"JWS header crit: expected no critical extensions, got {header['crit']!r}")
    if len(signature) != ED25519_SIGNATURE_LEN:
        raise CredentialInvalid(
            f"JWS signature: expected {ED25519_SIGNATURE_LEN} bytes, got {len(signature)}"
        )
    public_key = resolve_key(header, payload)
    try:
        public_key.verify(signature, f"{parts[0]}.{parts[1]}".encode("ascii"))
    except InvalidSignature:
        raise CredentialInvalid("JWS signature: does not verify with the issuer's key") from None
    return DecodedJws(header, payload)
