"""Hiding commitments: what the ledger records of a venue's plan, openable only with its disclosure.

The ledger used to hold ``SHA-256(plan)`` and ``SHA-256(positions)``. Positions sit on a public lot grid, so
a plain search over the grid recovered a venue's plan from its hash in seconds. Now every value that leaves
the agent to be recorded is ``HMAC-SHA256(k_n, digest)``, where ``k_n = HMAC-SHA256(K, "open" || session ||
sequence)`` is the opening key of that one plan and ``K`` is the agent's 32-byte commitment key (OS
randomness, 0600 in its state directory, never sent). Without ``k_n`` the commitment is a PRF output: no
search over plans can test a guess. To let an auditor check one entry the venue discloses that plan and its
``k_n`` (``arbsphere agent disclose``); that reveals nothing about any other plan. The commitment still
binds: the agent cannot later open it to another plan (HMAC-SHA256 is collision resistant for a fixed key,
and ``k_n`` is itself fixed by ``K``, which the venue cannot change without its earlier openings failing).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from pathlib import Path

from registry.pki.store import write_secret_file

KEY_BYTES = 32
KEY_FILE = "commitment.key"


class CommitmentKey:
    """An agent's commitment key ``K`` (see the module docstring). ``repr`` never shows it."""

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise ValueError(f"commitment key: expected {KEY_BYTES} bytes, got {len(key)}")
        self._key = bytes(key)

    def __repr__(self) -> str:
        return "CommitmentKey(<secret>)"

    @classmethod
    def generate(cls) -> CommitmentKey:
        return cls(secrets.token_bytes(KEY_BYTES))

    @classmethod
    def load_or_create(cls, state_dir: Path) -> CommitmentKey:
        """The key in ``state_dir`` (created 0600 on first use, never briefly wider)."""
        path = state_dir / KEY_FILE
        if path.exists():
            return cls(path.read_bytes())
        state_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_bytes(KEY_BYTES)
        write_secret_file(path, key)
        return cls(key)

    def opening(self, session_id: str, sequence: int) -> bytes:
        """``k_n``: the key that opens this one plan's commitments (what the venue discloses)."""
        return opening_key(self._key, session_id, sequence)

    def commit(self, session_id: str, sequence: int, digest: bytes) -> bytes:
        return commit(self.opening(session_id, sequence), digest)


def opening_key(key: bytes, session_id: str, sequence: int) -> bytes:
    material = b"arbsphere/v1/open\0" + session_id.encode() + b"\0" + str(sequence).encode()
    return hmac.new(key, material, hashlib.sha256).digest()


def commit(opening: bytes, digest: bytes) -> bytes:
    """The commitment to ``digest`` under one plan's opening key."""
    return hmac.new(opening, b"arbsphere/v1/commit\0" + digest, hashlib.sha256).digest()


def verify_opening(commitment: bytes, opening: bytes, digest: bytes) -> bool:
    """An auditor's check: does this disclosed (opening key, digest) open the ledger's commitment?"""
    return hmac.compare_digest(commit(opening, digest), commitment)
