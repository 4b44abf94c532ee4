"""Join-time check (format detection, TLS binding) and key persistence."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from registry.identity import (
    AgentClaims,
    CredentialFormat,
    CredentialInvalid,
    DidKeyPair,
    InvalidDid,
    JwtCredentialService,
    check_join,
    detect_format,
    load_did_key,
    save_did_key,
)
from registry.pki import AuthorityStoreError, SpiffeId

T0 = datetime(2026, 5, 1, tzinfo=UTC)


def test_check_join_binds_the_credential_to_the_tls_peer() -> None:
    registry, agent = DidKeyPair.generate(), DidKeyPair.generate()
    peer = SpiffeId.agent("eu-west", "gemini")
    claims = AgentClaims(agent.did, "gemini", "gemini-spot", "0.3.0", peer)
    token = JwtCredentialService().issue(registry, claims, issued_at=T0, ttl=timedelta(days=1)).encoded
    assert detect_format(token) is CredentialFormat.VC_JWT
    verified = check_join(token, trusted_issuers={registry.did}, peer=peer, now=T0, venue="gemini")
    assert verified.claims.subject_did == agent.did
    with pytest.raises(CredentialInvalid, match="expected the TLS peer"):
        check_join(token, trusted_issuers={registry.did}, peer=SpiffeId.agent("eu-west", "kraken"), now=T0)
    with pytest.raises(CredentialInvalid, match="issuer"):
        check_join(token, trusted_issuers={agent.did}, peer=peer, now=T0)
    with pytest.raises(CredentialInvalid, match="expired"):
        check_join(token, trusted_issuers={registry.did}, peer=peer, now=T0 + timedelta(days=2))


def test_detect_format() -> None:
    assert detect_format(' {"@context": []}') is CredentialFormat.VC_LDP
    with pytest.raises(CredentialInvalid, match="neither"):
        detect_format("a.b")
    with pytest.raises(CredentialInvalid, match="non-empty"):
        detect_format("")


def test_key_persistence(tmp_path: Path) -> None:
    pair = DidKeyPair.generate()
    path = tmp_path / "registry.key.pem"
    save_did_key(path, pair)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_did_key(path).did == pair.did
    os.chmod(path, 0o644)
    with pytest.raises(AuthorityStoreError, match="0600"):
        load_did_key(path)
    os.chmod(path, 0o600)
    path.write_bytes(b"junk")
    with pytest.raises(InvalidDid, match="unparsable"):
        load_did_key(path)
