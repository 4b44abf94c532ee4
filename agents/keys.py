"""Idempotency keys: one scheme for every order the agent sends (plan legs and hedges alike).

A key is the first 32 hex digits of SHA-256 over its parts, each length-prefixed, so ``("a/b", "c")`` and
``("a", "b/c")`` differ and the same parts give the same key in any process: a restarted agent derives the
very keys (and so the venue's client order ids) it used before, which is what reconciliation relies on.
"""

from __future__ import annotations

import hashlib


def derive_key(*parts: object) -> str:
    """Deterministic idempotency key from its parts."""
    digest = hashlib.sha256()
    for part in parts:
        encoded = str(part).encode()
        digest.update(len(encoded).to_bytes(4, "big"))
        digest.update(encoded)
    return digest.hexdigest()[:32]


def idempotency_key(session_id: str, sequence: int, venue_id: str, leg_index: int) -> str:
    """The key of one leg of a committed plan."""
    return derive_key("leg", session_id, sequence, venue_id, leg_index)
