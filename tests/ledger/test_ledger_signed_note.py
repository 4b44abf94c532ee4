"""C2SP signed notes and tlog checkpoints against the external vectors; did:key against the didkit vector."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from registry.ledger.did_key import (
    DidKeyError,
    b58decode,
    b58encode,
    did_from_public_key,
    public_bytes_from_did,
)
from registry.ledger.signed_note import (
    Checkpoint,
    NoteError,
    NoteSigner,
    NoteVerifier,
    open_checkpoint,
    open_note,
    parse_note,
    sign_checkpoint,
    sign_note,
)


@pytest.fixture(scope="module")
def note_vectors(shared_data: Path) -> list[dict[str, Any]]:
    vectors: list[dict[str, Any]] = json.loads(
        (shared_data / "ledger/merkle/signed-note/signed_note_vectors.json").read_text()
    )
    assert len(vectors) == 4
    return vectors


def test_every_vector_opens_with_its_key(note_vectors: list[dict[str, Any]]) -> None:
    for vector in note_vectors:
        verifier = NoteVerifier.parse(vector["vkey"])
        assert verifier.to_vkey() == vector["vkey"]
        note = open_note(vector["signed_note"], [verifier])
        assert note.text == vector["text"]
        assert [s.name for s in note.verified] == [verifier.name]


def test_signing_reproduces_the_go_vector_byte_for_byte(note_vectors: list[dict[str, Any]]) -> None:
    vector = note_vectors[0]
    signer = NoteSigner.parse(vector["skey"])
    assert signer.to_skey() == vector["skey"]
    assert signer.verifier().to_vkey() == vector["vkey"]
    assert sign_note(vector["text"], [signer]) == vector["signed_note"]


def test_real_sum_golang_checkpoint(note_vectors: list[dict[str, Any]]) -> None:
    vector = note_vectors[3]
    checkpoint = open_checkpoint(vector["signed_note"], NoteVerifier.parse(vector["vkey"]))
    assert checkpoint.origin == vector["checkpoint"]["origin"]
    assert checkpoint.size == vector["checkpoint"]["size"]
    assert checkpoint.root_hash == base64.b64decode(vector["checkpoint"]["root_b64"])
    assert checkpoint.to_text() == vector["text"]


def test_wrong_known_key_or_tampered_text_is_rejected(note_vectors: list[dict[str, Any]]) -> None:
    peter, enoch = note_vectors[0], note_vectors[1]
    with pytest.raises(NoteError, match="no signature from a trusted key"):
        open_note(peter["signed_note"], [NoteVerifier.parse(enoch["vkey"])])
    tampered = peter["signed_note"].replace("cryptography", "cryptographY", 1)
    with pytest.raises(NoteError, match="does not verify"):
        open_note(tampered, [NoteVerifier.parse(peter["vkey"])])


def test_unknown_signatures_are_ignored_and_both_known_verify(note_vectors: list[dict[str, Any]]) -> None:
    peter, enoch = note_vectors[0], note_vectors[1]
    sig_line = enoch["signed_note"].split("\n\n")[-1]
    both = peter["signed_note"] + sig_line
    note = open_note(both, [NoteVerifier.parse(peter["vkey"])])
    assert len(note.signatures) == 2 and len(note.verified) == 1
    note = open_note(both, [NoteVerifier.parse(peter["vkey"]), NoteVerifier.parse(enoch["vkey"])])
    assert len(note.verified) == 2


@pytest.mark.parametrize(
    ("vkey", "message"),
    [
        ("PeterNeumann+c74f20a3", "expected '<name>"),
        ("PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "does not match"),
        ("PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "lowercase hex"),
        ("PeterNeumann+c74f20a3+ApSc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "expected 0x01"),
        ("PeterNeumann+c74f20a3+!!!", "base64"),
        ("Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "spaces"),
    ],
)
def test_bad_verifier_keys_are_refused_with_the_reason(vkey: str, message: str) -> None:
    with pytest.raises(NoteError, match=message):
        NoteVerifier.parse(vkey)


@pytest.mark.parametrize(
    ("note", "message"),
    [
        ("no blank line\n— a AAAA\n", "no blank line"),
        ("text\n\n- a AAAAAAAA\n", "does not start"),
        ("text\n\n— a AAAAAAAA", "must end with a newline"),
        ("text\n\n— a !!!!\n", "base64"),
        ("te\x07xt\n\n— a AAAAAAAA\n", "control character"),
        ("text\n\n— a AAAA\n", "key ID \\+ signature"),
    ],
)
def test_malformed_notes_are_refused(note: str, message: str) -> None:
    with pytest.raises(NoteError, match=message):
        parse_note(note)


def test_checkpoint_round_trip_with_extensions() -> None:
    signer = NoteSigner.generate("arbsphere.example/log")
    body = Checkpoint("arbsphere.example/log", 42, bytes(range(32)), ("ext line",))
    note = sign_checkpoint(body, signer)
    assert open_checkpoint(note, signer.verifier()) == body
    assert note.startswith(
        "arbsphere.example/log\n42\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\next line\n\n— "
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("origin\n042\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n", "leading zeros"),
        ("origin\n-1\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n", "decimal"),
        ("origin\n1\nAAEC\n", "32 bytes"),
        ("origin\n1\n", "at least 3 lines"),
        ("\n1\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n", "origin"),
        ("origin\n1\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", "end with a newline"),
    ],
)
def test_malformed_checkpoints_are_refused(text: str, message: str) -> None:
    with pytest.raises(NoteError, match=message):
        Checkpoint.parse(text)


def test_did_key_matches_the_didkit_vector(shared_data: Path) -> None:
    vector = json.loads((shared_data / "identity/didkit/didkit_test_vectors.json").read_text())
    jwk = vector["jwk_ed25519_private"]
    seed = base64.urlsafe_b64decode(jwk["d"] + "==")
    key = Ed25519PrivateKey.from_private_bytes(seed)
    did = did_from_public_key(key.public_key())
    assert did == vector["key_to_did_key"]
    assert public_bytes_from_did(did) == base64.urlsafe_b64decode(jwk["x"] + "=")


@pytest.mark.parametrize(
    "did",
    ["did:web:example.com", "did:key:z0OIl", "did:key:z6LSbysY2xFMRpGMhb7tFTLMpeuPRaqaWM1yECx2AtzE3KCc", ""],
)
def test_bad_did_keys_are_refused(did: str) -> None:
    with pytest.raises(DidKeyError):
        public_bytes_from_did(did)


def test_base58_leading_zeros_round_trip() -> None:
    for data in (b"", b"\x00", b"\x00\x00\x01", bytes(range(40))):
        assert b58decode(b58encode(data)) == data
