"""Shared helpers for the secure-aggregation tests: deterministic keys and a wired-up set of clients."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from energibridge.secagg import FixedPointCodec, MaskingClient


def private_key(venue: str, session: str = "session-1") -> X25519PrivateKey:
    """A deterministic X25519 key per (session, venue), so failures reproduce exactly."""
    return X25519PrivateKey.from_private_bytes(hashlib.sha256(f"{session}/{venue}".encode()).digest())


def make_clients(
    venues: Iterable[str],
    session: str = "session-1",
    codec: FixedPointCodec | None = None,
    min_mask_set: int = 2,
) -> dict[str, MaskingClient]:
    """One ``MaskingClient`` per venue, every one given the full directory."""
    names = list(venues)
    clients = {
        v: MaskingClient(session, v, private_key(v, session), codec=codec, min_mask_set=min_mask_set)
        for v in names
    }
    directory = {v: c.public_key for v, c in clients.items()}
    for client in clients.values():
        client.set_peers(directory)
    return clients


def mask_all(
    clients: Mapping[str, MaskingClient],
    round_id: int,
    mask_set: Sequence[str],
    vectors: Mapping[str, Sequence[float]],
) -> dict[str, list[int]]:
    """Every member of ``mask_set`` masks its vector for ``round_id``."""
    return {v: clients[v].mask(round_id, mask_set, vectors[v]) for v in mask_set}


def ring_sum(vectors: Iterable[Sequence[int]], length: int) -> np.ndarray:
    """Sum of word vectors mod 2^64."""
    total = np.zeros(length, dtype=np.uint64)
    for words in vectors:
        total += np.array(words, dtype=np.uint64)
    return total
