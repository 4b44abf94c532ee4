"""Certificate profile, offline verification, bundles and the CA directory."""

from __future__ import annotations

import json
import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from registry.pki import (
    AuthorityStoreError,
    CertificateBundle,
    CertificateError,
    CertificateExpired,
    DevCertificateAuthority,
    PeerIdentityError,
    SpiffeId,
    UntrustedCertificate,
    WorkloadRole,
    authorize_peer,
    check_validity,
    peer_spiffe_id,
    read_bundle,
    spiffe_id_from_pem,
    verify_leaf,
    write_bundle,
)
from registry.pki.certificates import certificate_pem, load_certificate_pem, private_key_pem

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def ca() -> DevCertificateAuthority:
    return DevCertificateAuthority.ephemeral("eu-west", clock=lambda: T0)


def test_leaf_profile(ca: DevCertificateAuthority) -> None:
    bundle = ca.issue_agent("binance", ttl=timedelta(minutes=30))
    cert = load_certificate_pem(bundle.cert_pem)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == ["spiffe://eu-west/agent/binance"]
    assert san.get_values_for_type(x509.DNSName) == []
    bc = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and not bc.value.ca
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert ku.critical and ku.value.digital_signature and not ku.value.key_cert_sign
    eku = list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    assert eku == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
    assert cert.not_valid_after_utc == T0 + timedelta(minutes=30)
    assert bundle.not_after == T0 + timedelta(minutes=30)
    assert bundle.spiffe_id == SpiffeId.agent("eu-west", "binance")
    assert "BEGIN PRIVATE KEY" not in repr(bundle)


def test_coordinator_gets_server_sans(ca: DevCertificateAuthority) -> None:
    cert = load_certificate_pem(ca.issue_coordinator().cert_pem)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    eku = set(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    assert eku == {ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.SERVER_AUTH}


def test_ttl_bounds_and_validation(ca: DevCertificateAuthority) -> None:
    with pytest.raises(CertificateError, match="ttl: expected between 1 s and 86400 s, got 90000 s"):
        ca.issue_agent("binance", ttl=timedelta(hours=25))
    with pytest.raises(CertificateError, match="got 0 s"):
        ca.issue_agent("binance", ttl=timedelta(0))
    with pytest.raises(CertificateError, match="naive"):
        ca.issue_agent("binance", now=datetime(2026, 1, 1))
    with pytest.raises(CertificateError, match="region 'eu-west'"):
        ca.issue(SpiffeId.agent("us-east", "binance"))
    with pytest.raises(CertificateError, match=r"dns_names\[0\]"):
        ca.issue_coordinator(dns_names=["bad name"])
    with pytest.raises(CertificateError, match=r"ip_addresses\[0\]"):
        ca.issue_coordinator(ip_addresses=["300.1.1.1"])
    with pytest.raises(CertificateError, match="after the CA itself"):
        ca.issue_agent("binance", now=ca.not_after - timedelta(minutes=1))


def test_verify_leaf_accepts_good_and_refuses_expired_foreign_and_server_only(
    ca: DevCertificateAuthority,
) -> None:
    bundle = ca.issue_agent("kraken", ttl=timedelta(hours=1))
    assert verify_leaf(bundle.cert_pem, ca.ca_pem, now=T0 + timedelta(minutes=5)) == SpiffeId.agent(
        "eu-west", "kraken"
    )
    with pytest.raises(CertificateExpired, match="expired at"):
        verify_leaf(bundle.cert_pem, ca.ca_pem, now=T0 + timedelta(hours=2))
    with pytest.raises(CertificateExpired, match="not valid before"):
        verify_leaf(bundle.cert_pem, ca.ca_pem, now=T0 - timedelta(hours=1))
    foreign = DevCertificateAuthority.ephemeral("eu-west", clock=lambda: T0)
    with pytest.raises(UntrustedCertificate, match="does not verify"):
        verify_leaf(bundle.cert_pem, foreign.ca_pem, now=T0 + timedelta(minutes=5))
    assert spiffe_id_from_pem(bundle.cert_pem).name == "kraken"


def test_validity_window_edges(ca: DevCertificateAuthority) -> None:
    cert = load_certificate_pem(ca.issue_agent("gemini", ttl=timedelta(seconds=10)).cert_pem)
    check_validity(cert, T0 + timedelta(seconds=10))
    with pytest.raises(CertificateExpired):
        check_validity(cert, T0 + timedelta(seconds=11))


def test_renewal_due(ca: DevCertificateAuthority) -> None:
    bundle = ca.issue_agent("bybit", ttl=timedelta(minutes=60))
    # lifetime is 61 min (60 s of clock-skew back-dating); renew when a third is left.
    assert not bundle.renewal_due(T0 + timedelta(minutes=39))
    assert bundle.renewal_due(T0 + timedelta(minutes=41))
    assert bundle.remaining(T0) == timedelta(minutes=60)
    with pytest.raises(CertificateError, match="remaining_fraction"):
        bundle.renewal_due(T0, remaining_fraction=1.5)


def _leaf_with_two_uris(ca_key: ec.EllipticCurvePrivateKey, ca_cert: x509.Certificate) -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "two")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(T0)
        .not_valid_after(T0 + timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.UniformResourceIdentifier("spiffe://eu-west/agent/a"),
                    x509.UniformResourceIdentifier("spiffe://eu-west/coordinator"),
                ]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )


def test_peer_identity_from_auth_context(ca: DevCertificateAuthority) -> None:
    bundle = ca.issue_agent("binance")
    good = {
        "transport_security_type": [b"ssl"],
        "x509_pem_cert": [bundle.cert_pem],
        "peer_spiffe_id": [b"spiffe://eu-west/agent/binance"],
    }
    assert peer_spiffe_id(good) == SpiffeId.agent("eu-west", "binance")
    assert authorize_peer(good, region="eu-west", roles={WorkloadRole.AGENT}, names={"binance"})
    with pytest.raises(PeerIdentityError, match="peer region"):
        authorize_peer(good, region="us-east", roles={WorkloadRole.AGENT})
    with pytest.raises(PeerIdentityError, match="peer role"):
        authorize_peer(good, region="eu-west", roles={WorkloadRole.COORDINATOR})
    with pytest.raises(PeerIdentityError, match="peer name"):
        authorize_peer(good, region="eu-west", roles={WorkloadRole.AGENT}, names={"kraken"})
    with pytest.raises(PeerIdentityError, match="mutual TLS"):
        peer_spiffe_id({**good, "transport_security_type": [b"insecure"]})
    with pytest.raises(PeerIdentityError, match="mutual TLS"):
        peer_spiffe_id({})
    with pytest.raises(PeerIdentityError, match="x509_pem_cert"):
        peer_spiffe_id({"transport_security_type": [b"ssl"]})
    with pytest.raises(PeerIdentityError, match="gRPC core saw"):
        peer_spiffe_id({**good, "peer_spiffe_id": [b"spiffe://eu-west/agent/other"]})
    with pytest.raises(PeerIdentityError, match="list of bytes"):
        peer_spiffe_id({**good, "x509_pem_cert": ["text"]})
    # Values typed as plain bytes (as grpc-stubs declares) are accepted too.
    assert peer_spiffe_id({"transport_security_type": b"ssl", "x509_pem_cert": bundle.cert_pem}).name == (
        "binance"
    )
    # Signed by a throwaway key: peer_spiffe_id only parses (the TLS handshake already checked the chain).
    two = certificate_pem(_leaf_with_two_uris(ec.generate_private_key(ec.SECP256R1()), ca.certificate))
    with pytest.raises(PeerIdentityError, match="exactly one URI SAN"):
        peer_spiffe_id({"transport_security_type": [b"ssl"], "x509_pem_cert": [two]})
    with pytest.raises(PeerIdentityError, match="leaf certificate, got a CA"):
        peer_spiffe_id({"transport_security_type": [b"ssl"], "x509_pem_cert": [ca.ca_pem]})


def test_bundle_from_pem_cross_checks(ca: DevCertificateAuthority) -> None:
    a = ca.issue_agent("binance")
    b = ca.issue_agent("kraken")
    with pytest.raises(CertificateError, match="key_pem: expected the private key of cert_pem"):
        CertificateBundle.from_pem(a.key_pem, b.cert_pem, a.ca_pem)
    with pytest.raises(CertificateError, match="unparsable"):
        CertificateBundle.from_pem(b"junk", a.cert_pem, a.ca_pem)
    with pytest.raises(CertificateError, match="ca_pem"):
        CertificateBundle.from_pem(a.key_pem, a.cert_pem, b"junk")
    record = a.issuance_record()
    assert record["spiffe_id"] == "spiffe://eu-west/agent/binance"
    assert "key" not in json.dumps(record).lower().replace("key_", "")


def test_bundle_files_and_permissions(ca: DevCertificateAuthority, tmp_path: Path) -> None:
    bundle = ca.issue_agent("binance")
    target = write_bundle(tmp_path / "agent", bundle)
    assert stat.S_IMODE((target / "key.pem").stat().st_mode) == 0o600
    assert stat.S_IMODE(target.stat().st_mode) == 0o700
    loaded = read_bundle(target)
    assert loaded == bundle
    os.chmod(target / "key.pem", 0o644)
    with pytest.raises(AuthorityStoreError, match=r"expected permissions 0600.*got 0644"):
        read_bundle(target)


def test_ca_directory_lifecycle(tmp_path: Path) -> None:
    directory = tmp_path / "ca"
    created = DevCertificateAuthority.create(directory, "ap-south", clock=lambda: T0)
    assert stat.S_IMODE((directory / "ca.key.pem").stat().st_mode) == 0o600
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    with pytest.raises(AuthorityStoreError, match="refusing to overwrite"):
        DevCertificateAuthority.create(directory, "ap-south")
    loaded = DevCertificateAuthority.load(directory, clock=lambda: T0)
    assert loaded.region == "ap-south" and loaded.ca_pem == created.ca_pem
    leaf = loaded.issue_auditor("alice")
    assert verify_leaf(leaf.cert_pem, created.ca_pem, now=T0) == SpiffeId.auditor("ap-south", "alice")

    meta = json.loads((directory / "ca.json").read_text())
    (directory / "ca.json").write_text(json.dumps({**meta, "region": "other"}))
    with pytest.raises(AuthorityStoreError, match="does not match"):
        DevCertificateAuthority.load(directory)
    (directory / "ca.json").write_text(json.dumps({**meta, "format": "v0"}))
    with pytest.raises(AuthorityStoreError, match="expected format"):
        DevCertificateAuthority.load(directory)
    (directory / "ca.json").write_text(json.dumps(meta))
    os.chmod(directory / "ca.key.pem", 0o640)
    with pytest.raises(AuthorityStoreError, match="0600"):
        DevCertificateAuthority.load(directory)
    with pytest.raises(AuthorityStoreError, match="found nothing"):
        DevCertificateAuthority.load(tmp_path / "missing")


def test_ca_key_must_match_certificate(ca: DevCertificateAuthority) -> None:
    other = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(CertificateError, match="ca key"):
        DevCertificateAuthority(other, ca.certificate)
    assert private_key_pem(other).startswith(b"-----BEGIN PRIVATE KEY-----")
