"""Base58btc (the Bitcoin alphabet), as used by multibase ``z`` strings in did:key.

Big-integer conversion; each leading zero byte maps to one leading ``1``. Inputs here are tens of
bytes, so the quadratic cost of int conversion does not matter.
"""

from __future__ import annotations

from registry.identity.errors import InvalidDid

ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_INDEX = {c: i for i, c in enumerate(ALPHABET)}
MAX_ENCODED_LEN = 1024


def b58encode(data: bytes) -> str:
    """Encode ``data`` in base58btc."""
    if not isinstance(data, bytes | bytearray):
        raise TypeError(f"data: expected bytes, got {type(data).__name__}")
    zeros = len(data) - len(data.lstrip(b"\x00"))
    n = int.from_bytes(data, "big")
    digits: list[str] = []
    while n:
        n, r = divmod(n, 58)
        digits.append(ALPHABET[r])
    return "1" * zeros + "".join(reversed(digits))


def b58decode(text: str, *, field: str = "base58") -> bytes:
    """Decode base58btc; any character outside the alphabet is refused with its position."""
    if not isinstance(text, str):
        raise InvalidDid(f"{field}: expected a string, got {type(text).__name__}")
    if len(text) > MAX_ENCODED_LEN:
        raise InvalidDid(f"{field}: expected at most {MAX_ENCODED_LEN} characters, got {len(text)}")
    n = 0
    for pos, char in enumerate(text):
        value = _INDEX.get(char)
        if value is None:
            raise InvalidDid(f"{field}: expected base58btc characters, got {char!r} at position {pos}")
        n = n * 58 + value
    zeros = len(text) - len(text.lstrip("1"))
    body = n.to_bytes((n.bit_length() + 7) // 8, "big") if n else b""
    return b"\x00" * zeros + body
