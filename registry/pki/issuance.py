"""The region CA as a service: a workload renews its certificate by proving it holds the current one.

Renewal is EST's ``simplereenroll`` (RFC 7030 section 4.2.2) over gRPC with mutual TLS: the workload opens
an mTLS channel with its *current, valid* certificate and sends a PKCS#10 request (DER) for a key it has
just generated itself; the CA answers with a PEM leaf for the same SPIFFE ID. The private key never leaves
the workload, the CA learns nothing it did not already sign, and the handshake is the proof of possession
of the old key (the CSR's signature is the proof for the new one). A workload whose certificate has
expired, or is from another CA, cannot complete the handshake: it needs a fresh enrolment by the operator
(``arbsphere pki issue``).

The request and the answer are standard encodings (PKCS#10 DER, X.509 PEM) carried as raw bytes by one
generic gRPC method, so there is no protobuf message to version: a wrapper would add nothing but a copy.

What the CA signs is decided by the CA, never by the request: the SPIFFE ID and the DNS/IP names are those
of the certificate presented in the handshake; the ttl is that certificate's (capped by ``max_ttl``); the
CSR may name the same SPIFFE ID and nothing else, and its key must be a new P-256 key.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from concurrent import futures
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from registry.pki.authority import DevCertificateAuthority
from registry.pki.certificates import (
    CLOCK_SKEW,
    CertificateBundle,
    certificate_pem,
    generate_private_key,
    load_certificate_pem,
    private_key_pem,
    verify_leaf,
)
from registry.pki.errors import CertificateError, PeerIdentityError, PkiError
from registry.pki.grpc_tls import RotatingServerCredentials, peer_spiffe_id, secure_channel
from registry.pki.spiffe import SpiffeId

log = logging.getLogger(__name__)

SERVICE = "arbsphere.pki.v1.CertificateAuthority"
RENEW_METHOD = f"/{SERVICE}/Renew"
MAX_CSR_BYTES = 4096
"""A P-256 CSR with one URI SAN is about 300 bytes."""
DEFAULT_MAX_TTL = timedelta(hours=1)
MIN_RENEW_INTERVAL_S = 1.0
"""One identity renews at most once a second (a stolen certificate cannot make the CA sign in a loop)."""
SERVICE_TTL = timedelta(hours=1)
"""Lifetime of the CA service's own server certificate (re-issued by the service at two thirds)."""
SERVER_OPTIONS: list[tuple[str, object]] = [
    ("grpc.max_receive_message_length", MAX_CSR_BYTES + 256),
    ("grpc.max_send_message_length", 16 * 1024),
]

Emit = Callable[[dict[str, object]], None]


class RenewalError(PkiError):
    """A renewal could not be obtained (the CA is unreachable, refused, or answered something wrong)."""


def parse_ca_url(url: str) -> str:
    """``grpcs://host:port`` or ``host:port`` -> the gRPC target ``host:port`` (the error names the flag)."""
    target = url.removeprefix("grpcs://")
    host, sep, port = target.rpartition(":")
    if "://" in target or not sep or not host or "/" in target or not port.isdigit():
        raise PkiError(f"--ca-url: expected grpcs://HOST:PORT or HOST:PORT, got {url!r}")
    if not 0 < int(port) < 65_536:
        raise PkiError(f"--ca-url: expected a port in 1..65535, got {port}")
    return target


# -- the CA's decision (pure) ---------------------------------------------------------------------------


def renewal_ttl(presented: x509.Certificate, max_ttl: timedelta) -> timedelta:
    """The presented certificate's ttl (issue to expiry, as ``CertificateBundle.issued_at`` counts it),
    at most ``max_ttl``: a renewal keeps the lifetime the operator chose at enrolment."""
    lifetime = presented.not_valid_after_utc - presented.not_valid_before_utc
    issued = presented.not_valid_before_utc + min(CLOCK_SKEW, lifetime / 2)
    return max(timedelta(seconds=1), min(presented.not_valid_after_utc - issued, max_ttl))


def _sans(cert: x509.Certificate) -> tuple[list[str], list[str]]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return [], []
    return san.get_values_for_type(x509.DNSName), [str(a) for a in san.get_values_for_type(x509.IPAddress)]


def check_csr(csr_der: bytes, presented: x509.Certificate, spiffe_id: SpiffeId) -> ec.EllipticCurvePublicKey:
    """The CSR's new public key, once the CSR is well formed, self-signed, for a new P-256 key, and names
    no identity but ``spiffe_id`` (raises ``CertificateError`` naming what is wrong)."""
    if len(csr_der) > MAX_CSR_BYTES:
        raise CertificateError(f"csr: expected at most {MAX_CSR_BYTES} bytes, got {len(csr_der)}")
    try:
        csr = x509.load_der_x509_csr(csr_der)
    except ValueError as exc:
        raise CertificateError(
            "csr: expected a DER PKCS#10 certificate request, got unparsable data"
        ) from exc
    if not csr.is_signature_valid:
        raise CertificateError("csr: the signature does not verify with the request's own key")
    key = csr.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise CertificateError(f"csr: expected an ECDSA P-256 key, got {type(key).__name__}")
    if key == presented.public_key():
        raise CertificateError("csr: expected a new key, got the key of the presented certificate")
    try:
        san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return key
    names = [str(getattr(name, "value", name)) for name in san]
    if names != [spiffe_id.uri]:
        raise CertificateError(f"csr: may name only {spiffe_id.uri!r} (the presented identity), got {names}")
    return key


def renew(
    ca: DevCertificateAuthority,
    presented_pem: bytes,
    csr_der: bytes,
    *,
    now: datetime,
    max_ttl: timedelta = DEFAULT_MAX_TTL,
) -> x509.Certificate:
    """Sign the renewal of ``presented_pem`` (re-checked here: chain, validity, profile) for ``csr_der``'s
    key: same SPIFFE ID, same DNS/IP names, same ttl (at most ``max_ttl``)."""
    spiffe_id = verify_leaf(presented_pem, ca.ca_pem, now=now, field="presented certificate")
    presented = load_certificate_pem(presented_pem, field="presented certificate")
    key = check_csr(csr_der, presented, spiffe_id)
    dns_names, ip_addresses = _sans(presented)
    return ca.sign_leaf(
        spiffe_id,
        key,
        ttl=renewal_ttl(presented, max_ttl),
        dns_names=dns_names,
        ip_addresses=ip_addresses,
        now=now,
    )


# -- the service ----------------------------------------------------------------------------------------


class AuthorityServicer:
    """The gRPC face of ``renew``: the peer's certificate comes from the mTLS handshake."""

    def __init__(
        self,
        ca: DevCertificateAuthority,
        *,
        max_ttl: timedelta = DEFAULT_MAX_TTL,
        emit: Emit | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        min_interval_s: float = MIN_RENEW_INTERVAL_S,
    ) -> None:
        self.ca = ca
        self.max_ttl = max_ttl
        self.emit: Emit = emit or (lambda event: None)
        self.clock = clock
        self.min_interval_s = min_interval_s
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}
        self.issued = 0

    def handler(self) -> grpc.GenericRpcHandler[bytes, bytes]:
        return grpc.method_handlers_generic_handler(
            SERVICE, {"Renew": grpc.unary_unary_rpc_method_handler(self.renew)}
        )

    def _admit(self, identity: str) -> bool:
        now = time.monotonic()
        with self._lock:
            if now - self._last.get(identity, -1e9) < self.min_interval_s:
                return False
            if len(self._last) >= 10_000:
                self._last = {k: t for k, t in self._last.items() if now - t < self.min_interval_s}
            self._last[identity] = now
            return True

    def renew(self, request: bytes, context: grpc.ServicerContext) -> bytes:
        auth: Mapping[str, Any] = context.auth_context()
        try:
            identity = peer_spiffe_id(auth)
        except PeerIdentityError as exc:
            context.abort(grpc.StatusCode.PERMISSION_DENIED, str(exc))
            raise  # unreachable: abort raises
        if identity.region != self.ca.region:
            context.abort(
                grpc.StatusCode.PERMISSION_DENIED,
                f"peer region: expected {self.ca.region!r}, got {identity.uri!r}",
            )
        if not self._admit(identity.uri):
            context.abort(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"{identity.uri}: at most one renewal per {self.min_interval_s:g} s",
            )
        pems = auth.get("x509_pem_cert") or []
        presented = pems[0] if isinstance(pems, list) and pems else pems
        if not isinstance(presented, bytes):
            context.abort(grpc.StatusCode.PERMISSION_DENIED, "x509_pem_cert: no client certificate")
            raise AssertionError("unreachable")  # abort raises
        try:
            cert = renew(self.ca, presented, bytes(request), now=self.clock(), max_ttl=self.max_ttl)
        except PkiError as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
            raise  # unreachable: abort raises
        self.issued += 1
        previous = load_certificate_pem(presented)
        self.emit(
            {
                "event": "certificate_renewed",
                "spiffe_id": identity.uri,
                "serial_number": f"{cert.serial_number:x}",
                "previous_serial_number": f"{previous.serial_number:x}",
                "not_before": cert.not_valid_before_utc.isoformat(),
                "not_after": cert.not_valid_after_utc.isoformat(),
            }
        )
        return certificate_pem(cert)


@dataclass
class RunningAuthority:
    server: grpc.Server
    port: int
    servicer: AuthorityServicer
    credentials: RotatingServerCredentials
    _stop: threading.Event

    def stop(self, grace: float = 1.0) -> None:
        self._stop.set()
        self.server.stop(grace).wait()

    def wait(self) -> None:
        self.server.wait_for_termination()


def serve_authority(
    ca: DevCertificateAuthority,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    max_ttl: timedelta = DEFAULT_MAX_TTL,
    dns_names: list[str] | None = None,
    ip_addresses: list[str] | None = None,
    emit: Emit | None = None,
    service_ttl: timedelta = SERVICE_TTL,
) -> RunningAuthority:
    """Serve renewals over mTLS. The service's own certificate (``spiffe://<region>/registry``, loopback
    names by default) is issued by ``ca`` itself and re-issued at two thirds of its life."""
    spiffe_id = SpiffeId.registry(ca.region)

    def own() -> CertificateBundle:
        return ca.issue(spiffe_id, ttl=service_ttl, dns_names=dns_names, ip_addresses=ip_addresses)

    credentials = RotatingServerCredentials(own())
    servicer = AuthorityServicer(ca, max_ttl=max_ttl, emit=emit)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8), options=SERVER_OPTIONS)
    server.add_generic_rpc_handlers((servicer.handler(),))
    bound = server.add_secure_port(f"{host}:{port}", credentials.credentials)
    if bound == 0:
        raise OSError(f"could not bind {host}:{port}")
    server.start()
    stop = threading.Event()

    def rotate_own() -> None:
        while not stop.wait(1.0):
            if credentials.current.renewal_due(datetime.now(UTC)):
                credentials.rotate(own())

    threading.Thread(target=rotate_own, name="ca-service-certificate", daemon=True).start()
    return RunningAuthority(server, bound, servicer, credentials, stop)


# -- the client -----------------------------------------------------------------------------------------


def certificate_request(spiffe_id: SpiffeId) -> tuple[ec.EllipticCurvePrivateKey, bytes]:
    """A new P-256 key (OS CSPRNG) and a DER CSR for it naming ``spiffe_id``."""
    key = generate_private_key()
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([]))
        .add_extension(
            x509.SubjectAlternativeName([x509.UniformResourceIdentifier(spiffe_id.uri)]), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    return key, csr.public_bytes(serialization.Encoding.DER)


def renew_certificate(
    target: str,
    bundle: CertificateBundle,
    *,
    server_name: str = "localhost",
    timeout_s: float = 5.0,
    now: datetime | None = None,
) -> CertificateBundle:
    """Ask the CA service at ``target`` to renew ``bundle`` (presented over mTLS) for a new key made here.

    The answer is checked before it is used: it must chain to ``bundle.ca_pem``, be valid now, name the
    same SPIFFE ID and certify the new key. Raises ``RenewalError`` naming what failed."""
    key, csr = certificate_request(bundle.spiffe_id)
    try:
        with secure_channel(target, bundle, server_name=server_name) as channel:
            call = channel.unary_unary(RENEW_METHOD, None, None)  # raw bytes both ways
            answer = call(csr, timeout=timeout_s)
    except grpc.RpcError as exc:
        code = exc.code().name if isinstance(exc, grpc.Call) else "UNKNOWN"
        detail = exc.details() if isinstance(exc, grpc.Call) else str(exc)
        raise RenewalError(f"renewal of {bundle.spiffe_id.uri} from {target}: {code}: {detail}") from exc
    if not isinstance(answer, bytes):
        raise RenewalError(f"renewal from {target}: expected PEM bytes, got {type(answer).__name__}")
    try:
        renewed = CertificateBundle.from_pem(private_key_pem(key), answer, bundle.ca_pem)
        verify_leaf(renewed.cert_pem, bundle.ca_pem, now=now or datetime.now(UTC), field="renewed cert")
    except PkiError as exc:
        raise RenewalError(f"renewal from {target}: {exc}") from exc
    if renewed.spiffe_id != bundle.spiffe_id:
        raise RenewalError(
            f"renewal from {target}: expected a certificate for {bundle.spiffe_id.uri}, "
            f"got {renewed.spiffe_id.uri}"
        )
    return renewed
