"""Ledger entries: what is recorded, its deterministic bytes, and the actor's Ed25519 signature.

An entry's *signing bytes* are a fixed binary layout (below) covering its position (index, previous entry
hash), its kind, time, actor and the SHA-256 of its payload; the actor signs them. The Merkle leaf is
``signing bytes || signature`` and the entry hash is the RFC 9162 leaf hash of it, which the next entry names
as ``previous_hash``: the hash chain and the tree commit to the same bytes. Only the payload's hash is in the
leaf, so payload bytes are checked against it rather than hashed into the tree.

Signing bytes (big-endian)::

    b"arbsphere/ledger/entry/v1\\n" || index u64 || kind u32 || timestamp_unix_ms i64
    || len(actor) u16 || actor (UTF-8 did:key) || payload_hash[32] || previous_hash[32]
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, field
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from energibridge.v1 import ir_pb2
from registry.ledger.did_key import DidKeyError, did_from_public_key, public_key_from_did
from registry.ledger.merkle import HASH_SIZE, hash_leaf

ENTRY_DOMAIN = b"arbsphere/ledger/entry/v1\n"
GENESIS_PREVIOUS_HASH = bytes(HASH_SIZE)
SIGNATURE_SIZE = 64
MAX_PAYLOAD_BYTES = 1 << 20
MAX_ACTOR_BYTES = 128
MAX_INDEX = (1 << 63) - 1
MAX_TIMESTAMP_MS = (1 << 63) - 1
IR_VERSION = (1, 0, 0)
KIND_PREFIX = "AUDIT_KIND_"

_HEADER = struct.Struct(">QIq")


class EntryError(ValueError):
    """An entry field is out of range or malformed; the message names the field."""


def kind_name(kind: int) -> str:
    """``AUDIT_KIND_JOIN`` -> ``"JOIN"``; raises :class:`EntryError` for values outside the IR enum."""
    try:
        return ir_pb2.AuditKind.Name(ir_pb2.AuditKind.ValueType(kind))[len(KIND_PREFIX) :]
    except ValueError as exc:
        raise EntryError(f"kind: {kind!r} is not an AuditKind value") from exc


def parse_kind(value: str | int) -> int:
    """Accept ``"JOIN"``, ``"join"``, ``"AUDIT_KIND_JOIN"`` or the enum number; refuse UNSPECIFIED."""
    if isinstance(value, bool):
        raise EntryError(f"kind: expected an AuditKind name or number, got {value!r}")
    if isinstance(value, int):
        number = value
    else:
        text = value.strip().upper()
        if text.isascii() and text.isdigit():
            if len(text) > 10:
                raise EntryError(f"kind: {value[:40]!r} is not an AuditKind value")
            number = int(text)
        else:
            name = text if text.startswith(KIND_PREFIX) else KIND_PREFIX + text
            try:
                number = int(ir_pb2.AuditKind.Value(name))
            except ValueError as exc:
                allowed = ", ".join(kind_names())
                raise EntryError(f"kind: unknown kind {value!r}; expected one of {allowed}") from exc
    kind_name(number)
    if number == ir_pb2.AUDIT_KIND_UNSPECIFIED:
        raise EntryError("kind: AUDIT_KIND_UNSPECIFIED is not a recordable kind")
    return number


def kind_names() -> list[str]:
    """Short names of every recordable kind, in enum order."""
    names = ir_pb2.AuditKind.keys()
    return [name[len(KIND_PREFIX) :] for name in names if name != "AUDIT_KIND_UNSPECIFIED"]


def payload_hash(payload: bytes) -> bytes:
    return hashlib.sha256(payload).digest()


def signing_bytes(
    *, index: int, kind: int, timestamp_ms: int, actor_did: str, payload_digest: bytes, previous_hash: bytes
) -> bytes:
    """The bytes the actor signs (layout in the module docstring)."""
    actor = actor_did.encode("utf-8")
    return b"".join(
        (
            ENTRY_DOMAIN,
            _HEADER.pack(index, kind, timestamp_ms),
            struct.pack(">H", len(actor)),
            actor,
            payload_digest,
            previous_hash,
        )
    )


class EntrySigner(Protocol):
    """Who signs an entry: an Ed25519 key named by a did:key."""

    @property
    def did(self) -> str: ...

    def sign(self, message: bytes) -> bytes: ...


@dataclass(frozen=True)
class Ed25519Signer:
    """An :class:`EntrySigner` over a local Ed25519 key; its DID is derived from the key."""

    private_key: Ed25519PrivateKey
    did: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "did", did_from_public_key(self.private_key.public_key()))

    @classmethod
    def generate(cls) -> Ed25519Signer:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_seed(cls, seed: bytes) -> Ed25519Signer:
        if len(seed) != 32:
            raise EntryError(f"signer seed: expected 32 bytes, got {len(seed)}")
        return cls(Ed25519PrivateKey.from_private_bytes(seed))

    def sign(self, message: bytes) -> bytes:
        return self.private_key.sign(message)


def _check_int(name: str, value: object, upper: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= upper:
        raise EntryError(f"{name}: expected an integer in [0, {upper}], got {value!r}")


def _check_bytes(name: str, value: object, size: int) -> None:
    if not isinstance(value, bytes) or len(value) != size:
        got = f"{len(value)} bytes" if isinstance(value, bytes) else type(value).__name__
        raise EntryError(f"{name}: expected {size} bytes, got {got}")


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One recorded event. Construction checks shapes only; :mod:`registry.ledger.verify` checks meaning."""

    index: int
    kind: int
    timestamp_ms: int
    actor_did: str
    payload: bytes
    payload_hash: bytes
    previous_hash: bytes
    signature: bytes

    def __post_init__(self) -> None:
        _check_int("index", self.index, MAX_INDEX)
        _check_int("timestamp_ms", self.timestamp_ms, MAX_TIMESTAMP_MS)
        if isinstance(self.kind, bool) or not isinstance(self.kind, int):
            raise EntryError(f"kind: expected an AuditKind number, got {self.kind!r}")
        if not isinstance(self.actor_did, str) or len(self.actor_did.encode("utf-8")) > MAX_ACTOR_BYTES:
            raise EntryError(f"actor_did: expected a did:key of at most {MAX_ACTOR_BYTES} bytes")
        if not isinstance(self.payload, bytes) or len(self.payload) > MAX_PAYLOAD_BYTES:
            raise EntryError(f"payload: expected at most {MAX_PAYLOAD_BYTES} bytes")
        _check_bytes("payload_hash", self.payload_hash, HASH_SIZE)
        _check_bytes("previous_hash", self.previous_hash, HASH_SIZE)
        _check_bytes("signature", self.signature, SIGNATURE_SIZE)

    @classmethod
    def create(
        cls,
        *,
        index: int,
        kind: int,
        timestamp_ms: int,
        payload: bytes,
        previous_hash: bytes,
        signer: EntrySigner,
    ) -> LedgerEntry:
        """Build and sign the entry at ``index`` following the entry whose hash is ``previous_hash``."""
        parse_kind(kind)
        if not isinstance(payload, bytes):
            raise EntryError(f"payload: expected bytes, got {type(payload).__name__}")
        if len(payload) > MAX_PAYLOAD_BYTES:
            raise EntryError(f"payload: {len(payload)} bytes exceeds the {MAX_PAYLOAD_BYTES}-byte limit")
        _check_int("index", index, MAX_INDEX)
        _check_int("timestamp_ms", timestamp_ms, MAX_TIMESTAMP_MS)
        digest = payload_hash(payload)
        message = signing_bytes(
            index=index,
            kind=kind,
            timestamp_ms=timestamp_ms,
            actor_did=signer.did,
            payload_digest=digest,
            previous_hash=previous_hash,
        )
        return cls(
            index, kind, timestamp_ms, signer.did, payload, digest, previous_hash, signer.sign(message)
        )

    def signing_bytes(self) -> bytes:
        return signing_bytes(
            index=self.index,
            kind=self.kind,
            timestamp_ms=self.timestamp_ms,
            actor_did=self.actor_did,
            payload_digest=self.payload_hash,
            previous_hash=self.previous_hash,
        )

    def leaf_data(self) -> bytes:
        """The Merkle leaf input: signing bytes followed by the 64-byte signature."""
        return self.signing_bytes() + self.signature

    def entry_hash(self) -> bytes:
        """RFC 9162 leaf hash of :meth:`leaf_data`; the next entry's ``previous_hash``."""
        return hash_leaf(self.leaf_data())

    def signature_valid(self) -> bool:
        """Whether ``signature`` is the actor DID's Ed25519 signature over the signing bytes."""
        try:
            key = public_key_from_did(self.actor_did)
            key.verify(self.signature, self.signing_bytes())
        except (DidKeyError, InvalidSignature, ValueError):
            return False
        return True

    def to_proto(self) -> ir_pb2.AuditLogEntry:
        major, minor, patch = IR_VERSION
        return ir_pb2.AuditLogEntry(
            ir_version=ir_pb2.IrVersion(major=major, minor=minor, patch=patch),
            index=self.index,
            kind=ir_pb2.AuditKind.ValueType(self.kind),
            timestamp_unix_ms=self.timestamp_ms,
            actor_did=self.actor_did,
            payload=self.payload,
            payload_hash=self.payload_hash,
            previous_hash=self.previous_hash,
            signature=self.signature,
        )

    @classmethod
    def from_proto(cls, message: ir_pb2.AuditLogEntry) -> LedgerEntry:
        if message.ir_version.major != IR_VERSION[0]:
            raise EntryError(f"ir_version: expected major {IR_VERSION[0]}, got {message.ir_version.major}")
        return cls(
            index=message.index,
            kind=int(message.kind),
            timestamp_ms=message.timestamp_unix_ms,
            actor_did=message.actor_did,
            payload=message.payload,
            payload_hash=message.payload_hash,
            previous_hash=message.previous_hash,
            signature=message.signature,
        )
