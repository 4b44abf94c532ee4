"""did:key (Ed25519) and base58btc, checked against the didkit-python test vector in ../shared/data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from hypothesis import given, settings
from hypothesis import strategies as st

from registry.identity import (
    DidKeyPair,
    InvalidDid,
    did_key_from_public_key,
    public_key_from_did_key,
    resolve_did_key,
    verification_method_id,
)
from registry.identity.b64url import b64url_decode, b64url_encode
from registry.identity.base58 import b58decode, b58encode
from registry.identity.did_key import did_of_verification_method
from registry.identity.errors import IdentityError


@pytest.fixture(scope="module")
def vectors(shared_data: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((shared_data / "identity/didkit/didkit_test_vectors.json").read_text())
    return data


def test_base58_known_values() -> None:
    assert b58encode(b"hello world") == "StV1DL6CwTryKyV"
    assert b58encode(b"\x00\x00\x01") == "112"
    assert b58encode(b"") == ""
    assert b58decode("StV1DL6CwTryKyV") == b"hello world"
    assert b58decode("112") == b"\x00\x00\x01"


@settings(max_examples=300)
@given(st.binary(max_size=64))
def test_base58_round_trip(data: bytes) -> None:
    assert b58decode(b58encode(data)) == data


@pytest.mark.parametrize("bad", ["0", "O", "I", "l", "abc+", "é"])
def test_base58_refuses_characters_outside_the_alphabet(bad: str) -> None:
    with pytest.raises(InvalidDid, match="base58btc characters"):
        b58decode("z1" + bad)


def test_did_key_matches_external_vector(vectors: dict[str, Any]) -> None:
    pair = DidKeyPair.from_jwk(vectors["jwk_ed25519_private"])
    assert pair.did == vectors["key_to_did_key"]
    assert pair.verification_method == vectors["key_to_verification_method_key"]
    assert verification_method_id(pair.did) == vectors["key_to_verification_method_key"]
    raw_x = b64url_decode(vectors["jwk_ed25519_private"]["x"], field="x")
    assert did_key_from_public_key(raw_x) == vectors["key_to_did_key"]
    resolved = public_key_from_did_key(vectors["key_to_did_key"])
    assert resolved.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw) == raw_x
    doc = resolve_did_key(vectors["key_to_did_key"])
    assert doc["verificationMethod"][0]["publicKeyJwk"]["x"] == vectors["jwk_ed25519_private"]["x"]
    assert doc["assertionMethod"] == [vectors["key_to_verification_method_key"]]
    assert pair.private_jwk() == vectors["jwk_ed25519_private"] | {"kty": "OKP", "crv": "Ed25519"}
    assert vectors["jwk_ed25519_private"]["d"] not in repr(pair)


@settings(max_examples=100)
@given(st.binary(min_size=32, max_size=32))
def test_did_key_round_trip(raw: bytes) -> None:
    did = did_key_from_public_key(raw)
    assert did.startswith("did:key:z6Mk")  # 0xed01 prefix always encodes to z6Mk
    key = public_key_from_did_key(did)
    assert key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw) == raw
    assert did_of_verification_method(verification_method_id(did)) == did


def _did_from(prefix: bytes, body: bytes) -> str:
    return "did:key:z" + b58encode(prefix + body)


@pytest.mark.parametrize(
    ("did", "message"),
    [
        ("did:web:example.com", "did:key:z"),
        ("did:key:f" + "00" * 34, "did:key:z"),
        (_did_from(b"\xe7\x01", b"\x02" * 33), "multicodec prefix 0xed01"),  # secp256k1
        (_did_from(b"\xed\x01", b"\x01" * 31), "32-byte"),
        (_did_from(b"\xed\x01", b"\x01" * 33), "32-byte"),
        ("did:key:z6Mk0000", "base58btc characters"),
        ("did:key:z" + "1" * 200, "at most 128"),
        # a leading '1' adds a zero byte: same key bytes must not have a second spelling
        ("did:key:z1" + b58encode(b"\xed\x01" + b"\x05" * 32), "multicodec prefix"),
    ],
)
def test_invalid_did_keys(did: str, message: str) -> None:
    with pytest.raises(InvalidDid, match=message):
        public_key_from_did_key(did)


def test_verification_method_refusals() -> None:
    did = DidKeyPair.generate().did
    with pytest.raises(InvalidDid, match="expected"):
        did_of_verification_method(did + "#key-1")
    with pytest.raises(InvalidDid, match="expected"):
        did_of_verification_method(did)


def test_jwk_refusals(vectors: dict[str, Any]) -> None:
    jwk = dict(vectors["jwk_ed25519_private"])
    with pytest.raises(InvalidDid, match="kty 'OKP' and crv 'Ed25519'"):
        DidKeyPair.from_jwk({**jwk, "crv": "X25519"})
    with pytest.raises(InvalidDid, match=r"jwk\.x"):
        DidKeyPair.from_jwk({**jwk, "x": b64url_encode(b"\x01" * 32)})
    with pytest.raises(InvalidDid, match=r"jwk\.d"):
        DidKeyPair.from_jwk({**jwk, "d": b64url_encode(b"\x01" * 31)})
    with pytest.raises(InvalidDid, match="JSON text"):
        DidKeyPair.from_jwk("{not json")
    assert DidKeyPair.from_jwk(json.dumps(jwk)).did == vectors["key_to_did_key"]


def test_b64url_is_strict() -> None:
    assert b64url_decode(b64url_encode(b"\xff\xfe"), field="f") == b"\xff\xfe"
    for bad in ["AA==", "A", "a+b/", "AB"]:  # padding, impossible length, wrong alphabet, trailing bits
        with pytest.raises(IdentityError):
            b64url_decode(bad, field="f")
