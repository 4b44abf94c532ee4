"""Pure X.509 logic: the region root CA, short-lived X.509-SVID leaves, parsing and checking them.

Keys are ECDSA P-256: BoringSSL (inside grpcio) accepts it for TLS 1.3 mutual authentication, and
``cryptography`` generates it from the OS CSPRNG. Ed25519 certificates were tried with grpcio 1.85 and
the handshake fails (``NO_COMMON_SIGNATURE_ALGORITHMS``): gRPC does not offer Ed25519 signature schemes.
Every function takes ``now`` explicitly so that issuance and expiry are deterministic in tests; nothing
here touches the file system.

Leaf profile (SPIFFE X.509-SVID): exactly one URI SAN (the SPIFFE ID), ``CA:FALSE`` (critical),
``digitalSignature`` key usage (critical), extended key usage ``clientAuth``, plus ``serverAuth`` only
when DNS/IP SANs are requested (servers). An agent certificate therefore cannot pose as a server.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from registry.pki.errors import CertificateError, CertificateExpired, UntrustedCertificate
from registry.pki.spiffe import SpiffeId, validate_region

DEFAULT_LEAF_TTL = timedelta(hours=1)
MIN_LEAF_TTL = timedelta(seconds=1)
MAX_LEAF_TTL = timedelta(hours=24)
DEFAULT_CA_VALIDITY = timedelta(days=365)
MAX_CA_VALIDITY = timedelta(days=3650)
# Leaves start a little in the past so a peer whose clock lags ours by up to this still accepts them.
CLOCK_SKEW = timedelta(seconds=60)
DEFAULT_SERVER_DNS_NAMES: tuple[str, ...] = ("localhost",)
DEFAULT_SERVER_IPS: tuple[str, ...] = ("127.0.0.1",)
ORGANIZATION = "ArbSphere"


def require_aware(value: datetime, *, field: str) -> datetime:
    """Return ``value`` in UTC; naive datetimes are refused (their meaning depends on the host)."""
    if not isinstance(value, datetime):
        raise CertificateError(f"{field}: expected a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise CertificateError(f"{field}: expected a timezone-aware datetime, got naive {value.isoformat()}")
    return value.astimezone(UTC)


def _require_ttl(ttl: timedelta, *, field: str, low: timedelta, high: timedelta) -> timedelta:
    if not isinstance(ttl, timedelta):
        raise CertificateError(f"{field}: expected a timedelta, got {type(ttl).__name__}")
    if not low <= ttl <= high:
        raise CertificateError(
            f"{field}: expected between {low.total_seconds():g} s and {high.total_seconds():g} s, "
            f"got {ttl.total_seconds():g} s"
        )
    return ttl


def generate_private_key() -> ec.EllipticCurvePrivateKey:
    """A fresh P-256 key from the OS CSPRNG (via OpenSSL)."""
    return ec.generate_private_key(ec.SECP256R1())


def private_key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    """Unencrypted PKCS#8 PEM (the files holding it are 0600)."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def certificate_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def load_private_key_pem(pem: bytes, *, field: str = "key_pem") -> ec.EllipticCurvePrivateKey:
    """Parse a PEM private key and require P-256 ECDSA."""
    if not isinstance(pem, bytes):
        raise CertificateError(f"{field}: expected PEM bytes, got {type(pem).__name__}")
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise CertificateError(
            f"{field}: expected an unencrypted PEM private key, got unparsable data"
        ) from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise CertificateError(f"{field}: expected an ECDSA P-256 key, got {type(key).__name__}")
    return key


def load_certificates_pem(pem: bytes, *, field: str = "cert_pem") -> list[x509.Certificate]:
    """Parse one or more concatenated PEM certificates (at least one)."""
    if not isinstance(pem, bytes):
        raise CertificateError(f"{field}: expected PEM bytes, got {type(pem).__name__}")
    try:
        certs = x509.load_pem_x509_certificates(pem)
    except ValueError as exc:
        raise CertificateError(f"{field}: expected PEM certificate(s), got unparsable data") from exc
    if not certs:
        raise CertificateError(f"{field}: expected at least one PEM certificate, got none")
    return certs


def load_certificate_pem(pem: bytes, *, field: str = "cert_pem") -> x509.Certificate:
    """Parse the first PEM certificate in ``pem``."""
    return load_certificates_pem(pem, field=field)[0]


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def build_ca_certificate(
    key: ec.EllipticCurvePrivateKey,
    region: str,
    *,
    now: datetime,
    validity: timedelta = DEFAULT_CA_VALIDITY,
) -> x509.Certificate:
    """A self-signed region root: ``CA:TRUE, pathlen:0``, URI SAN ``spiffe://<region>``."""
    validate_region(region)
    now = require_aware(now, field="now")
    _require_ttl(validity, field="validity", low=timedelta(hours=1), high=MAX_CA_VALIDITY)
    public = key.public_key()
    ski = x509.SubjectKeyIdentifier.from_public_key(public)
    name = _name(f"ArbSphere dev root CA {region}")
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(now + validity)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ski, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
        .add_extension(
            x509.SubjectAlternativeName([x509.UniformResourceIdentifier(f"spiffe://{region}")]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )


def ca_region(ca_cert: x509.Certificate) -> str:
    """The region (trust domain) a CA certificate was built for, from its ``spiffe://<region>`` SAN."""
    uris = _uri_sans(ca_cert)
    if len(uris) != 1 or not uris[0].startswith("spiffe://") or "/" in uris[0][len("spiffe://") :]:
        raise CertificateError(f"ca_pem: expected exactly one URI SAN 'spiffe://<region>', got {uris}")
    return validate_region(uris[0][len("spiffe://") :], field="ca_pem region")


def _uri_sans(cert: x509.Certificate) -> list[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return list(san.get_values_for_type(x509.UniformResourceIdentifier))


def _parse_ips(ip_addresses: Sequence[str]) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    out: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = []
    for i, raw in enumerate(ip_addresses):
        try:
            out.append(ipaddress.ip_address(raw))
        except ValueError:
            raise CertificateError(f"ip_addresses[{i}]: expected an IPv4/IPv6 address, got {raw!r}") from None
    return out


def _check_dns(dns_names: Sequence[str]) -> list[str]:
    out: list[str] = []
    for i, name in enumerate(dns_names):
        labels = name.split(".") if isinstance(name, str) else []
        if (
            not labels
            or len(name) > 253
            or not all(
                0 < len(lab) <= 63 and lab.replace("-", "").isalnum() and lab.isascii() and lab[0] != "-"
                for lab in labels
            )
        ):
            raise CertificateError(f"dns_names[{i}]: expected a DNS host name, got {name!r}")
        out.append(name.lower())
    return out


def issue_leaf_certificate(
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    spiffe_id: SpiffeId,
    public_key: ec.EllipticCurvePublicKey,
    *,
    now: datetime,
    ttl: timedelta = DEFAULT_LEAF_TTL,
    dns_names: Sequence[str] = (),
    ip_addresses: Sequence[str] = (),
) -> x509.Certificate:
    """Sign a short-lived X.509-SVID for ``spiffe_id``; valid from ``now - min(CLOCK_SKEW, ttl)`` to
    ``now + ttl``.

    The back-dating never exceeds the ttl, so the issue time is always ``not_before + min(CLOCK_SKEW,
    lifetime / 2)`` (``CertificateBundle.issued_at``): renewal at two thirds of the real lifetime needs it.
    """
    now = require_aware(now, field="now")
    _require_ttl(ttl, field="ttl", low=MIN_LEAF_TTL, high=MAX_LEAF_TTL)
    if not isinstance(spiffe_id, SpiffeId):
        raise CertificateError(f"spiffe_id: expected a SpiffeId, got {type(spiffe_id).__name__}")
    region = ca_region(ca_cert)
    if spiffe_id.region != region:
        raise CertificateError(
            f"spiffe_id: expected an identity in region {region!r} (this CA), got {spiffe_id.uri!r}"
        )
    not_before = max(now - min(CLOCK_SKEW, ttl), ca_cert.not_valid_before_utc)
    not_after = now + ttl
    if not_after > ca_cert.not_valid_after_utc:
        raise CertificateError(
            f"ttl: the leaf would expire at {not_after.isoformat()}, after the CA itself "
            f"({ca_cert.not_valid_after_utc.isoformat()}); rotate the CA or shorten the ttl"
        )
    if not_after <= not_before:
        raise CertificateError(
            f"now: expected a time after the CA's start {ca_cert.not_valid_before_utc.isoformat()}, "
            f"got {now.isoformat()}"
        )
    dns = _check_dns(dns_names)
    ips = _parse_ips(ip_addresses)
    general_names: list[x509.GeneralName] = [x509.UniformResourceIdentifier(spiffe_id.uri)]
    general_names += [x509.DNSName(d) for d in dns]
    general_names += [x509.IPAddress(ip) for ip in ips]
    usages = [ExtendedKeyUsageOID.CLIENT_AUTH]
    if dns or ips:
        usages.append(ExtendedKeyUsageOID.SERVER_AUTH)
    ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    common_name = (
        spiffe_id.role.value if spiffe_id.name is None else f"{spiffe_id.role.value} {spiffe_id.name}"
    )
    return (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca_cert.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        .add_extension(x509.SubjectAlternativeName(general_names), critical=False)
        .sign(ca_key, hashes.SHA256())
    )


def spiffe_id_from_certificate(cert: x509.Certificate, *, field: str = "cert_pem") -> SpiffeId:
    """The SPIFFE ID of an X.509-SVID leaf: exactly one URI SAN, not a CA (SPIFFE X509-SVID section 5)."""
    try:
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        bc = None
    if bc is not None and bc.ca:
        raise CertificateError(f"{field}: expected a leaf certificate, got a CA certificate")
    uris = _uri_sans(cert)
    if len(uris) != 1:
        raise CertificateError(
            f"{field}: expected exactly one URI SAN (the SPIFFE ID), got {len(uris)}: {uris}"
        )
    return SpiffeId.parse(uris[0], field=f"{field} URI SAN")


def spiffe_id_from_pem(cert_pem: bytes, *, field: str = "cert_pem") -> SpiffeId:
    """Parse a PEM leaf certificate and return its SPIFFE ID (no chain or time check: see ``verify_leaf``)."""
    return spiffe_id_from_certificate(load_certificate_pem(cert_pem, field=field), field=field)


def check_validity(cert: x509.Certificate, now: datetime, *, field: str = "cert_pem") -> None:
    """Raise ``CertificateExpired`` unless ``not_before <= now <= not_after``."""
    now = require_aware(now, field="now")
    if now < cert.not_valid_before_utc:
        raise CertificateExpired(
            f"{field}: not valid before {cert.not_valid_before_utc.isoformat()}, checked at {now.isoformat()}"
        )
    if now > cert.not_valid_after_utc:
        raise CertificateExpired(
            f"{field}: expired at {cert.not_valid_after_utc.isoformat()}, checked at {now.isoformat()}"
        )


def verify_leaf(cert_pem: bytes, ca_pem: bytes, *, now: datetime, field: str = "cert_pem") -> SpiffeId:
    """Full offline check of a client X.509-SVID: chain to ``ca_pem``, validity at ``now``, profile.

    Uses ``cryptography``'s RFC 5280 path validation (client policy: ``clientAuth`` EKU required). This is
    what the registry runs before binding a certificate identity into a credential; over gRPC the TLS
    stack has already done the same check during the handshake.
    """
    now = require_aware(now, field="now")
    leaf = load_certificate_pem(cert_pem, field=field)
    roots = load_certificates_pem(ca_pem, field="ca_pem")
    check_validity(leaf, now, field=field)
    spiffe_id = spiffe_id_from_certificate(leaf, field=field)
    verifier = PolicyBuilder().store(Store(roots)).time(now).build_client_verifier()
    try:
        verifier.verify(leaf, [])
    except VerificationError as exc:
        raise UntrustedCertificate(f"{field}: does not verify against ca_pem: {exc}") from exc
    return spiffe_id


def certificate_fingerprint(cert: x509.Certificate) -> str:
    """Lower-case hex SHA-256 of the DER encoding (what the ledger and credentials refer to)."""
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


@dataclass(frozen=True, slots=True)
class CertificateBundle:
    """Everything a workload needs for mTLS: its key, its leaf, the region CA, and the leaf's facts.

    ``key_pem`` is secret: never log a bundle's ``key_pem`` (``repr`` hides it).
    """

    key_pem: bytes
    cert_pem: bytes
    ca_pem: bytes
    spiffe_id: SpiffeId
    not_after: datetime
    not_before: datetime
    serial_number: int
    fingerprint_sha256: str

    def __repr__(self) -> str:
        return (
            f"CertificateBundle(spiffe_id={self.spiffe_id.uri!r}, not_before={self.not_before.isoformat()}, "
            f"not_after={self.not_after.isoformat()}, serial_number={self.serial_number:#x})"
        )

    @classmethod
    def from_pem(cls, key_pem: bytes, cert_pem: bytes, ca_pem: bytes) -> CertificateBundle:
        """Assemble and cross-check: the key must match the leaf, and the leaf must be an SVID."""
        key = load_private_key_pem(key_pem)
        cert = load_certificate_pem(cert_pem)
        load_certificates_pem(ca_pem, field="ca_pem")
        if key.public_key() != cert.public_key():
            raise CertificateError("key_pem: expected the private key of cert_pem, got a different key")
        spiffe_id = spiffe_id_from_certificate(cert)
        return cls(
            key_pem=key_pem,
            cert_pem=cert_pem,
            ca_pem=ca_pem,
            spiffe_id=spiffe_id,
            not_after=cert.not_valid_after_utc,
            not_before=cert.not_valid_before_utc,
            serial_number=cert.serial_number,
            fingerprint_sha256=certificate_fingerprint(cert),
        )

    @property
    def lifetime(self) -> timedelta:
        return self.not_after - self.not_before

    def remaining(self, now: datetime) -> timedelta:
        """Time left before expiry at ``now`` (negative once expired)."""
        return self.not_after - require_aware(now, field="now")

    def is_expired(self, now: datetime) -> bool:
        return self.remaining(now) < timedelta(0)

    @property
    def issued_at(self) -> datetime:
        """When the leaf was issued: ``not_before`` plus its clock-skew back-dating, which is
        ``min(CLOCK_SKEW, ttl)`` for this CA's leaves (for a leaf of another CA that back-dates less, this
        is later than the real issue, so renewal comes earlier, never later than expiry)."""
        return self.not_before + min(CLOCK_SKEW, self.lifetime / 2)

    def renewal_at(self, *, remaining_fraction: float = 1 / 3) -> datetime:
        """When renewal is due: once only ``remaining_fraction`` of the ttl (issue to expiry) is left."""
        if not 0.0 < remaining_fraction < 1.0:
            raise CertificateError(f"remaining_fraction: expected in (0, 1), got {remaining_fraction!r}")
        return self.not_after - (self.not_after - self.issued_at) * remaining_fraction

    def renewal_due(self, now: datetime, *, remaining_fraction: float = 1 / 3) -> bool:
        """True once less than ``remaining_fraction`` of the ttl is left (two thirds of it have passed).

        Measured from ``issued_at``, not ``not_before``: with the back-dating counted, a 20 s leaf
        (80 s from ``not_before``) would be due the moment it is issued, and a renewer would loop.
        gRPC Python clients cannot reload certificates on a live channel, so agents watch this and open a
        fresh channel with a fresh bundle before the old certificate expires.
        """
        return require_aware(now, field="now") >= self.renewal_at(remaining_fraction=remaining_fraction)

    def issuance_record(self) -> dict[str, Any]:
        """JSON-ready facts for the ledger's CERTIFICATE_ISSUED entry (no key material)."""
        return {
            "spiffe_id": self.spiffe_id.uri,
            "role": self.spiffe_id.role.value,
            "serial_number": f"{self.serial_number:x}",
            "fingerprint_sha256": self.fingerprint_sha256,
            "not_before": self.not_before.isoformat(),
            "not_after": self.not_after.isoformat(),
        }


def default_server_sans(spiffe_id: SpiffeId) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Coordinator and registry are servers on loopback by default; agents and auditors are clients only."""
    if spiffe_id.role.is_singleton:
        return DEFAULT_SERVER_DNS_NAMES, DEFAULT_SERVER_IPS
    return (), ()
