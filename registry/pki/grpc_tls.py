"""gRPC adapters: mTLS credentials (static and rotating) and the peer's SPIFFE ID from ``auth_context``.

What grpcio (1.85, BoringSSL) puts in ``ServicerContext.auth_context()`` for an mTLS peer, as observed in
``tests/pki/test_pki_grpc_mtls.py``: ``transport_security_type=[b"ssl"]``, ``x509_pem_cert`` (the client's
leaf), ``x509_subject_alternative_name`` (every SAN, no type tag), ``peer_uri`` (URI SANs) and
``peer_spiffe_id`` (set by gRPC core only for exactly one valid ``spiffe://`` URI SAN). We parse the PEM
leaf ourselves (exactly one URI SAN, our role layout) and require ``peer_spiffe_id``, when present, to
agree: two independent parsers must see the same identity before anything is authorised.

The handshake has already checked the chain, validity and EKU (``clientAuth``); an expired client or one
from another CA never reaches a servicer.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import cast

import grpc
from cryptography.hazmat.primitives import hashes

from registry.pki.certificates import CertificateBundle, load_certificate_pem, spiffe_id_from_certificate
from registry.pki.errors import CertificateError, InvalidSpiffeId, PeerIdentityError
from registry.pki.spiffe import SpiffeId, WorkloadRole

# grpcio returns ``dict[str, list[bytes]]``; grpc-stubs types the values as ``bytes``. Accept both.
AuthContext = Mapping[str, object]


def _values(auth_context: AuthContext, key: str) -> list[bytes]:
    raw = auth_context.get(key)
    if raw is None:
        return []
    if isinstance(raw, bytes):
        return [raw]
    if isinstance(raw, Iterable) and not isinstance(raw, str | Mapping):
        items = list(raw)
        if all(isinstance(item, bytes) for item in items):
            return items
    raise PeerIdentityError(f"{key}: expected a list of bytes in the auth context, got {type(raw).__name__}")


def peer_spiffe_id(auth_context: AuthContext) -> SpiffeId:
    """The authenticated SPIFFE ID of the peer, from a gRPC ``auth_context()`` mapping.

    Raises ``PeerIdentityError`` if the peer is not on TLS, presented no certificate, or its certificate
    does not carry exactly one well-formed ArbSphere SPIFFE ID.
    """
    security = _values(auth_context, "transport_security_type")
    if security != [b"ssl"]:
        raise PeerIdentityError(f"transport_security_type: expected [b'ssl'] (mutual TLS), got {security}")
    pems = _values(auth_context, "x509_pem_cert")
    if len(pems) != 1:
        raise PeerIdentityError(f"x509_pem_cert: expected the peer's certificate, got {len(pems)} entries")
    try:
        identity = spiffe_id_from_certificate(load_certificate_pem(pems[0], field="x509_pem_cert"))
    except (CertificateError, InvalidSpiffeId) as exc:
        raise PeerIdentityError(str(exc)) from exc
    core_view = _values(auth_context, "peer_spiffe_id")
    if core_view and core_view != [identity.uri.encode()]:
        raise PeerIdentityError(
            f"peer_spiffe_id: gRPC core saw {core_view}, the certificate says {identity.uri!r}; refusing"
        )
    return identity


def peer_certificate_record(auth_context: AuthContext) -> dict[str, str]:
    """Ledger facts of the certificate the peer authenticated with (serial, SHA-256 fingerprint, validity;
    no key material), so a JOIN names the exact certificate, renewed or not; empty without one."""
    pems = _values(auth_context, "x509_pem_cert")
    if len(pems) != 1:
        return {}
    try:
        certificate = load_certificate_pem(pems[0], field="x509_pem_cert")
    except CertificateError:
        return {}
    return {
        "serial_number": f"{certificate.serial_number:x}",
        "fingerprint_sha256": certificate.fingerprint(hashes.SHA256()).hex(),
        "not_before": certificate.not_valid_before_utc.isoformat(),
        "not_after": certificate.not_valid_after_utc.isoformat(),
    }


def authorize_peer(
    auth_context: AuthContext,
    *,
    region: str,
    roles: Collection[WorkloadRole],
    names: Collection[str] | None = None,
) -> SpiffeId:
    """Return the peer's SPIFFE ID if it belongs to ``region`` with one of ``roles`` (and ``names``).

    Pure: raises ``PeerIdentityError`` with the reason; the servicer turns that into
    ``PERMISSION_DENIED`` (see ``require_peer``) or its async equivalent.
    """
    identity = peer_spiffe_id(auth_context)
    if identity.region != region:
        raise PeerIdentityError(f"peer region: expected {region!r}, got {identity.uri!r}")
    if identity.role not in roles:
        raise PeerIdentityError(
            f"peer role: expected one of {sorted(r.value for r in roles)}, got {identity.uri!r}"
        )
    if names is not None and identity.name not in names:
        raise PeerIdentityError(f"peer name: expected one of {sorted(names)}, got {identity.uri!r}")
    return identity


def require_peer(
    context: grpc.ServicerContext,
    *,
    region: str,
    roles: Collection[WorkloadRole],
    names: Collection[str] | None = None,
) -> SpiffeId:
    """Synchronous servicers: ``authorize_peer`` or abort the call with ``PERMISSION_DENIED``."""
    try:
        return authorize_peer(context.auth_context(), region=region, roles=roles, names=names)
    except PeerIdentityError as exc:
        context.abort(grpc.StatusCode.PERMISSION_DENIED, str(exc))
        raise  # unreachable: abort raises; keeps the type checker and readers honest


def server_credentials(
    bundle: CertificateBundle, *, trusted_ca_pem: bytes | None = None
) -> grpc.ServerCredentials:
    """Static server credentials that require and verify a client certificate (no plaintext exists)."""
    return grpc.ssl_server_credentials(
        [(bundle.key_pem, bundle.cert_pem)],
        root_certificates=trusted_ca_pem if trusted_ca_pem is not None else bundle.ca_pem,
        require_client_auth=True,
    )


class RotatingServerCredentials:
    """Server credentials whose certificate can be replaced while the server runs.

    Built on ``grpc.dynamic_ssl_server_credentials``: gRPC calls our fetcher before every new handshake;
    it returns the new configuration once after ``rotate`` and ``None`` (keep) otherwise. Established
    connections keep their TLS session, so live sessions are not dropped; new connections get the new
    certificate. ``trusted_ca_pem`` may hold several CAs (old and new) during a CA roll-over.
    """

    def __init__(self, bundle: CertificateBundle, *, trusted_ca_pem: bytes | None = None) -> None:
        self._lock = threading.Lock()
        self._bundle = bundle
        self._trusted = trusted_ca_pem
        self._pending: grpc.ServerCertificateConfiguration | None = None
        self._rotations = 0
        self.credentials: grpc.ServerCredentials = grpc.dynamic_ssl_server_credentials(
            self._configuration(bundle, trusted_ca_pem),
            cast("Callable[[], grpc.ServerCertificateConfiguration]", self._fetch),
            require_client_authentication=True,
        )

    @staticmethod
    def _configuration(
        bundle: CertificateBundle, trusted_ca_pem: bytes | None
    ) -> grpc.ServerCertificateConfiguration:
        return grpc.ssl_server_certificate_configuration(
            [(bundle.key_pem, bundle.cert_pem)],
            root_certificates=trusted_ca_pem if trusted_ca_pem is not None else bundle.ca_pem,
        )

    def _fetch(self) -> grpc.ServerCertificateConfiguration | None:
        with self._lock:
            pending, self._pending = self._pending, None
            return pending

    @property
    def current(self) -> CertificateBundle:
        with self._lock:
            return self._bundle

    @property
    def rotations(self) -> int:
        with self._lock:
            return self._rotations

    def rotate(self, bundle: CertificateBundle, *, trusted_ca_pem: bytes | None = None) -> None:
        """Serve ``bundle`` to every connection opened from now on. The identity must not change."""
        with self._lock:
            if bundle.spiffe_id != self._bundle.spiffe_id:
                raise PeerIdentityError(
                    f"rotate: expected a certificate for {self._bundle.spiffe_id.uri!r}, "
                    f"got {bundle.spiffe_id.uri!r}"
                )
            if trusted_ca_pem is not None:
                self._trusted = trusted_ca_pem
            self._pending = self._configuration(bundle, self._trusted)
            self._bundle = bundle
            self._rotations += 1


def channel_credentials(bundle: CertificateBundle) -> grpc.ChannelCredentials:
    """Client credentials: present ``bundle``'s leaf, trust only the region CA in ``bundle.ca_pem``."""
    return grpc.ssl_channel_credentials(
        root_certificates=bundle.ca_pem, private_key=bundle.key_pem, certificate_chain=bundle.cert_pem
    )


def secure_channel(
    target: str,
    bundle: CertificateBundle,
    *,
    server_name: str | None = None,
    options: Sequence[tuple[str, object]] = (),
) -> grpc.Channel:
    """An mTLS channel to ``target``. ``server_name`` overrides the name checked against the server SANs.

    gRPC Python cannot swap the certificate of a live channel: before ``bundle`` expires
    (``bundle.renewal_due(now)``), open a new channel with a fresh bundle and close the old one.
    """
    opts: list[tuple[str, object]] = list(options)
    if server_name is not None:
        opts.append(("grpc.ssl_target_name_override", server_name))
    return grpc.secure_channel(target, channel_credentials(bundle), options=opts)
