"""The CA service: renewal over mTLS for a CSR made on the workload, and what it refuses."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from registry.pki import CertificateBundle, CertificateError, DevCertificateAuthority, SpiffeId, verify_leaf
from registry.pki.certificates import load_certificate_pem
from registry.pki.errors import PkiError
from registry.pki.grpc_tls import secure_channel
from registry.pki.issuance import (
    RENEW_METHOD,
    RenewalError,
    RunningAuthority,
    certificate_request,
    parse_ca_url,
    renew,
    renew_certificate,
    serve_authority,
)

REGION = "eu-west"


@pytest.fixture(scope="module")
def ca() -> DevCertificateAuthority:
    return DevCertificateAuthority.ephemeral(REGION, created_at=datetime.now(UTC) - timedelta(days=1))


@pytest.fixture
def authority(ca: DevCertificateAuthority) -> Iterator[RunningAuthority]:
    events: list[dict[str, object]] = []
    running = serve_authority(ca, emit=events.append, max_ttl=timedelta(minutes=10))
    running.events = events  # type: ignore[attr-defined]
    yield running
    running.stop(0)


def _target(running: RunningAuthority) -> str:
    return f"127.0.0.1:{running.port}"


def test_agent_renews_with_a_key_made_on_the_agent(
    authority: RunningAuthority, ca: DevCertificateAuthority
) -> None:
    old = ca.issue_agent("binance", ttl=timedelta(seconds=60))
    new = renew_certificate(_target(authority), old)
    assert new.spiffe_id == old.spiffe_id
    assert new.key_pem != old.key_pem and new.serial_number != old.serial_number
    assert verify_leaf(new.cert_pem, ca.ca_pem, now=datetime.now(UTC)) == old.spiffe_id
    # Same ttl as the certificate it renews (issue to expiry), counted as renewal counts it.
    assert abs((new.not_after - new.issued_at) - timedelta(seconds=60)) < timedelta(seconds=1)
    assert new.not_after >= old.not_after  # renewed in the same second here
    (event,) = authority.events  # type: ignore[attr-defined]
    assert event["event"] == "certificate_renewed"
    assert event["spiffe_id"] == old.spiffe_id.uri
    assert "key" not in " ".join(event)  # no key material in events


def test_coordinator_renewal_keeps_its_server_names_and_caps_the_ttl(
    authority: RunningAuthority, ca: DevCertificateAuthority
) -> None:
    old = ca.issue_coordinator(ttl=timedelta(hours=2), dns_names=["localhost", "coord.example"])
    new = renew_certificate(_target(authority), old)
    san = load_certificate_pem(new.cert_pem).extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert san.value.get_values_for_type(x509.DNSName) == ["localhost", "coord.example"]
    assert abs((new.not_after - new.issued_at) - timedelta(minutes=10)) < timedelta(seconds=1)  # max_ttl


def test_a_certificate_from_another_ca_cannot_renew(authority: RunningAuthority) -> None:
    foreign = DevCertificateAuthority.ephemeral(REGION).issue_agent("binance")
    with pytest.raises(RenewalError, match="UNAVAILABLE"):
        renew_certificate(_target(authority), foreign, timeout_s=3)


def test_an_expired_certificate_cannot_renew(
    authority: RunningAuthority, ca: DevCertificateAuthority
) -> None:
    expired = ca.issue_agent("kraken", ttl=timedelta(seconds=60), now=datetime.now(UTC) - timedelta(hours=1))
    with pytest.raises(RenewalError, match="UNAVAILABLE"):
        renew_certificate(_target(authority), expired, timeout_s=3)


def _call(running: RunningAuthority, bundle: CertificateBundle, request: bytes) -> grpc.RpcError:
    with (
        secure_channel(_target(running), bundle, server_name="localhost") as channel,
        pytest.raises(grpc.RpcError) as info,
    ):
        channel.unary_unary(RENEW_METHOD, None, None)(request, timeout=5)
    return info.value


def test_a_csr_for_another_identity_is_refused(
    authority: RunningAuthority, ca: DevCertificateAuthority
) -> None:
    bundle = ca.issue_agent("bybit")
    _, csr = certificate_request(SpiffeId.agent(REGION, "binance"))
    error = _call(authority, bundle, csr)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "may name only 'spiffe://eu-west/agent/bybit'" in (error.details() or "")


def test_garbage_is_invalid_argument_and_renewals_are_rate_limited(
    authority: RunningAuthority, ca: DevCertificateAuthority
) -> None:
    bundle = ca.issue_agent("gemini")
    error = _call(authority, bundle, b"not a csr")
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "csr: expected a DER PKCS#10" in (error.details() or "")
    _, csr = certificate_request(bundle.spiffe_id)
    error = _call(authority, bundle, csr)  # within a second of the last attempt
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_renew_refuses_the_old_key_and_a_forged_csr(ca: DevCertificateAuthority) -> None:
    bundle = ca.issue_agent("okx")
    now = datetime.now(UTC)
    old_key = serialization.load_pem_private_key(bundle.key_pem, password=None)
    same = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([]))
        .sign(old_key, hashes.SHA256())  # type: ignore[arg-type]
        .public_bytes(serialization.Encoding.DER)
    )
    with pytest.raises(CertificateError, match="expected a new key"):
        renew(ca, bundle.cert_pem, same, now=now)
    _, csr = certificate_request(bundle.spiffe_id)
    forged = bytearray(csr)
    forged[-5] ^= 0x01  # inside the signature
    with pytest.raises(CertificateError, match="csr"):
        renew(ca, bundle.cert_pem, bytes(forged), now=now)
    other = DevCertificateAuthority.ephemeral(REGION).issue_agent("okx")
    with pytest.raises(PkiError, match="does not verify"):
        renew(ca, other.cert_pem, csr, now=now)


def test_renewal_due_at_two_thirds_of_the_ttl_even_for_short_certificates(
    ca: DevCertificateAuthority,
) -> None:
    now = datetime.now(UTC)
    for ttl in (timedelta(seconds=20), timedelta(seconds=60), timedelta(hours=1)):
        bundle = ca.issue_agent("ftx", ttl=ttl, now=now)
        assert abs(bundle.issued_at - now) < timedelta(seconds=1)  # X.509 times have whole seconds
        assert not bundle.renewal_due(now + ttl * 0.6)
        assert bundle.renewal_due(now + ttl * 0.7)


def test_parse_ca_url() -> None:
    assert parse_ca_url("grpcs://127.0.0.1:8443") == "127.0.0.1:8443"
    assert parse_ca_url("ca.example:443") == "ca.example:443"
    for bad in ("https://ca:1", "grpcs://ca", "ca:0", "ca:99999", "grpcs://ca:1/path"):
        with pytest.raises(PkiError, match="--ca-url"):
            parse_ca_url(bad)
