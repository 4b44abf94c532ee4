"""Pairwise mask streams: ChaCha20 keyed per (pair seed, round id, mask set), added or subtracted mod 2^64.

For a round ``r`` with sorted mask set ``S`` (the venues whose vectors are summed)::

    digest    = SHA256(DOMAIN || "/mask-set" || lp(session) || u64be(r) || u32be(|S|) || lp(s) for s in S)
    round_key = HMAC-SHA256(pair_seed, DOMAIN || "/round-key" || u64be(r) || digest)
    nonce     = u32le(0) counter || 4 zero bytes || u64be(r)         (cryptography's 16-byte ChaCha20 nonce)
    mask      = the first 8*m keystream bytes of ChaCha20(round_key, nonce), read as m little-endian uint64

Agent ``i`` adds the mask of every peer ``j > i`` and subtracts that of every ``j < i`` (code point order), so
over the full set every pair cancels and the masked vectors sum to the plain sum mod 2^64. Each key is used
once. Binding the mask set means masks only cancel when every member masked for the very same set: a
coordinator that tells members different sets gets noise, not a partial sum.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence

import numpy as np
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms
from numpy.typing import NDArray

from energibridge.secagg.keys import DOMAIN, length_prefixed

WORD_BYTES = 8


def mask_set_digest(session_id: str, round_id: int, mask_set: Sequence[str]) -> bytes:
    """SHA-256 binding a round's session, id and (sorted) mask set; one per round, shared by all pairs."""
    parts = [DOMAIN, b"/mask-set", length_prefixed(session_id), struct.pack(">QI", round_id, len(mask_set))]
    parts.extend(length_prefixed(venue) for venue in sorted(mask_set))
    digest = hashes.Hash(hashes.SHA256())
    digest.update(b"".join(parts))
    return digest.finalize()


def round_key(pair_seed: bytes, round_id: int, set_digest: bytes) -> bytes:
    """The one-time ChaCha20 key of one pair in one round."""
    mac = hmac.HMAC(pair_seed, hashes.SHA256())
    mac.update(DOMAIN + b"/round-key" + struct.pack(">Q", round_id) + set_digest)
    return mac.finalize()


def pair_keystream(pair_seed: bytes, round_id: int, set_digest: bytes, length: int) -> bytes:
    """The ``8 * length`` keystream bytes behind one pair's mask for one round."""
    return _keystream(pair_seed, round_id, set_digest, bytes(WORD_BYTES * length))


def pair_mask(pair_seed: bytes, round_id: int, set_digest: bytes, length: int) -> NDArray[np.uint64]:
    """``length`` uint64 mask words of one pair for one round (identical on both sides of the pair)."""
    stream = pair_keystream(pair_seed, round_id, set_digest, length)
    return np.frombuffer(stream, dtype="<u8").astype(np.uint64)


def apply_pair_masks(
    encoded: NDArray[np.uint64],
    own_venue: str,
    mask_set: Sequence[str],
    pair_seeds: Mapping[str, bytes],
    *,
    set_digest: bytes,
    round_id: int,
) -> NDArray[np.uint64]:
    """``encoded + sum_{j > own} mask_j - sum_{j < own} mask_j`` mod 2^64 over the peers in ``mask_set``."""
    masked = np.array(encoded, dtype=np.uint64)
    zeros = bytes(WORD_BYTES * len(masked))
    for peer in mask_set:
        if peer == own_venue:
            continue
        # read in place as little-endian words; uint64 arithmetic wraps mod 2^64 without a warning
        mask = np.frombuffer(_keystream(pair_seeds[peer], round_id, set_digest, zeros), dtype="<u8")
        if peer > own_venue:
            masked += mask
        else:
            masked -= mask
    return masked


def _keystream(pair_seed: bytes, round_id: int, set_digest: bytes, zeros: bytes) -> bytes:
    nonce = struct.pack("<I", 0) + bytes(4) + struct.pack(">Q", round_id)
    cipher = Cipher(algorithms.ChaCha20(round_key(pair_seed, round_id, set_digest), nonce), mode=None)
    return cipher.encryptor().update(zeros)
