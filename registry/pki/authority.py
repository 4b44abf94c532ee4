"""The region's development certificate authority: a root key on disk that issues short-lived SVIDs.

"Dev" because the root key sits in a 0600 file rather than an HSM; the certificates it issues follow the
same profile a production CA (SPIRE, a cloud private CA) would, so nothing downstream changes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from registry.pki.certificates import (
    DEFAULT_CA_VALIDITY,
    DEFAULT_LEAF_TTL,
    CertificateBundle,
    build_ca_certificate,
    ca_region,
    certificate_pem,
    default_server_sans,
    generate_private_key,
    issue_leaf_certificate,
    load_certificate_pem,
    load_private_key_pem,
    private_key_pem,
    require_aware,
)
from registry.pki.errors import AuthorityStoreError, CertificateError
from registry.pki.spiffe import SpiffeId, validate_region
from registry.pki.store import read_file, write_public_file, write_secret_file

CA_KEY_FILE = "ca.key.pem"
CA_CERT_FILE = "ca.cert.pem"
CA_META_FILE = "ca.json"
CA_FORMAT = "arbsphere-dev-ca/1"

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class DevCertificateAuthority:
    """Issue X.509-SVIDs for one region. Create with ``create``/``load``/``ephemeral``, not ``__init__``."""

    def __init__(
        self,
        key: ec.EllipticCurvePrivateKey,
        cert: x509.Certificate,
        *,
        directory: Path | None = None,
        clock: Clock = utc_now,
    ) -> None:
        if key.public_key() != cert.public_key():
            raise CertificateError("ca key: expected the private key of the CA certificate, got another key")
        self._key = key
        self._cert = cert
        self._region = ca_region(cert)
        self._directory = directory
        self._clock = clock

    # -- construction -----------------------------------------------------------------------------

    @classmethod
    def ephemeral(
        cls,
        region: str,
        *,
        validity: timedelta = DEFAULT_CA_VALIDITY,
        clock: Clock = utc_now,
        created_at: datetime | None = None,
    ) -> DevCertificateAuthority:
        """An in-memory CA (simulations, tests): nothing is written anywhere.

        ``created_at`` (default: the clock) back-dates the root, e.g. to issue already-expired leaves.
        """
        key = generate_private_key()
        start = clock() if created_at is None else created_at
        return cls(key, build_ca_certificate(key, region, now=start, validity=validity), clock=clock)

    @classmethod
    def create(
        cls,
        directory: Path,
        region: str,
        *,
        validity: timedelta = DEFAULT_CA_VALIDITY,
        clock: Clock = utc_now,
    ) -> DevCertificateAuthority:
        """Create a new root in ``directory`` (0700). Refuses to overwrite an existing CA."""
        validate_region(region)
        directory = Path(directory)
        if (directory / CA_KEY_FILE).exists() or (directory / CA_CERT_FILE).exists():
            raise AuthorityStoreError(
                f"{directory}: expected no existing CA, found {CA_KEY_FILE} or {CA_CERT_FILE}; "
                "refusing to overwrite"
            )
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        key = generate_private_key()
        cert = build_ca_certificate(key, region, now=clock(), validity=validity)
        write_secret_file(directory / CA_KEY_FILE, private_key_pem(key))
        write_public_file(directory / CA_CERT_FILE, certificate_pem(cert))
        meta = {"format": CA_FORMAT, "region": region, "created": clock().isoformat()}
        write_public_file(directory / CA_META_FILE, (json.dumps(meta, sort_keys=True) + "\n").encode())
        return cls(key, cert, directory=directory, clock=clock)

    @classmethod
    def load(cls, directory: Path, *, clock: Clock = utc_now) -> DevCertificateAuthority:
        """Load a CA written by ``create``; checks permissions, key/cert match and the recorded region."""
        directory = Path(directory)
        meta_raw = read_file(directory / CA_META_FILE, secret=False)
        try:
            meta = json.loads(meta_raw)
        except ValueError:
            raise AuthorityStoreError(
                f"{directory / CA_META_FILE}: expected JSON, got unparsable data"
            ) from None
        if not isinstance(meta, dict) or meta.get("format") != CA_FORMAT:
            got = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
            raise AuthorityStoreError(
                f"{directory / CA_META_FILE}: expected format {CA_FORMAT!r}, got {got!r}"
            )
        key = load_private_key_pem(read_file(directory / CA_KEY_FILE, secret=True), field=CA_KEY_FILE)
        cert = load_certificate_pem(read_file(directory / CA_CERT_FILE, secret=False), field=CA_CERT_FILE)
        ca = cls(key, cert, directory=directory, clock=clock)
        if meta.get("region") != ca.region:
            raise AuthorityStoreError(
                f"{directory / CA_META_FILE}: region {meta.get('region')!r} does not match the CA "
                f"certificate's region {ca.region!r}"
            )
        return ca

    # -- facts ------------------------------------------------------------------------------------

    @property
    def region(self) -> str:
        return self._region

    @property
    def directory(self) -> Path | None:
        return self._directory

    @property
    def ca_pem(self) -> bytes:
        """The trust bundle to give every workload of the region."""
        return certificate_pem(self._cert)

    @property
    def certificate(self) -> x509.Certificate:
        return self._cert

    @property
    def not_after(self) -> datetime:
        return self._cert.not_valid_after_utc

    # -- issuance ---------------------------------------------------------------------------------

    def issue(
        self,
        spiffe_id: SpiffeId,
        *,
        ttl: timedelta = DEFAULT_LEAF_TTL,
        dns_names: Sequence[str] | None = None,
        ip_addresses: Sequence[str] | None = None,
        now: datetime | None = None,
    ) -> CertificateBundle:
        """Generate a fresh key and a leaf for ``spiffe_id``, valid for ``ttl`` from ``now`` (default: clock).

        ``dns_names``/``ip_addresses`` default to ``localhost``/``127.0.0.1`` for the coordinator and
        registry (servers) and to none for agents and auditors (clients only).
        """
        default_dns, default_ips = default_server_sans(spiffe_id)
        key = generate_private_key()
        cert = self.sign_leaf(
            spiffe_id,
            key.public_key(),
            ttl=ttl,
            dns_names=default_dns if dns_names is None else dns_names,
            ip_addresses=default_ips if ip_addresses is None else ip_addresses,
            now=now,
        )
        return CertificateBundle.from_pem(private_key_pem(key), certificate_pem(cert), self.ca_pem)

    def sign_leaf(
        self,
        spiffe_id: SpiffeId,
        public_key: ec.EllipticCurvePublicKey,
        *,
        ttl: timedelta,
        dns_names: Sequence[str],
        ip_addresses: Sequence[str],
        now: datetime | None = None,
    ) -> x509.Certificate:
        """Sign a leaf for a key generated elsewhere (a renewal's CSR: ``registry.pki.issuance``)."""
        at = require_aware(now if now is not None else self._clock(), field="now")
        return issue_leaf_certificate(
            self._key,
            self._cert,
            spiffe_id,
            public_key,
            now=at,
            ttl=ttl,
            dns_names=dns_names,
            ip_addresses=ip_addresses,
        )

    def issue_agent(
        self, venue: str, *, ttl: timedelta = DEFAULT_LEAF_TTL, now: datetime | None = None
    ) -> CertificateBundle:
        """Client leaf for ``spiffe://<region>/agent/<venue>``."""
        return self.issue(SpiffeId.agent(self._region, venue), ttl=ttl, now=now)

    def issue_coordinator(
        self,
        *,
        ttl: timedelta = DEFAULT_LEAF_TTL,
        dns_names: Sequence[str] | None = None,
        ip_addresses: Sequence[str] | None = None,
        now: datetime | None = None,
    ) -> CertificateBundle:
        """Server+client leaf for ``spiffe://<region>/coordinator`` (loopback SANs by default)."""
        return self.issue(
            SpiffeId.coordinator(self._region),
            ttl=ttl,
            dns_names=dns_names,
            ip_addresses=ip_addresses,
            now=now,
        )

    def issue_auditor(
        self, name: str, *, ttl: timedelta = DEFAULT_LEAF_TTL, now: datetime | None = None
    ) -> CertificateBundle:
        """Client leaf for ``spiffe://<region>/auditor/<name>``."""
        return self.issue(SpiffeId.auditor(self._region, name), ttl=ttl, now=now)
