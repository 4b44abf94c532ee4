"""Unpadded base64url (RFC 7515 section 2), strict: non-canonical encodings are refused.

Strictness matters for signatures: two different strings must never decode to the same signed bytes.
"""

from __future__ import annotations

import base64
import binascii
import re

from registry.identity.errors import IdentityError

_ALPHABET = re.compile(r"[A-Za-z0-9_-]*")


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str, *, field: str) -> bytes:
    """Decode unpadded base64url; padding, other alphabets and non-canonical trailing bits are refused."""
    if not isinstance(text, str):
        raise IdentityError(f"{field}: expected a base64url string, got {type(text).__name__}")
    if not _ALPHABET.fullmatch(text) or len(text) % 4 == 1:
        raise IdentityError(f"{field}: expected unpadded base64url, got {text[:40]!r}")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise IdentityError(f"{field}: expected unpadded base64url, got {text[:40]!r}") from None
    if b64url_encode(data) != text:
        raise IdentityError(f"{field}: expected canonical base64url (zero trailing bits), got {text[:40]!r}")
    return data
