"""Persist a DID's Ed25519 key: PKCS#8 PEM in a 0600 file (the registry's issuer key, agents' keys)."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from registry.identity.did_key import DidKeyPair
from registry.identity.errors import InvalidDid
from registry.pki.store import read_file, write_secret_file


def save_did_key(path: Path, pair: DidKeyPair) -> None:
    """Write ``pair``'s private key to ``path`` (mode 0600, atomic)."""
    pem = pair.private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    write_secret_file(Path(path), pem)


def load_did_key(path: Path) -> DidKeyPair:
    """Read a key written by ``save_did_key``; refuses group/other-readable files and non-Ed25519 keys."""
    pem = read_file(Path(path), secret=True)
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError):
        raise InvalidDid(f"{path}: expected an unencrypted PEM private key, got unparsable data") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise InvalidDid(f"{path}: expected an Ed25519 key, got {type(key).__name__}")
    return DidKeyPair(key)
