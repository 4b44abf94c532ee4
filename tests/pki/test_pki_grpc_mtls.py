"""Real gRPC mutual-TLS handshakes on loopback against certificates from the dev CA.

A generic bytes handler stands in for a servicer: it answers with the caller's SPIFFE ID as read from
``context.auth_context()``. Every refusal below happens in the TLS handshake, before any handler runs.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
from cryptography import x509

from registry.pki import (
    CertificateBundle,
    DevCertificateAuthority,
    PeerIdentityError,
    RotatingServerCredentials,
    SpiffeId,
    WorkloadRole,
    channel_credentials,
    peer_spiffe_id,
    require_peer,
    secure_channel,
    server_credentials,
)

REGION = "eu-west"
METHOD = "/arbsphere.test.Echo/WhoAmI"


def _whoami(request: bytes, context: grpc.ServicerContext) -> bytes:
    identity = require_peer(context, region=REGION, roles={WorkloadRole.AGENT, WorkloadRole.AUDITOR})
    return identity.uri.encode() + b"|" + request


def _handler() -> grpc.GenericRpcHandler[Any, Any]:
    return grpc.method_handlers_generic_handler(
        "arbsphere.test.Echo", {"WhoAmI": grpc.unary_unary_rpc_method_handler(_whoami)}
    )


def _start(credentials: grpc.ServerCredentials) -> tuple[grpc.Server, int]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), handlers=[_handler()])
    port = server.add_secure_port("127.0.0.1:0", credentials)
    assert port != 0
    server.start()
    return server, port


def _call(channel: grpc.Channel, payload: bytes = b"ping") -> bytes:
    stub = channel.unary_unary(METHOD, request_serializer=None, response_deserializer=None)
    answer: bytes = stub(payload, timeout=5)
    return answer


def _refusal(channel: grpc.Channel) -> grpc.StatusCode:
    return _refusal_with_details(channel)[0]


def _refusal_with_details(channel: grpc.Channel) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as err:
        _call(channel)
    code: grpc.StatusCode = err.value.code()
    return code, err.value.details() or ""


@dataclass
class Region:
    ca: DevCertificateAuthority
    rotating: RotatingServerCredentials
    port: int


@pytest.fixture(scope="module")
def ca() -> DevCertificateAuthority:
    # The CA started three hours ago so that a leaf issued two hours ago can already be expired.
    return DevCertificateAuthority.ephemeral(REGION, created_at=datetime.now(UTC) - timedelta(hours=3))


@pytest.fixture
def region(ca: DevCertificateAuthority) -> Iterator[Region]:
    rotating = RotatingServerCredentials(ca.issue_coordinator(now=datetime.now(UTC)))
    server, port = _start(rotating.credentials)
    try:
        yield Region(ca, rotating, port)
    finally:
        server.stop(grace=None)


def _agent(ca: DevCertificateAuthority, venue: str = "binance") -> CertificateBundle:
    return ca.issue_agent(venue, now=datetime.now(UTC))


def test_valid_agent_is_accepted_and_identified(region: Region) -> None:
    with secure_channel(f"127.0.0.1:{region.port}", _agent(region.ca)) as channel:
        assert _call(channel) == b"spiffe://eu-west/agent/binance|ping"
    # The host name SAN works as well as the IP SAN.
    with secure_channel(f"localhost:{region.port}", _agent(region.ca, "kraken")) as channel:
        assert _call(channel, b"x") == b"spiffe://eu-west/agent/kraken|x"


def test_identity_not_authorised_for_the_method_is_denied(region: Region) -> None:
    # A valid certificate, but the coordinator role is not in the servicer's allowed roles.
    with secure_channel(f"127.0.0.1:{region.port}", region.ca.issue_coordinator()) as channel:
        code, details = _refusal_with_details(channel)
    assert code is grpc.StatusCode.PERMISSION_DENIED
    assert "peer role" in details


def test_client_from_another_ca_is_refused(region: Region) -> None:
    foreign = DevCertificateAuthority.ephemeral(REGION)  # same region name, different root key
    bundle = foreign.issue_agent("binance")
    # It trusts our CA for the server, but presents a leaf our server cannot chain.
    creds = grpc.ssl_channel_credentials(region.ca.ca_pem, bundle.key_pem, bundle.cert_pem)
    with grpc.secure_channel(f"127.0.0.1:{region.port}", creds) as channel:
        assert _refusal(channel) is grpc.StatusCode.UNAVAILABLE


def test_expired_client_is_refused(region: Region) -> None:
    two_hours_ago = datetime.now(UTC) - timedelta(hours=2)
    expired = region.ca.issue_agent("binance", ttl=timedelta(minutes=1), now=two_hours_ago)
    assert expired.is_expired(datetime.now(UTC))
    with secure_channel(f"127.0.0.1:{region.port}", expired) as channel:
        assert _refusal(channel) is grpc.StatusCode.UNAVAILABLE


def test_client_without_certificate_is_refused(region: Region) -> None:
    creds = grpc.ssl_channel_credentials(root_certificates=region.ca.ca_pem)
    with grpc.secure_channel(f"127.0.0.1:{region.port}", creds) as channel:
        assert _refusal(channel) is grpc.StatusCode.UNAVAILABLE


def test_plaintext_is_refused(region: Region) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{region.port}") as channel:
        assert _refusal(channel) is grpc.StatusCode.UNAVAILABLE


def test_agent_certificate_cannot_serve(ca: DevCertificateAuthority) -> None:
    """An agent leaf lacks the serverAuth EKU: a client refuses it even with a matching host name."""
    impostor = ca.issue(SpiffeId.agent(REGION, "evil"), dns_names=(), ip_addresses=())
    server, port = _start(server_credentials(impostor))
    try:
        with secure_channel(f"127.0.0.1:{port}", _agent(ca), server_name="localhost") as channel:
            assert _refusal(channel) is grpc.StatusCode.UNAVAILABLE
    finally:
        server.stop(grace=None)


def _probe_server_certificate(port: int, client: CertificateBundle, tmp_path: Path) -> x509.Certificate:
    """Open a fresh TLS connection (no gRPC) and return the certificate the server presents."""
    (tmp_path / "k.pem").write_bytes(client.key_pem)
    (tmp_path / "c.pem").write_bytes(client.cert_pem)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cadata=client.ca_pem.decode())
    ctx.load_cert_chain(tmp_path / "c.pem", tmp_path / "k.pem")
    ctx.set_alpn_protocols(["h2"])
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        ctx.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der)


def test_server_rotation_keeps_live_channels_and_serves_new_cert(region: Region, tmp_path: Path) -> None:
    before = region.rotating.current
    client = _agent(region.ca)
    live = secure_channel(f"127.0.0.1:{region.port}", client)
    try:
        assert _call(live, b"1").endswith(b"|1")
        assert _probe_server_certificate(region.port, client, tmp_path).serial_number == before.serial_number

        fresh = region.ca.issue_coordinator()
        region.rotating.rotate(fresh)
        assert region.rotating.rotations == 1

        # New connections get the new certificate...
        seen = _probe_server_certificate(region.port, client, tmp_path)
        assert seen.serial_number == fresh.serial_number != before.serial_number
        with secure_channel(f"127.0.0.1:{region.port}", _agent(region.ca, "kraken")) as newer:
            assert _call(newer, b"2") == b"spiffe://eu-west/agent/kraken|2"
        # ...while the channel opened before the rotation keeps working, on its existing connection.
        for i in range(3):
            assert _call(live, str(i).encode()).endswith(str(i).encode())
    finally:
        live.close()


def test_rotation_refuses_a_different_identity(region: Region) -> None:
    with pytest.raises(PeerIdentityError, match="rotate"):
        region.rotating.rotate(region.ca.issue_agent("binance"))


def test_static_credentials_and_channel_credentials(ca: DevCertificateAuthority) -> None:
    server, port = _start(server_credentials(ca.issue_coordinator()))
    try:
        creds = channel_credentials(_agent(ca, "gemini"))
        with grpc.secure_channel(f"127.0.0.1:{port}", creds) as channel:
            assert _call(channel) == b"spiffe://eu-west/agent/gemini|ping"
    finally:
        server.stop(grace=None)


def test_auth_context_shape_seen_by_grpc(ca: DevCertificateAuthority) -> None:
    """Pin down what grpcio puts in auth_context, since peer_spiffe_id relies on it."""
    captured: dict[str, object] = {}

    def capture(request: bytes, context: grpc.ServicerContext) -> bytes:
        captured.update(context.auth_context())
        return request

    handler: grpc.GenericRpcHandler[Any, Any] = grpc.method_handlers_generic_handler(
        "arbsphere.test.Echo", {"WhoAmI": grpc.unary_unary_rpc_method_handler(capture)}
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2), handlers=[handler])
    port = server.add_secure_port("127.0.0.1:0", server_credentials(ca.issue_coordinator()))
    server.start()
    try:
        with secure_channel(f"127.0.0.1:{port}", _agent(ca, "bybit")) as channel:
            _call(channel)
    finally:
        server.stop(grace=None)
    assert captured["transport_security_type"] == [b"ssl"]
    assert captured["x509_subject_alternative_name"] == [b"spiffe://eu-west/agent/bybit"]
    pem = captured["x509_pem_cert"]
    assert isinstance(pem, list) and pem[0].startswith(b"-----BEGIN CERTIFICATE-----")
    assert peer_spiffe_id(captured) == SpiffeId.agent(REGION, "bybit")
