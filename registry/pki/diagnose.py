"""Why a TLS handshake with a server failed, in words an operator can act on.

gRPC reports a failed handshake as ``UNAVAILABLE`` with a BoringSSL string that does not say *whose*
certificate was the problem. ``diagnose_handshake`` finds out: it checks the workload's own certificate,
then reads the server's certificate with a plain TLS handshake that verifies nothing (TLS 1.3 shows the
server's certificate before the server judges ours) and checks it against the workload's CA: expired, not
yet valid, issued by another CA, or not naming the server name. When the server's certificate is fine, the
server refused ours.
"""

from __future__ import annotations

import socket
import ssl
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import NameOID

from registry.pki.certificates import (
    CertificateBundle,
    certificate_fingerprint,
    load_certificates_pem,
)

PROBE_TIMEOUT_S = 3.0


def _name(cert: x509.Certificate) -> str:
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    common = str(names[0].value) if names else cert.subject.rfc4514_string()
    try:
        ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest.hex()[:16]
    except x509.ExtensionNotFound:
        return f"{common!r} (sha256 {certificate_fingerprint(cert)[:16]})"
    return f"{common!r}, key id {ski}"


def _issuer_key_id(cert: x509.Certificate) -> str:
    try:
        aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    except x509.ExtensionNotFound:
        return cert.issuer.rfc4514_string()
    return (aki.key_identifier or b"").hex()[:16] or cert.issuer.rfc4514_string()


def server_certificate(target: str, server_name: str, *, timeout_s: float = PROBE_TIMEOUT_S) -> bytes:
    """The DER certificate ``target`` presents (no verification: this is a diagnosis, not a channel)."""
    host, _, port = target.rpartition(":")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(["h2"])
    with (
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s) as sock,
        context.wrap_socket(sock, server_hostname=server_name) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    if not der:
        raise ssl.SSLError("the server presented no certificate")
    return der


def _names(cert: x509.Certificate) -> list[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return san.get_values_for_type(x509.DNSName) + [str(a) for a in san.get_values_for_type(x509.IPAddress)]


def diagnose_handshake(
    target: str,
    bundle: CertificateBundle,
    *,
    server_name: str,
    now: datetime,
    peer: str = "the server",
    probe: bool = True,
) -> str:
    """One sentence naming the cause of a failed mTLS handshake with ``target`` (best effort)."""
    own = bundle.spiffe_id.uri
    if bundle.is_expired(now):
        return f"this workload's certificate ({own}) expired at {bundle.not_after.isoformat()}"
    if now < bundle.not_before:
        return f"this workload's certificate ({own}) is not valid before {bundle.not_before.isoformat()}"
    if not probe:
        return f"{peer} refused the handshake"
    try:
        cert = x509.load_der_x509_certificate(server_certificate(target, server_name))
    except (OSError, ValueError) as exc:
        return f"could not read the certificate of {peer} at {target}: {exc}"
    roots = load_certificates_pem(bundle.ca_pem, field="ca_pem")
    if now > cert.not_valid_after_utc:
        return (
            f"the certificate of {peer} expired at {cert.not_valid_after_utc.isoformat()} "
            f"(checked at {now.isoformat()}): {peer} has not renewed it"
        )
    if now < cert.not_valid_before_utc:
        return (
            f"the certificate of {peer} is not valid before {cert.not_valid_before_utc.isoformat()} "
            f"(checked at {now.isoformat()}): check both clocks"
        )
    issued_by_ours = False
    for root in roots:
        try:
            cert.verify_directly_issued_by(root)
        except (ValueError, TypeError, InvalidSignature):
            continue
        issued_by_ours = True
    if not issued_by_ours:
        return (
            f"the certificate of {peer} is issued by another CA (issuer {cert.issuer.rfc4514_string()!r}, "
            f"key id {_issuer_key_id(cert)}) than the one this workload trusts ({_name(roots[0])}: its "
            "ca.pem): the two hold certificates of different CAs"
        )
    names = _names(cert)
    if server_name not in names:
        return f"the certificate of {peer} names {names}, not {server_name!r} (--server-name)"
    return (
        f"{peer}'s certificate is valid and from this workload's CA, so {peer} refused ours ({own}, issuer "
        f"key id {_issuer_key_id(x509.load_pem_x509_certificate(bundle.cert_pem))}): it is probably "
        "issued by a CA that the server does not trust"
    )
