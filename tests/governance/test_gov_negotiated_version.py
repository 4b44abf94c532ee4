"""The IR version negotiated at join is told to the agent (Welcome) and kept on the connection; a peer
older than the session layout (IR 1.3) is refused at join; an unregistered adapter is refused in-process."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import grpc
import pytest

from coordinator.grpc_server import serve
from energibridge.protocol import wire
from energibridge.protocol.venue import VenueInfo
from energibridge.v1 import coordinator_pb2 as cpb
from energibridge.v1 import coordinator_pb2_grpc as cpb_grpc
from energibridge.v1 import ir_pb2
from energibridge.version import CURRENT
from registry.contracts.admission import AdmissionVerdict, AdmissionViolation
from registry.identity import AgentClaims, DidKeyPair, JwtCredentialService
from registry.pki import DevCertificateAuthority, SpiffeId
from registry.pki.grpc_tls import secure_channel

REGION = "negotiate"


@pytest.fixture(scope="module")
def ca() -> DevCertificateAuthority:
    return DevCertificateAuthority.ephemeral(REGION, created_at=datetime.now(UTC) - timedelta(days=1))


def hello(minor: int) -> cpb.AgentMessage:
    info = VenueInfo("alice", {"SOL": Decimal("0.1")}, {"SOL": 100.0}, 1000)
    message = wire.hello_message(info, adapter="synthetic-market", adapter_version="0.1.0")
    message.ir_version.minor = minor
    return cpb.AgentMessage(hello=message)


def first_replies(
    ca: DevCertificateAuthority, port: int, messages: list[cpb.AgentMessage], count: int
) -> list[cpb.CoordinatorMessage]:
    done = threading.Event()
    replies: queue.Queue[cpb.CoordinatorMessage] = queue.Queue()

    def requests() -> Iterator[cpb.AgentMessage]:
        yield from messages
        done.wait(20)

    with secure_channel(f"127.0.0.1:{port}", ca.issue_agent("alice"), server_name="localhost") as channel:
        stream = cpb_grpc.CoordinatorStub(channel).RoundStream(requests())
        try:
            for reply in stream:
                replies.put(reply)
                if replies.qsize() >= count:
                    break
        finally:
            done.set()
            stream.cancel()  # type: ignore[no-untyped-call]
    return [replies.get_nowait() for _ in range(replies.qsize())]


def test_the_negotiated_version_is_told_and_used(ca: DevCertificateAuthority) -> None:
    running = serve(ca.issue_coordinator(), region=REGION)
    try:
        replies = first_replies(ca, running.port, [hello(CURRENT.minor)], 1)
        welcome = replies[0].welcome
        assert (welcome.ir_version.major, welcome.ir_version.minor) == (1, CURRENT.minor)
        assert welcome.region == REGION
    finally:
        running.stop(0)


@pytest.mark.parametrize("minor", [1, 2])
def test_a_peer_before_the_session_layout_is_refused_at_join(ca: DevCertificateAuthority, minor: int) -> None:
    """IR 1.3 changed the masked contribution (not an additive field): an older agent would be summed with
    vectors it cannot match, so it is refused at join with the reason, not admitted into a broken session."""
    running = serve(ca.issue_coordinator(), region=REGION)
    try:
        record = cpb.AgentMessage(record=cpb.AgentRecord(venue_id="alice", kind=ir_pb2.AUDIT_KIND_CONTROL))
        with pytest.raises(grpc.RpcError) as info:
            first_replies(ca, running.port, [hello(minor), record], 1)
        assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert f"Hello.ir_version: 1.{minor}.0 predates the IR 1.3.0 session contribution" in (
            info.value.details() or ""
        )
        assert running.hub.records.empty() and not running.hub.connected()
    finally:
        running.stop(0)


def test_a_refused_admission_is_failed_precondition_with_the_violations(ca: DevCertificateAuthority) -> None:
    asked: list[tuple[str, str, str]] = []

    def admission(venue: str, adapter: str, version: str) -> AdmissionVerdict:
        asked.append((venue, adapter, version))
        violation = AdmissionViolation("ADAPTER_NOT_REGISTERED", "Hello.adapter_version", "not registered")
        return AdmissionVerdict(venue, adapter, version, str(CURRENT), (violation,))

    running = serve(ca.issue_coordinator(), region=REGION, admission=admission)
    try:
        with pytest.raises(grpc.RpcError) as info:
            first_replies(ca, running.port, [hello(CURRENT.minor)], 1)
        assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "[ADAPTER_NOT_REGISTERED] Hello.adapter_version: not registered" in (
            info.value.details() or ""
        )
        assert asked == [("alice", "synthetic-market", "0.1.0")]
        assert not running.hub.connected()
    finally:
        running.stop(0)


def test_the_credential_must_name_the_identity_the_agent_announces(ca: DevCertificateAuthority) -> None:
    issuer = DidKeyPair.generate()
    agent = DidKeyPair.generate()
    claims = AgentClaims(agent.did, "alice", "synthetic-market", "0.1.0", SpiffeId.agent(REGION, "alice"))
    token = JwtCredentialService().issue(issuer, claims, issued_at=datetime.now(UTC), ttl=timedelta(hours=1))
    running = serve(ca.issue_coordinator(), region=REGION, trusted_issuers=[issuer.did])
    try:
        for announced, code in (
            (DidKeyPair.generate().did, grpc.StatusCode.PERMISSION_DENIED),  # someone else's credential
            ("did:key:z" + "1" * 5000, grpc.StatusCode.PERMISSION_DENIED),
        ):
            message = hello(CURRENT.minor)
            message.hello.credential = token.encoded
            message.hello.agent_did = announced
            with pytest.raises(grpc.RpcError) as info:
                first_replies(ca, running.port, [message], 1)
            assert info.value.code() == code
            assert f"issued to {agent.did!r}" in (info.value.details() or "")
        message = hello(CURRENT.minor)
        message.hello.credential = token.encoded
        message.hello.agent_did = agent.did
        assert first_replies(ca, running.port, [message], 1)[0].HasField("welcome")
    finally:
        running.stop(0)


def test_a_malformed_announced_identity_is_invalid_argument(ca: DevCertificateAuthority) -> None:
    running = serve(ca.issue_coordinator(), region=REGION)
    try:
        for bad in ("did:key:nonsense", "x" * 100_000):
            message = hello(CURRENT.minor)
            message.hello.agent_did = bad
            with pytest.raises(grpc.RpcError) as info:
                first_replies(ca, running.port, [message], 1)
            assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert "Hello.agent_did" in (info.value.details() or "")
    finally:
        running.stop(0)
