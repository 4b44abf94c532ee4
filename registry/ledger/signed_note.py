"""C2SP signed notes (Ed25519, signature type 0x01) and C2SP tlog-checkpoint bodies.

A signed note is ``text`` (ending in a newline), a blank line, then one line per signature::

    — <key name> <base64(4-byte key ID || Ed25519 signature over text)>

with ``key ID = SHA-256(name || 0x0A || 0x01 || public key)[:4]``. Keys are exchanged as the strings used by
the Go ``sumdb/note`` package: verifier ``<name>+<hex key ID>+<base64(0x01 || public key)>`` and signer
``PRIVATE+KEY+<name>+<hex key ID>+<base64(0x01 || 32-byte seed)>``. A checkpoint is a note whose text is
``origin``, tree size (decimal), base64 root hash and optional extension lines.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

ALG_ED25519 = 0x01
SIGNATURE_PREFIX = "— "
MAX_SIGNATURES = 100
MAX_NOTE_BYTES = 1 << 20
PRIVATE_KEY_PREFIX = "PRIVATE+KEY+"


class NoteError(ValueError):
    """A note, key string or checkpoint is malformed, or no trusted signature verifies."""


def _b64decode(field: str, value: str) -> bytes:
    try:
        return base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise NoteError(f"{field}: expected standard base64, got {value[:40]!r}") from exc


def check_key_name(name: str) -> str:
    """Key names are non-empty, with no Unicode spaces and no ``+``."""
    if not name:
        raise NoteError("key name: expected a non-empty name")
    if "+" in name or any(ch.isspace() for ch in name):
        raise NoteError(f"key name: must not contain spaces or '+', got {name!r}")
    if any(ord(ch) < 0x20 for ch in name):
        raise NoteError(f"key name: must not contain control characters, got {name!r}")
    return name


def check_note_text(text: str) -> str:
    """Note text ends in a newline and has no ASCII control characters other than newline."""
    if not text.endswith("\n"):
        raise NoteError("note text: must end with a newline")
    for position, ch in enumerate(text):
        if ord(ch) < 0x20 and ch != "\n":
            raise NoteError(f"note text: control character {ord(ch):#04x} at offset {position}")
    return text


def key_id(name: str, public_key: bytes, alg: int = ALG_ED25519) -> int:
    """``SHA-256(name || 0x0A || alg || public key)[:4]`` as a big-endian uint32."""
    digest = hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([alg]) + public_key).digest()
    return int(struct.unpack(">I", digest[:4])[0])


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


@dataclass(frozen=True)
class NoteVerifier:
    """A trusted Ed25519 note key: name, key ID and public key."""

    name: str
    key_id: int
    public_key: Ed25519PublicKey

    @classmethod
    def from_public_key(cls, name: str, public_key: Ed25519PublicKey) -> NoteVerifier:
        check_key_name(name)
        return cls(name, key_id(name, _raw_public(public_key)), public_key)

    @classmethod
    def parse(cls, vkey: str) -> NoteVerifier:
        """Parse ``<name>+<hex key ID>+<base64(0x01 || public key)>``; the key ID must match the key."""
        parts = vkey.strip().split("+", 2)
        if len(parts) != 3:
            raise NoteError(f"verifier key: expected '<name>+<hex id>+<base64 key>', got {vkey[:60]!r}")
        name, id_hex, key_b64 = parts
        check_key_name(name)
        if len(id_hex) != 8 or any(c not in "0123456789abcdef" for c in id_hex):
            raise NoteError(f"verifier key: key ID must be 8 lowercase hex digits, got {id_hex!r}")
        raw = _b64decode("verifier key", key_b64)
        if len(raw) != 33 or raw[0] != ALG_ED25519:
            raise NoteError(
                f"verifier key: expected 0x01 followed by a 32-byte Ed25519 key, got {len(raw)} bytes"
                + (f" with algorithm {raw[0]:#04x}" if raw else "")
            )
        computed = key_id(name, raw[1:])
        if computed != int(id_hex, 16):
            raise NoteError(f"verifier key: key ID {id_hex} does not match the key (computed {computed:08x})")
        return cls(name, computed, Ed25519PublicKey.from_public_bytes(raw[1:]))

    def to_vkey(self) -> str:
        raw = bytes([ALG_ED25519]) + _raw_public(self.public_key)
        return f"{self.name}+{self.key_id:08x}+{base64.b64encode(raw).decode('ascii')}"

    def verify(self, message: bytes, signature: bytes) -> bool:
        try:
            self.public_key.verify(signature, message)
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True)
class NoteSigner:
    """An Ed25519 note signing key (keep the ``to_skey()`` string secret)."""

    name: str
    key_id: int
    private_key: Ed25519PrivateKey

    @classmethod
    def generate(cls, name: str) -> NoteSigner:
        """A fresh key from the OS CSPRNG (via ``cryptography``)."""
        return cls.from_private_key(name, Ed25519PrivateKey.generate())

    @classmethod
    def from_private_key(cls, name: str, private_key: Ed25519PrivateKey) -> NoteSigner:
        check_key_name(name)
        return cls(name, key_id(name, _raw_public(private_key.public_key())), private_key)

    @classmethod
    def parse(cls, skey: str) -> NoteSigner:
        """Parse ``PRIVATE+KEY+<name>+<hex key ID>+<base64(0x01 || seed)>``."""
        text = skey.strip()
        if not text.startswith(PRIVATE_KEY_PREFIX):
            raise NoteError("signer key: expected a string starting with 'PRIVATE+KEY+'")
        parts = text[len(PRIVATE_KEY_PREFIX) :].split("+", 2)
        if len(parts) != 3:
            raise NoteError("signer key: expected 'PRIVATE+KEY+<name>+<hex id>+<base64 key>'")
        name, id_hex, key_b64 = parts
        check_key_name(name)
        raw = _b64decode("signer key", key_b64)
        if len(raw) != 33 or raw[0] != ALG_ED25519:
            raise NoteError(
                f"signer key: expected 0x01 followed by a 32-byte Ed25519 seed, got {len(raw)} bytes"
            )
        signer = cls.from_private_key(name, Ed25519PrivateKey.from_private_bytes(raw[1:]))
        if f"{signer.key_id:08x}" != id_hex:
            raise NoteError(f"signer key: key ID {id_hex!r} does not match the key ({signer.key_id:08x})")
        return signer

    def to_skey(self) -> str:
        seed = self.private_key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        raw = base64.b64encode(bytes([ALG_ED25519]) + seed).decode("ascii")
        return f"{PRIVATE_KEY_PREFIX}{self.name}+{self.key_id:08x}+{raw}"

    def verifier(self) -> NoteVerifier:
        return NoteVerifier(self.name, self.key_id, self.private_key.public_key())

    def sign(self, message: bytes) -> bytes:
        return self.private_key.sign(message)


@dataclass(frozen=True)
class NoteSignature:
    """One parsed signature line."""

    name: str
    key_id: int
    signature: bytes

    def to_line(self) -> str:
        blob = base64.b64encode(struct.pack(">I", self.key_id) + self.signature).decode("ascii")
        return f"{SIGNATURE_PREFIX}{self.name} {blob}\n"


@dataclass(frozen=True)
class Note:
    """An opened note: its text, every signature line, and those verified by a trusted key."""

    text: str
    signatures: tuple[NoteSignature, ...]
    verified: tuple[NoteSignature, ...]


def sign_note(text: str, signers: Sequence[NoteSigner]) -> str:
    """Sign ``text`` with each signer and return the signed note."""
    check_note_text(text)
    if not signers:
        raise NoteError("sign_note: expected at least one signer")
    message = text.encode("utf-8")
    lines = [NoteSignature(s.name, s.key_id, s.sign(message)).to_line() for s in signers]
    return text + "\n" + "".join(lines)


def parse_note(note: str) -> tuple[str, tuple[NoteSignature, ...]]:
    """Split a signed note into its text and signature lines, checking only the syntax."""
    if len(note.encode("utf-8")) > MAX_NOTE_BYTES:
        raise NoteError(f"note: larger than {MAX_NOTE_BYTES} bytes")
    for position, ch in enumerate(note):
        if ord(ch) < 0x20 and ch != "\n":
            raise NoteError(f"note: control character {ord(ch):#04x} at offset {position}")
    split = note.rfind("\n\n")
    if split < 0:
        raise NoteError("note: no blank line separating the text from the signatures")
    text, block = note[: split + 1], note[split + 2 :]
    if not block.endswith("\n"):
        raise NoteError("note: the signature block must end with a newline")
    signatures: list[NoteSignature] = []
    for number, line in enumerate(block[:-1].split("\n"), start=1):
        if not line.startswith(SIGNATURE_PREFIX):
            raise NoteError(f"note: signature line {number} does not start with '— ': {line[:40]!r}")
        name, sep, blob = line[len(SIGNATURE_PREFIX) :].rpartition(" ")
        if not sep:
            raise NoteError(f"note: signature line {number} lacks '<name> <base64>'")
        check_key_name(name)
        raw = _b64decode(f"note signature line {number}", blob)
        if len(raw) < 5:
            raise NoteError(f"note: signature line {number} is {len(raw)} bytes, expected key ID + signature")
        signatures.append(NoteSignature(name, int(struct.unpack(">I", raw[:4])[0]), raw[4:]))
        if len(signatures) > MAX_SIGNATURES:
            raise NoteError(f"note: more than {MAX_SIGNATURES} signatures")
    return text, tuple(signatures)


def open_note(note: str, verifiers: Iterable[NoteVerifier]) -> Note:
    """Verify a signed note against trusted keys (C2SP semantics).

    Signatures from unknown keys (name and ID not both known) are ignored; a signature from a known key that
    fails rejects the whole note; at least one known key must have signed.
    """
    text, signatures = parse_note(note)
    known = {(v.name, v.key_id): v for v in verifiers}
    message = text.encode("utf-8")
    verified: list[NoteSignature] = []
    for sig in signatures:
        verifier = known.get((sig.name, sig.key_id))
        if verifier is None:
            continue
        if not verifier.verify(message, sig.signature):
            raise NoteError(f"note: signature by {sig.name}+{sig.key_id:08x} does not verify")
        verified.append(sig)
    if not verified:
        names = ", ".join(f"{v.name}+{v.key_id:08x}" for v in known.values()) or "none"
        raise NoteError(f"note: no signature from a trusted key (trusted: {names})")
    return Note(text, signatures, tuple(verified))


@dataclass(frozen=True)
class Checkpoint:
    """A C2SP tlog-checkpoint body: the log's origin, tree size and RFC 6962 root hash."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.origin or "\n" in self.origin or any(ord(ch) < 0x20 for ch in self.origin):
            raise NoteError(f"checkpoint origin: expected one non-empty line, got {self.origin!r}")
        if isinstance(self.size, bool) or not isinstance(self.size, int) or self.size < 0:
            raise NoteError(f"checkpoint size: expected an integer >= 0, got {self.size!r}")
        if len(self.root_hash) != 32:
            raise NoteError(f"checkpoint root hash: expected 32 bytes, got {len(self.root_hash)}")
        for line in self.extensions:
            if not line or "\n" in line or any(ord(ch) < 0x20 for ch in line):
                raise NoteError(f"checkpoint extension line: expected one non-empty line, got {line!r}")

    def to_text(self) -> str:
        root = base64.b64encode(self.root_hash).decode("ascii")
        return "".join(f"{line}\n" for line in (self.origin, str(self.size), root, *self.extensions))

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        check_note_text(text)
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise NoteError(f"checkpoint: expected at least 3 lines (origin, size, root), got {len(lines)}")
        origin, size_text, root_b64, *extensions = lines
        if not size_text.isascii() or not size_text.isdigit() or (size_text != "0" and size_text[0] == "0"):
            raise NoteError(f"checkpoint size: expected a decimal without leading zeros, got {size_text!r}")
        root = _b64decode("checkpoint root hash", root_b64)
        return cls(origin, int(size_text), root, tuple(extensions))


def sign_checkpoint(checkpoint: Checkpoint, signer: NoteSigner) -> str:
    """The signed checkpoint note."""
    return sign_note(checkpoint.to_text(), [signer])


def open_checkpoint(note: str, verifier: NoteVerifier) -> Checkpoint:
    """Verify a signed checkpoint against the log's key and parse its body."""
    opened = open_note(note, [verifier])
    checkpoint = Checkpoint.parse(opened.text)
    return checkpoint
