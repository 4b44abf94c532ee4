"""Key agreement, mask streams and signed key announcements: symmetry, binding, the documented derivation."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from secagg_helpers import private_key

from energibridge.secagg import (
    KeyAgreementError,
    KeyAnnouncement,
    announce,
    derive_pair_seed,
    public_key_bytes,
    verify_announcements,
)
from energibridge.secagg.masks import mask_set_digest, pair_mask

A, B, C = "binance", "kraken", "okx"


def _seed(session: str, own: str, peer: str) -> bytes:
    return derive_pair_seed(
        session, own, private_key(own, session), peer, public_key_bytes(private_key(peer, session))
    )


def test_pair_seed_is_symmetric_and_specific_to_pair_and_session() -> None:
    ab = _seed("s", A, B)
    assert ab == _seed("s", B, A)
    assert len(ab) == 32
    assert ab != _seed("s", A, C)
    assert ab != _seed("s", B, C)
    # same keys, another session id: another seed
    other = derive_pair_seed("t", A, private_key(A, "s"), B, public_key_bytes(private_key(B, "s")))
    assert other != ab


def test_pair_seed_is_bound_to_the_venue_names() -> None:
    key_a, key_b = private_key(A), private_key(B)
    seed = derive_pair_seed("s", A, key_a, B, public_key_bytes(key_b))
    renamed = derive_pair_seed("s", A, key_a, "kraken2", public_key_bytes(key_b))
    assert seed != renamed


def _lp(text: str) -> bytes:
    raw = text.encode()
    return struct.pack(">I", len(raw)) + raw


def test_derivation_follows_the_documented_construction() -> None:
    """Re-derive seed, round key and mask words from the docstrings with raw primitives."""
    session, round_id, mask_set = "session-1", 7, (A, B, C)
    key_a, key_b = private_key(A, session), private_key(B, session)
    pub_a, pub_b = public_key_bytes(key_a), public_key_bytes(key_b)
    domain = b"arbsphere/secagg/v1"
    salt = hashes.Hash(hashes.SHA256())
    salt.update(domain + b"/salt" + _lp(session))
    info = domain + b"/pair-seed" + _lp(A) + pub_a + _lp(B) + pub_b
    seed = HKDF(hashes.SHA256(), 32, salt.finalize(), info).derive(key_a.exchange(key_b.public_key()))
    assert seed == derive_pair_seed(session, B, key_b, A, pub_a)

    digest = hashes.Hash(hashes.SHA256())
    digest.update(
        domain + b"/mask-set" + _lp(session) + struct.pack(">QI", round_id, 3) + b"".join(map(_lp, mask_set))
    )
    set_digest = digest.finalize()
    assert set_digest == mask_set_digest(session, round_id, [C, A, B])  # order of the request is irrelevant
    mac = hmac.HMAC(seed, hashes.SHA256())
    mac.update(domain + b"/round-key" + struct.pack(">Q", round_id) + set_digest)
    nonce = bytes(8) + struct.pack(">Q", round_id)
    stream = Cipher(algorithms.ChaCha20(mac.finalize(), nonce), mode=None).encryptor().update(bytes(24))
    expected = [int.from_bytes(stream[i : i + 8], "little") for i in range(0, 24, 8)]
    assert pair_mask(seed, round_id, set_digest, 3).tolist() == expected


def test_known_answer_pins_the_wire_protocol() -> None:
    """Agents of different builds must derive identical masks; a change here is a protocol version bump."""
    seed = _seed("session-1", A, B)
    assert seed.hex() == "b072780ac2c5c9b050385343855e4ea908f32b204e0cff7a6b0c786b455fa9ba"
    digest = mask_set_digest("session-1", 7, (A, B, C))
    assert digest.hex() == "f521e13d473349a37fe1af126c49dd63e906592af99e7ee8269f813737e2c814"
    assert pair_mask(seed, 7, digest, 3).tolist() == [
        14715396691794537750,
        5471889849122971360,
        9485652462291192587,
    ]


def test_chacha20_nonce_layout_is_counter_first_as_rfc_8439() -> None:
    """Our nonce puts a zero 32-bit little-endian block counter first; RFC 8439 section 2.3.2 block vector."""
    key = bytes(range(32))
    nonce = struct.pack("<I", 1) + bytes.fromhex("000000090000004a00000000")
    block = Cipher(algorithms.ChaCha20(key, nonce), mode=None).encryptor().update(bytes(16))
    assert block.hex() == "10f1e7e4d13b5915500fdd1fa32071c4"


def test_masks_differ_per_round_and_per_mask_set() -> None:
    seed = _seed("s", A, B)
    d7 = mask_set_digest("s", 7, (A, B, C))
    base = pair_mask(seed, 7, d7, 64)
    assert not np.array_equal(base, pair_mask(seed, 8, mask_set_digest("s", 8, (A, B, C)), 64))
    assert not np.array_equal(base, pair_mask(seed, 7, mask_set_digest("s", 7, (A, B)), 64))
    assert np.array_equal(base[:8], pair_mask(seed, 7, d7, 8))  # a prefix of the same stream


def test_own_venue_as_peer_is_refused() -> None:
    with pytest.raises(KeyAgreementError, match="peer_venue: expected a venue other than our own"):
        derive_pair_seed("s", A, private_key(A), A, public_key_bytes(private_key(B)))


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        (b"\x01" * 31, "expected 32 raw key bytes, got 31"),
        ("ab" * 16, "expected an X25519 public key or its 32 raw bytes, got str"),
        (bytes(32), "X25519 refused it"),  # the all-zero (low-order) point
    ],
)
def test_bad_peer_keys_are_refused(key: object, expected: str) -> None:
    with pytest.raises(KeyAgreementError, match=expected):
        derive_pair_seed("s", A, private_key(A), B, key)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", ["", "x" * 257, 5, None, "\udc80"])
def test_ids_are_validated(bad: object) -> None:
    with pytest.raises(KeyAgreementError, match="session_id: expected"):
        derive_pair_seed(bad, A, private_key(A), B, public_key_bytes(private_key(B)))  # type: ignore[arg-type]


def _identities(*venues: str) -> tuple[dict[str, Ed25519PrivateKey], dict[str, object]]:
    signing = {v: Ed25519PrivateKey.from_private_bytes(bytes([n + 1]) * 32) for n, v in enumerate(venues)}
    return signing, {v: k.public_key() for v, k in signing.items()}


def test_signed_announcements_verify_into_a_directory() -> None:
    signing, identities = _identities(A, B)
    items = [announce("s", v, private_key(v), signing[v]) for v in (A, B)]
    directory = verify_announcements("s", items, identities)  # type: ignore[arg-type]
    assert directory == {v: public_key_bytes(private_key(v)) for v in (A, B)}


def test_a_substituted_public_key_is_refused() -> None:
    """The coordinator relays the keys; swapping one for its own breaks the owner's signature."""
    signing, identities = _identities(A, B)
    honest = announce("s", B, private_key(B), signing[B])
    swapped = KeyAnnouncement("s", B, public_key_bytes(private_key("mallory")), honest.signature)
    with pytest.raises(KeyAgreementError, match=r"announcements\[0\]\.signature: not a valid signature"):
        verify_announcements("s", [swapped], identities)  # type: ignore[arg-type]


def test_announcement_refusals() -> None:
    signing, identities = _identities(A, B)
    a = announce("s", A, private_key(A), signing[A])
    with pytest.raises(KeyAgreementError, match=r"session_id: expected 's', got 'old'"):
        verify_announcements("s", [announce("old", A, private_key(A), signing[A])], identities)  # type: ignore[arg-type]
    with pytest.raises(KeyAgreementError, match="'okx' has no registered identity key"):
        verify_announcements("s", [announce("s", C, private_key(C), signing[A])], identities)  # type: ignore[arg-type]
    with pytest.raises(KeyAgreementError, match="signature: not a valid signature"):
        verify_announcements("s", [announce("s", A, private_key(A), signing[B])], identities)  # type: ignore[arg-type]
    with pytest.raises(KeyAgreementError, match="a second announcement for 'binance'"):
        verify_announcements("s", [a, a], identities)  # type: ignore[arg-type]
    with pytest.raises(KeyAgreementError, match="already announced by 'binance'"):
        verify_announcements("s", [a, announce("s", B, private_key(A), signing[B])], identities)  # type: ignore[arg-type]
    with pytest.raises(KeyAgreementError, match="expected a KeyAnnouncement, got dict"):
        verify_announcements("s", [{}], identities)  # type: ignore[list-item, arg-type]
    with pytest.raises(KeyAgreementError, match="signature: expected bytes, got str"):
        verify_announcements("s", [KeyAnnouncement("s", A, a.public_key, "sig")], identities)  # type: ignore[arg-type]
