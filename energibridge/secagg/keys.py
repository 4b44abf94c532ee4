"""Pairwise key agreement: X25519 per session, HKDF-SHA256 to a 32-byte pair seed, signed key announcements.

Each agent makes a fresh X25519 key pair per session. For a pair of venues ``(a, b)``, ``a < b`` by code
point, both sides derive the same seed::

    shared = X25519(own_private, peer_public)
    salt   = SHA256(DOMAIN || "/salt" || lp(session_id))
    info   = DOMAIN || "/pair-seed" || lp(a) || public_a || lp(b) || public_b
    seed   = HKDF-SHA256(shared, salt, info, 32 bytes)

``lp(s)`` is the 4-byte big-endian length of UTF-8 ``s`` followed by those bytes, so no two different
(session, venue, venue) triples share an input. Binding both public keys makes a seed specific to this
exact key exchange. Seeds never leave the agent.

The coordinator relays public keys, so it could substitute its own and sit in the middle. ``KeyAnnouncement``
closes that: each agent signs its X25519 public key, bound to session and venue, with its Ed25519 identity key
(the key of its did:key in the registry); peers accept a directory only through ``verify_announcements``.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from energibridge.secagg.errors import KeyAgreementError
from energibridge.secagg.validation import check_id

DOMAIN = b"arbsphere/secagg/v1"
"""Domain-separation prefix of every hash, KDF and signature input of this protocol version."""

PUBLIC_KEY_BYTES = 32
SEED_BYTES = 32


def length_prefixed(text: str) -> bytes:
    """``lp(text)``: 4-byte big-endian length of the UTF-8 bytes, then the bytes."""
    raw = text.encode("utf-8")
    return struct.pack(">I", len(raw)) + raw


def generate_private_key() -> X25519PrivateKey:
    """A fresh X25519 key for one session (the OS randomness source, via ``cryptography``)."""
    return X25519PrivateKey.generate()


def public_key_bytes(key: X25519PrivateKey | X25519PublicKey) -> bytes:
    """The 32 raw bytes of an X25519 public key (of a private key's public half)."""
    public = key.public_key() if isinstance(key, X25519PrivateKey) else key
    return public.public_bytes(Encoding.Raw, PublicFormat.Raw)


def load_public_key(value: object, field: str) -> X25519PublicKey:
    """An X25519 public key from a key object or its 32 raw bytes."""
    if isinstance(value, X25519PublicKey):
        return value
    if not isinstance(value, bytes | bytearray | memoryview):
        raise KeyAgreementError(
            f"{field}: expected an X25519 public key or its 32 raw bytes, got {type(value).__name__}"
        )
    raw = bytes(value)
    if len(raw) != PUBLIC_KEY_BYTES:
        raise KeyAgreementError(f"{field}: expected {PUBLIC_KEY_BYTES} raw key bytes, got {len(raw)}")
    return X25519PublicKey.from_public_bytes(raw)


def derive_pair_seed(
    session_id: str,
    own_venue: str,
    own_private_key: X25519PrivateKey,
    peer_venue: str,
    peer_public_key: X25519PublicKey | bytes,
) -> bytes:
    """The 32-byte seed shared by ``own_venue`` and ``peer_venue`` in this session (symmetric in the pair)."""
    check_id(session_id, "session_id", KeyAgreementError)
    check_id(own_venue, "own_venue", KeyAgreementError)
    check_id(peer_venue, "peer_venue", KeyAgreementError)
    if own_venue == peer_venue:
        raise KeyAgreementError(f"peer_venue: expected a venue other than our own, got {peer_venue!r}")
    peer_key = load_public_key(peer_public_key, f"public key of {peer_venue!r}")
    try:
        shared = own_private_key.exchange(peer_key)
    except ValueError as exc:  # a low-order point gives the all-zero secret; cryptography refuses it
        raise KeyAgreementError(
            f"public key of {peer_venue!r}: X25519 refused it (low-order point, no shared secret)"
        ) from exc
    own_public = public_key_bytes(own_private_key)
    peer_public = public_key_bytes(peer_key)
    (low_venue, low_key), (high_venue, high_key) = sorted(
        [(own_venue, own_public), (peer_venue, peer_public)], key=lambda pair: pair[0]
    )
    salt_digest = hashes.Hash(hashes.SHA256())
    salt_digest.update(DOMAIN + b"/salt" + length_prefixed(session_id))
    info = (
        DOMAIN + b"/pair-seed" + length_prefixed(low_venue) + low_key + length_prefixed(high_venue) + high_key
    )
    hkdf = HKDF(algorithm=hashes.SHA256(), length=SEED_BYTES, salt=salt_digest.finalize(), info=info)
    return hkdf.derive(shared)


@dataclass(frozen=True, slots=True)
class KeyAnnouncement:
    """An agent's session public key, signed with its Ed25519 identity key; what the coordinator relays."""

    session_id: str
    venue_id: str
    public_key: bytes
    signature: bytes

    def signed_payload(self) -> bytes:
        """The exact bytes the signature covers."""
        return announcement_payload(self.session_id, self.venue_id, self.public_key)


def announcement_payload(session_id: str, venue_id: str, public_key: bytes) -> bytes:
    """``DOMAIN || "/announce" || lp(session_id) || lp(venue_id) || public_key``."""
    return DOMAIN + b"/announce" + length_prefixed(session_id) + length_prefixed(venue_id) + public_key


def announce(
    session_id: str, venue_id: str, private_key: X25519PrivateKey, identity_key: Ed25519PrivateKey
) -> KeyAnnouncement:
    """Sign our session public key for ``venue_id`` with the agent's identity key."""
    check_id(session_id, "session_id", KeyAgreementError)
    check_id(venue_id, "venue_id", KeyAgreementError)
    public = public_key_bytes(private_key)
    signature = identity_key.sign(announcement_payload(session_id, venue_id, public))
    return KeyAnnouncement(session_id, venue_id, public, signature)


def verify_announcements(
    session_id: str,
    announcements: Iterable[KeyAnnouncement],
    identities: Mapping[str, Ed25519PublicKey],
) -> dict[str, bytes]:
    """Check every announcement against the venue's registered identity key; return ``{venue: public key}``.

    Refuses (``KeyAgreementError``) an announcement for another session, from a venue without a registered
    identity, with a bad signature, a second announcement for one venue, or one key shared by two venues.
    """
    check_id(session_id, "session_id", KeyAgreementError)
    directory: dict[str, bytes] = {}
    owners: dict[bytes, str] = {}
    for index, item in enumerate(announcements):
        where = f"announcements[{index}]"
        if not isinstance(item, KeyAnnouncement):
            raise KeyAgreementError(f"{where}: expected a KeyAnnouncement, got {type(item).__name__}")
        venue = check_id(item.venue_id, f"{where}.venue_id", KeyAgreementError)
        if item.session_id != session_id:
            raise KeyAgreementError(
                f"{where}.session_id: expected {session_id!r}, got {item.session_id!r} (from {venue!r})"
            )
        load_public_key(item.public_key, f"{where}.public_key")
        identity = identities.get(venue)
        if identity is None:
            raise KeyAgreementError(f"{where}.venue_id: {venue!r} has no registered identity key")
        if not isinstance(item.signature, bytes | bytearray):
            raise KeyAgreementError(f"{where}.signature: expected bytes, got {type(item.signature).__name__}")
        try:
            identity.verify(bytes(item.signature), item.signed_payload())
        except InvalidSignature as exc:
            raise KeyAgreementError(
                f"{where}.signature: not a valid signature by {venue!r}'s identity key over its public key"
            ) from exc
        if venue in directory:
            raise KeyAgreementError(f"{where}.venue_id: a second announcement for {venue!r}")
        key = bytes(item.public_key)
        if key in owners:
            raise KeyAgreementError(f"{where}.public_key: already announced by {owners[key]!r}")
        owners[key] = venue
        directory[venue] = key
    return directory
