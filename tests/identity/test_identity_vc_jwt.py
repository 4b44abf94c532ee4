"""Agent credentials as EdDSA VC-JWTs: issue, verify, and every way verification must fail."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from registry.identity import (
    AgentClaims,
    CredentialFormat,
    CredentialInvalid,
    CredentialService,
    DidKeyPair,
    JwtCredentialService,
    build_credential,
    parse_agent_credential,
    require_binding,
    validate_vc_shape,
)
from registry.identity.b64url import b64url_decode, b64url_encode
from registry.identity.jws import canonical_json, sign_compact
from registry.pki import SpiffeId

T0 = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
REGISTRY = DidKeyPair.generate()
AGENT = DidKeyPair.generate()
SERVICE = JwtCredentialService()


def _claims(venue: str = "binance", agent: DidKeyPair = AGENT) -> AgentClaims:
    return AgentClaims(agent.did, venue, "binance-spot", "1.4.2", SpiffeId.agent("eu-west", venue))


def _issue(**kwargs: Any) -> str:
    args: dict[str, Any] = {"issued_at": T0, "ttl": timedelta(days=7)} | kwargs
    return SERVICE.issue(REGISTRY, _claims(), **args).encoded


def _verify(token: str, now: datetime = T0 + timedelta(hours=1), trusted: set[str] | None = None) -> Any:
    return SERVICE.verify(token, trusted_issuers=trusted or {REGISTRY.did}, now=now)


def _segments(token: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    head, body, sig = token.split(".")
    return (
        json.loads(b64url_decode(head, field="h")),
        json.loads(b64url_decode(body, field="p")),
        sig,
    )


def _reassemble(header: dict[str, Any], payload: dict[str, Any], sig: str) -> str:
    return f"{b64url_encode(canonical_json(header))}.{b64url_encode(canonical_json(payload))}.{sig}"


def test_issue_and_verify() -> None:
    issued = SERVICE.issue(
        REGISTRY, _claims(), issued_at=T0, ttl=timedelta(days=7), credential_id="urn:uuid:1"
    )
    assert issued.format is CredentialFormat.VC_JWT
    header, payload, _ = _segments(issued.encoded)
    assert header == {"alg": "EdDSA", "typ": "JWT", "kid": REGISTRY.verification_method}
    assert set(payload) == {"iss", "sub", "nbf", "iat", "exp", "jti", "vc"}
    assert payload["iss"] == REGISTRY.did and payload["sub"] == AGENT.did and payload["jti"] == "urn:uuid:1"
    assert payload["exp"] - payload["nbf"] == 7 * 86400
    verified = _verify(issued.encoded)
    assert verified.claims == _claims()
    assert verified.issuer_did == REGISTRY.did
    assert verified.parsed.expires_at == T0 + timedelta(days=7)
    record = issued.ledger_record()
    assert record["spiffe_id"] == "spiffe://eu-west/agent/binance" and len(record["sha256"]) == 64


def test_both_services_satisfy_the_protocol() -> None:
    from registry.identity import DidkitCredentialService

    services: list[CredentialService] = [JwtCredentialService(), DidkitCredentialService()]
    assert [s.format for s in services] == [CredentialFormat.VC_JWT, CredentialFormat.VC_LDP]


def test_credential_has_the_w3c_vc_1_1_shape(shared_data: Path) -> None:
    example = json.loads((shared_data / "identity/didkit/w3c_vc_v1_1_example1.json").read_text())[
        "credential"
    ]
    validate_vc_shape(example)  # the spec's own example passes our shape check
    ours = build_credential(
        REGISTRY.did, _claims(), issued_at=T0, expires_at=T0 + timedelta(days=1), credential_id="urn:uuid:x"
    )
    validate_vc_shape(ours)
    # Same top-level properties as the spec example (minus its embedded proof), plus expirationDate.
    assert set(ours) == (set(example) - {"proof"}) | {"expirationDate"}
    assert ours["@context"][0] == example["@context"][0]
    assert ours["type"][0] == example["type"][0] == "VerifiableCredential"
    assert ours["issuanceDate"] == "2026-03-01T09:30:00Z"
    # ...but it is not one of our agent credentials, and the refusal names the field.
    with pytest.raises(CredentialInvalid, match="type: expected"):
        parse_agent_credential(example)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda c: c.pop("@context"), "@context"),
        (lambda c: c.update(type=["AlumniCredential"]), "type"),
        (lambda c: c.update(issuer=42), "issuer"),
        (lambda c: c.update(issuer={"name": "x"}), "issuer"),
        (lambda c: c.update(issuanceDate="yesterday"), "issuanceDate"),
        (lambda c: c.update(issuanceDate="2020-01-01T00:00:00"), "time zone"),
        (lambda c: c.update(expirationDate=5), "expirationDate"),
        (lambda c: c.update(credentialSubject="did:example:x"), "credentialSubject"),
        (lambda c: c.update(credentialSubject=[]), "credentialSubject"),
        (lambda c: c.update(id="not a uri"), "id: expected a URI"),
    ],
)
def test_shape_refusals_name_the_field(mutate: Any, message: str, shared_data: Path) -> None:
    example = json.loads((shared_data / "identity/didkit/w3c_vc_v1_1_example1.json").read_text())[
        "credential"
    ]
    mutate(example)
    with pytest.raises(CredentialInvalid, match=message):
        validate_vc_shape(example)


def test_tampering_fails() -> None:
    token = _issue()
    header, payload, sig = _segments(token)
    payload["vc"]["credentialSubject"]["venue"] = "kraken"
    payload["vc"]["credentialSubject"]["spiffeId"] = "spiffe://eu-west/agent/kraken"
    with pytest.raises(CredentialInvalid, match="signature: does not verify"):
        _verify(_reassemble(header, payload, sig))
    _, payload, sig = _segments(token)
    payload["exp"] += 86400 * 365
    with pytest.raises(CredentialInvalid, match="signature: does not verify"):
        _verify(_reassemble(header, payload, sig))
    flipped = sig[:10] + ("A" if sig[10] != "A" else "B") + sig[11:]
    with pytest.raises(CredentialInvalid, match="signature"):
        _verify(token.rsplit(".", 1)[0] + "." + flipped)
    with pytest.raises(CredentialInvalid, match="3 dot-separated"):
        _verify(token + ".x")


def test_expiry_and_not_before() -> None:
    token = _issue(ttl=timedelta(hours=1))
    _verify(token, now=T0 + timedelta(minutes=59, seconds=59))
    with pytest.raises(CredentialInvalid, match="expired at 2026-03-01T10:30:00Z"):
        _verify(token, now=T0 + timedelta(hours=1))
    _verify(token, now=T0 - timedelta(seconds=60))  # clock-skew leeway on the start only
    with pytest.raises(CredentialInvalid, match="not valid before"):
        _verify(token, now=T0 - timedelta(seconds=61))


def test_wrong_issuer_fails() -> None:
    token = _issue()
    other = DidKeyPair.generate()
    with pytest.raises(CredentialInvalid, match="issuer: expected one of"):
        _verify(token, trusted={other.did})
    # A forger signs with its own key but claims to be the registry.
    forged = SERVICE.issue(other, _claims(), issued_at=T0, ttl=timedelta(days=1)).encoded
    header, payload, sig = _segments(forged)
    payload["iss"] = REGISTRY.did
    payload["vc"]["issuer"] = REGISTRY.did
    header["kid"] = REGISTRY.verification_method
    with pytest.raises(CredentialInvalid, match="signature: does not verify"):
        _verify(_reassemble(header, payload, sig))


def _signed(header: dict[str, Any], payload: dict[str, Any]) -> str:
    return sign_compact(header, payload, REGISTRY)


def test_header_refusals() -> None:
    header, payload, sig = _segments(_issue())
    for bad_header, message in [
        ({**header, "alg": "none"}, "alg: expected 'EdDSA'"),
        ({**header, "alg": "HS256"}, "alg: expected 'EdDSA'"),
        ({**header, "crit": ["b64"]}, "crit"),
    ]:
        with pytest.raises(CredentialInvalid, match=message):
            _verify(_reassemble(bad_header, payload, sig))
    with pytest.raises(CredentialInvalid, match="kid: expected"):
        _verify(_signed({"typ": "JWT", "kid": REGISTRY.did + "#other"}, payload))
    with pytest.raises(CredentialInvalid, match="kid: expected"):
        _verify(_signed({"typ": "JWT"}, payload))
    with pytest.raises(CredentialInvalid, match="typ: expected 'JWT'"):
        _verify(_signed({"typ": "vc+ld+jwt", "kid": REGISTRY.verification_method}, payload))


def test_claims_must_agree_with_the_credential() -> None:
    _, payload, _ = _segments(_issue())
    kid = {"typ": "JWT", "kid": REGISTRY.verification_method}
    for claim, value, message in [
        ("sub", DidKeyPair.generate().did, "JWT sub"),
        ("jti", "urn:uuid:other", "JWT jti"),
        ("nbf", payload["nbf"] - 1, "JWT nbf"),
        ("exp", payload["exp"] + 1, "JWT exp"),
        ("exp", "tomorrow", "NumericDate"),
        ("exp", True, "NumericDate"),
    ]:
        with pytest.raises(CredentialInvalid, match=message):
            _verify(_signed(kid, {**payload, claim: value}))
    with pytest.raises(CredentialInvalid, match="credential: expected a JSON object"):
        _verify(_signed(kid, {k: v for k, v in payload.items() if k != "vc"}))


def test_duplicate_json_members_are_refused() -> None:
    header, payload, sig = _segments(_issue())
    body = canonical_json(payload).decode()
    duplicated = body[:-1] + ',"sub":"did:key:zevil"}'
    token = f"{b64url_encode(canonical_json(header))}.{b64url_encode(duplicated.encode())}.{sig}"
    with pytest.raises(CredentialInvalid, match="duplicate member 'sub'"):
        _verify(token)


def test_claim_validation() -> None:
    with pytest.raises(CredentialInvalid, match="adapter_version"):
        AgentClaims(AGENT.did, "binance", "binance-spot", "1.4", SpiffeId.agent("eu", "binance"))
    with pytest.raises(CredentialInvalid, match="spiffe_id: expected spiffe://<region>/agent/binance"):
        AgentClaims(AGENT.did, "binance", "binance-spot", "1.4.0", SpiffeId.agent("eu", "kraken"))
    with pytest.raises(CredentialInvalid, match="spiffe_id"):
        AgentClaims(AGENT.did, "binance", "binance-spot", "1.4.0", SpiffeId.coordinator("eu"))
    with pytest.raises(CredentialInvalid, match="subject_did"):
        AgentClaims("did:web:x", "binance", "binance-spot", "1.4.0", SpiffeId.agent("eu", "binance"))
    with pytest.raises(CredentialInvalid, match="venue"):
        AgentClaims(AGENT.did, "Binance", "binance-spot", "1.4.0", SpiffeId.agent("eu", "binance"))
    with pytest.raises(CredentialInvalid, match="ttl"):
        SERVICE.issue(REGISTRY, _claims(), issued_at=T0, ttl=timedelta(days=400))
    with pytest.raises(CredentialInvalid, match="issued_at"):
        SERVICE.issue(REGISTRY, _claims(), issued_at=datetime(2026, 1, 1), ttl=timedelta(days=1))


def test_require_binding_to_the_tls_peer() -> None:
    verified = _verify(_issue())
    assert require_binding(verified, peer=SpiffeId.agent("eu-west", "binance"), venue="binance") is verified
    with pytest.raises(CredentialInvalid, match="expected the TLS peer"):
        require_binding(verified, peer=SpiffeId.agent("eu-west", "kraken"))
    with pytest.raises(CredentialInvalid, match="expected the TLS peer"):
        require_binding(verified, peer=SpiffeId.agent("us-east", "binance"))
    with pytest.raises(CredentialInvalid, match="venue"):
        require_binding(verified, peer=SpiffeId.agent("eu-west", "binance"), venue="kraken")


@settings(max_examples=25, deadline=None)
@given(
    venue=st.from_regex(r"[a-z][a-z0-9-]{0,20}", fullmatch=True),
    version=st.tuples(st.integers(0, 99), st.integers(0, 99), st.integers(0, 99)),
    ttl_s=st.integers(1, 366 * 86400),
    offset_s=st.integers(0, 10**6),
)
def test_round_trip_property(venue: str, version: tuple[int, int, int], ttl_s: int, offset_s: int) -> None:
    claims = AgentClaims(AGENT.did, venue, "adapter", "{}.{}.{}".format(*version), SpiffeId.agent("r", venue))
    start = T0 + timedelta(seconds=offset_s)
    token = SERVICE.issue(REGISTRY, claims, issued_at=start, ttl=timedelta(seconds=ttl_s)).encoded
    assert SERVICE.verify(token, trusted_issuers={REGISTRY.did}, now=start).claims == claims
    with pytest.raises(CredentialInvalid, match="expired"):
        SERVICE.verify(token, trusted_issuers={REGISTRY.did}, now=start + timedelta(seconds=ttl_s))
