"""The federation over a real gRPC server with mutual TLS on loopback (agents in threads)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest

from agents.grpc_client import AgentRunner, Backoff
from arbsphere.inprocess import InProcessLink
from arbsphere.simulation import build_region
from coordinator.grpc_server import GrpcLink, RunningServer, serve, venues_of
from coordinator.session import SessionDriver
from energibridge.protocol import wire
from energibridge.v1 import coordinator_pb2 as cpb
from energibridge.v1 import coordinator_pb2_grpc as cpb_grpc
from registry.identity import AgentClaims, DidKeyPair, JwtCredentialService
from registry.pki import CertificateBundle, DevCertificateAuthority, SpiffeId
from registry.pki.grpc_tls import secure_channel

REGION = "test"


@pytest.fixture(scope="module")
def ca() -> DevCertificateAuthority:
    return DevCertificateAuthority.ephemeral(REGION, created_at=datetime.now(UTC) - timedelta(days=1))


@pytest.fixture
def server(ca: DevCertificateAuthority) -> Iterator[RunningServer]:
    running = serve(ca.issue_coordinator(), region=REGION)
    yield running
    running.stop(0)


def start_agents(
    server: RunningServer,
    agents: dict,
    infos: dict,
    ca: DevCertificateAuthority,
    ttl: timedelta = timedelta(hours=1),
) -> list[AgentRunner]:
    runners = []
    for venue, agent in agents.items():
        mids = dict(infos[venue].reference_prices)
        runner = AgentRunner(
            agent,
            f"127.0.0.1:{server.port}",
            lambda venue=venue: ca.issue_agent(venue, ttl=ttl),
            lambda mids=mids: mids,
            backoff=Backoff(initial=0.05, maximum=0.2),
        )
        threading.Thread(target=runner.run, daemon=True).start()
        runners.append(runner)
    server.hub.wait_for(len(agents), 20)
    return runners


def stop(runners: list[AgentRunner]) -> None:
    for runner in runners:
        runner.stop.set()


def test_grpc_transport_gives_the_same_plan_as_in_process(
    server: RunningServer, ca: DevCertificateAuthority
) -> None:
    _, local_agents, infos = build_region(5, 9, latency_budget_ms=600_000)
    local = SessionDriver(InProcessLink(local_agents), infos).run("same")
    _, agents, _ = build_region(5, 9, latency_budget_ms=600_000)
    for venue, agent in agents.items():  # same commitment keys, so the same plans give the same acks
        agent.commitments = local_agents[venue].commitments
    runners = start_agents(server, agents, infos, ca)
    try:
        remote = SessionDriver(GrpcLink(server.hub), venues_of(server.hub)).run("same")
    finally:
        stop(runners)
    assert remote.rounds == local.rounds
    assert remote.profit == pytest.approx(local.profit, abs=1e-9)
    assert [(a.venue_id, a.state_hash) for a in remote.acks] == [
        (a.venue_id, a.state_hash) for a in local.acks
    ]


def test_rotation_keeps_sessions_and_agents_renew_before_expiry(
    server: RunningServer, ca: DevCertificateAuthority
) -> None:
    _, agents, infos = build_region(3, 4, latency_budget_ms=600_000)
    runners = start_agents(server, agents, infos, ca, ttl=timedelta(seconds=3))
    try:
        driver = SessionDriver(GrpcLink(server.hub), venues_of(server.hub))
        assert driver.run().converged
        server.credentials.rotate(ca.issue_coordinator())
        assert driver.run().converged  # the rotation dropped no live session
        deadline = time.monotonic() + 10  # agents' 3 s certificates: renewal is due after 2 s
        while min(r.stats.connects for r in runners) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert min(r.stats.connects for r in runners) >= 2
        server.hub.wait_for(3, 10)
        driver.venues = dict(venues_of(server.hub))
        assert driver.run().converged  # fresh channels, fresh certificates, the rotated server cert
    finally:
        stop(runners)
    assert server.credentials.rotations == 1


def _hello_stream(
    bundle: CertificateBundle, port: int, *messages: cpb.AgentMessage
) -> list[cpb.CoordinatorMessage]:
    with secure_channel(f"127.0.0.1:{port}", bundle, server_name="localhost") as channel:
        stub = cpb_grpc.CoordinatorStub(channel)
        replies: list[cpb.CoordinatorMessage] = []
        for reply in stub.RoundStream(iter(messages), timeout=5):
            replies.append(reply)
        return replies


def _hello(venue: str, **overrides: object) -> cpb.AgentMessage:
    _, _agents, infos = build_region(2, 1)
    info = next(iter(infos.values()))
    message = wire.hello_message(info)
    message.venue_id = venue
    for name, value in overrides.items():
        if name == "reference_prices":
            del message.reference_prices[:]
            message.reference_prices.extend(value)  # type: ignore[arg-type]
        else:
            setattr(message, name, value)
    return cpb.AgentMessage(hello=message)


def test_certificate_from_another_ca_is_refused(server: RunningServer) -> None:
    other = DevCertificateAuthority.ephemeral(REGION)
    with pytest.raises(grpc.RpcError) as info:
        _hello_stream(other.issue_agent("rogue"), server.port, _hello("rogue"))
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "rogue" not in server.hub.connected()


def test_expired_certificate_is_refused(server: RunningServer, ca: DevCertificateAuthority) -> None:
    old = ca.issue_agent("late", ttl=timedelta(seconds=60), now=datetime.now(UTC) - timedelta(minutes=5))
    with pytest.raises(grpc.RpcError) as info:
        _hello_stream(old, server.port, _hello("late"))
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE


def test_no_plaintext_listener(server: RunningServer) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        stub = cpb_grpc.CoordinatorStub(channel)
        with pytest.raises(grpc.RpcError) as info:
            list(stub.RoundStream(iter([_hello("plain")]), timeout=3))
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE


def test_hello_for_another_venue_is_refused(server: RunningServer, ca: DevCertificateAuthority) -> None:
    with pytest.raises(grpc.RpcError) as info:
        _hello_stream(ca.issue_agent("alice"), server.port, _hello("bob"))
    assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "does not match the certificate identity" in (info.value.details() or "")


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        ({"reference_prices": [float("nan")] * 3}, "reference_prices"),
        ({"reference_prices": [-1.0, 1.0, 1.0]}, "reference_prices"),
        ({"lot_sizes": ["abc", "0.1", "0.1"]}, "lot_sizes"),
        ({"latency_budget_ms": 0}, "latency_budget_ms"),
    ],
)
def test_malformed_hello_is_refused_and_server_keeps_serving(
    server: RunningServer, ca: DevCertificateAuthority, overrides: dict, needle: str
) -> None:
    venue = "mallory"
    message = _hello(venue)
    if "lot_sizes" in overrides:
        del message.hello.lot_sizes[:]
        message.hello.lot_sizes.extend(overrides["lot_sizes"])
    elif "reference_prices" in overrides:
        del message.hello.reference_prices[:]
        message.hello.reference_prices.extend(overrides["reference_prices"])
    else:
        message.hello.latency_budget_ms = overrides["latency_budget_ms"]
    with pytest.raises(grpc.RpcError) as info:
        _hello_stream(ca.issue_agent(venue), server.port, message)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert needle in (info.value.details() or "")
    _assert_still_serving(server, ca)


def test_unknown_major_version_is_refused(server: RunningServer, ca: DevCertificateAuthority) -> None:
    message = _hello("eve")
    message.hello.ir_version.major = 2
    with pytest.raises(grpc.RpcError) as info:
        _hello_stream(ca.issue_agent("eve"), server.port, message)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "major" in (info.value.details() or "")


def test_oversize_message_is_refused_and_server_keeps_serving(
    server: RunningServer, ca: DevCertificateAuthority
) -> None:
    message = _hello("big")
    message.hello.agent_did = "x" * (5 << 20)
    with pytest.raises(grpc.RpcError) as info:
        _hello_stream(ca.issue_agent("big"), server.port, message)
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    _assert_still_serving(server, ca)


def _assert_still_serving(server: RunningServer, ca: DevCertificateAuthority) -> None:
    _, agents, infos = build_region(2, 5, latency_budget_ms=600_000)
    runners = start_agents(server, agents, infos, ca)
    try:
        assert SessionDriver(GrpcLink(server.hub), venues_of(server.hub)).run().converged
    finally:
        stop(runners)


def test_replayed_and_out_of_order_contributions_are_refused(
    server: RunningServer, ca: DevCertificateAuthority
) -> None:
    _, agents, infos = build_region(2, 6, latency_budget_ms=600_000)
    runners = start_agents(server, agents, infos, ca)
    try:
        link = GrpcLink(server.hub)
        driver = SessionDriver(link, venues_of(server.hub))
        assert driver.run("first").converged
        venue = sorted(agents)[0]
        stale = cpb.AgentMessage(
            contribution=cpb.MaskedContribution(
                session_id="first", round_id=1, masked=[1, 2, 3], secagg_round_id=0
            )
        )
        server.hub.inbox.put((venue, stale))
        result = driver.run("second")
        assert result.converged
    finally:
        stop(runners)
    assert any(r.startswith(f"{venue}: ") for r in server.hub.refused), server.hub.refused


def test_credentials_are_checked_at_join(ca: DevCertificateAuthority) -> None:
    issuer = DidKeyPair.generate()
    service = JwtCredentialService()
    running = serve(ca.issue_coordinator(), region=REGION, trusted_issuers=[issuer.did])
    try:

        def credential(venue: str, spiffe_venue: str | None = None, signer: DidKeyPair = issuer) -> str:
            claims = AgentClaims(
                subject_did=DidKeyPair.generate().did,
                venue=venue,
                adapter="arbsphere-reference",
                adapter_version="0.1.0",
                spiffe_id=SpiffeId.agent(REGION, spiffe_venue or venue),
            )
            issued = service.issue(signer, claims, issued_at=datetime.now(UTC), ttl=timedelta(hours=1))
            return issued.encoded

        for bad in ("", credential("other", "other"), credential("alice", signer=DidKeyPair.generate())):
            message = _hello("alice")
            message.hello.credential = bad
            with pytest.raises(grpc.RpcError) as info:
                _hello_stream(ca.issue_agent("alice"), running.port, message)
            assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
            assert "Hello.credential" in (info.value.details() or "")
        good = _hello("alice")
        good.hello.credential = credential("alice")
        bundle = ca.issue_agent("alice")
        done = threading.Event()

        def requests() -> Iterator[cpb.AgentMessage]:
            # Keep the stream open until the test has looked: a request stream that ends right after
            # Hello lets the server deregister the member before wait_for sees it (seen under CI load).
            yield good
            done.wait(30)

        with secure_channel(f"127.0.0.1:{running.port}", bundle, server_name="localhost") as channel:
            stream = cpb_grpc.CoordinatorStub(channel).RoundStream(requests())
            try:
                running.hub.wait_for(1, 10)
                assert running.hub.connected()["alice"].credential_id
            finally:
                done.set()
                stream.cancel()
    finally:
        running.stop(0)


def test_an_agent_from_another_ca_says_why_and_stops(
    server: RunningServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """It used to retry forever without saying why (137 attempts in 43 s, then died)."""
    from agents.grpc_client import MAX_HANDSHAKE_FAILURES, CoordinatorTrustError

    foreign = DevCertificateAuthority.create(tmp_path / "foreign", REGION)
    _, agents, infos = build_region(2, 4)
    venue, agent = next(iter(agents.items()))
    runner = AgentRunner(
        agent,
        f"127.0.0.1:{server.port}",
        lambda: foreign.issue_agent(venue),
        lambda: dict(infos[venue].reference_prices),
        backoff=Backoff(initial=0.02, maximum=0.05),
    )
    started = time.monotonic()
    with pytest.raises(CoordinatorTrustError, match=r"TLS handshakes .* failed: .* issued by another CA"):
        runner.run()
    assert time.monotonic() - started < 30
    warnings = [r for r in caplog.records if "TLS handshake" in r.getMessage()]
    assert len(warnings) == MAX_HANDSHAKE_FAILURES
