"""Certificate lifecycle over real mTLS on loopback (agents in threads): renewal from the CA service while
sessions run, no reconnect storm when nothing renews, clear errors for an expired peer or certificate."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agents.grpc_client import AgentRunner, Backoff, CoordinatorTrustError
from arbsphere.simulation import build_region
from coordinator.grpc_server import GrpcLink, serve, venues_of
from coordinator.session import SessionDriver
from registry.pki import CertificateExpired, DevCertificateAuthority, write_bundle
from registry.pki.issuance import RunningAuthority, serve_authority
from registry.pki.renewal import CertificateSource, RetryDelay

REGION = "test"


@pytest.fixture(scope="module")
def ca() -> DevCertificateAuthority:
    return DevCertificateAuthority.ephemeral(REGION, created_at=datetime.now(UTC) - timedelta(days=1))


@pytest.fixture(scope="module")
def authority(ca: DevCertificateAuthority) -> Iterator[RunningAuthority]:
    running = serve_authority(ca)
    yield running
    running.stop(0)


class Outcome:
    def __init__(self, runner: AgentRunner) -> None:
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(runner,), daemon=True)
        self.thread.start()

    def _run(self, runner: AgentRunner) -> None:
        try:
            runner.run()
        except BaseException as exc:
            self.error = exc


def test_an_expired_coordinator_certificate_is_named(ca: DevCertificateAuthority) -> None:
    stale = ca.issue_coordinator(ttl=timedelta(seconds=30), now=datetime.now(UTC) - timedelta(minutes=5))
    server = serve(stale, region=REGION)
    try:
        _, agents, infos = build_region(2, 4)
        venue, agent = next(iter(agents.items()))
        runner = AgentRunner(
            agent,
            f"127.0.0.1:{server.port}",
            lambda: ca.issue_agent(venue),
            lambda: dict(infos[venue].reference_prices),
            backoff=Backoff(initial=0.02, maximum=0.05),
        )
        with pytest.raises(
            CoordinatorTrustError, match=r"certificate of the coordinator expired at .* not renewed"
        ):
            runner.run()
    finally:
        server.stop(0)


def test_a_directory_nobody_refreshes_costs_no_reconnects_then_fails_clearly(
    ca: DevCertificateAuthority, tmp_path: Path
) -> None:
    server = serve(ca.issue_coordinator(), region=REGION)
    try:
        _, agents, infos = build_region(2, 4)
        venue, agent = next(iter(agents.items()))
        write_bundle(tmp_path, ca.issue_agent(venue, ttl=timedelta(seconds=3)))
        events: list[dict[str, object]] = []
        runner = AgentRunner(
            agent,
            f"127.0.0.1:{server.port}",
            CertificateSource(tmp_path, retry=RetryDelay(initial=0.5, maximum=2.0)),
            lambda: dict(infos[venue].reference_prices),
            backoff=Backoff(initial=0.02, maximum=0.05),
            events=events.append,
        )
        outcome = Outcome(runner)
        time.sleep(4.0)  # renewal due after 2 s, expired after 3 s: the live stream stays up
        assert runner.stats.connects == 1
        server.hub.evict(venue, "test: force a reconnect")
        outcome.thread.join(10)
        assert isinstance(outcome.error, CertificateExpired)
        assert f"spiffe://{REGION}/agent/{venue} expired at" in str(outcome.error)
        assert "nothing replaced it" in str(outcome.error)
        assert [e["reason"] for e in events if e["event"] == "connected"] == ["start"]
    finally:
        server.stop(0)


def test_sessions_run_on_while_everyone_renews_from_the_ca(
    ca: DevCertificateAuthority, authority: RunningAuthority, tmp_path: Path
) -> None:
    url = f"127.0.0.1:{authority.port}"
    write_bundle(tmp_path / "coordinator", ca.issue_coordinator(ttl=timedelta(seconds=3)))
    coordinator_source = CertificateSource(tmp_path / "coordinator", ca_url=url)
    server = serve(coordinator_source.get(), region=REGION)
    rotating = threading.Event()

    def rotate() -> None:
        while not rotating.wait(0.2):
            if coordinator_source.refresh():
                server.credentials.rotate(coordinator_source.current)

    threading.Thread(target=rotate, daemon=True).start()
    _, agents, infos = build_region(3, 4, latency_budget_ms=600_000)
    runners: list[AgentRunner] = []
    sources: list[CertificateSource] = []
    events: list[dict[str, object]] = []
    try:
        for venue, agent in agents.items():
            write_bundle(tmp_path / venue, ca.issue_agent(venue, ttl=timedelta(seconds=3)))
            source = CertificateSource(tmp_path / venue, ca_url=url)
            mids = dict(infos[venue].reference_prices)
            runner = AgentRunner(
                agent,
                f"127.0.0.1:{server.port}",
                source,
                lambda mids=mids: mids,
                backoff=Backoff(initial=0.05, maximum=0.2),
                events=events.append,
            )
            threading.Thread(target=runner.run, daemon=True).start()
            runners.append(runner)
            sources.append(source)
        server.hub.wait_for(3, 20)
        driver = SessionDriver(GrpcLink(server.hub), venues_of(server.hub))
        complete = 0
        deadline = time.monotonic() + 9.0  # three 3 s lifetimes: renewal every 2 s
        while time.monotonic() < deadline:
            server.hub.wait_for(3, 5)
            driver.venues = dict(venues_of(server.hub))
            result = driver.run()
            assert result.converged and not result.dropped
            complete += len(result.participants) == 3
            time.sleep(0.2)
        assert complete >= 5
    finally:
        rotating.set()
        for runner in runners:
            runner.stop.set()
        server.stop(0)
    assert server.credentials.rotations >= 2
    for runner, source in zip(runners, sources, strict=True):
        assert source.renewals >= 2
        assert runner.stats.connects - 1 <= source.renewals  # reconnects only for a new certificate
    reasons = [e["reason"] for e in events if e["event"] == "connected"]
    assert "reconnect" not in reasons


def test_the_venue_config_takes_a_ca_url() -> None:
    from agents.agent_config import ConfigError, parse_config

    base = {"venue": "v", "exchange": "simulator", "source": "simulator"}
    parsed = parse_config({**base, "coordinator": {"ca_url": "grpcs://127.0.0.1:8443"}})
    assert parsed.coordinator.ca_url == "grpcs://127.0.0.1:8443"
    with pytest.raises(ConfigError, match="ca_url"):
        parse_config({**base, "coordinator": {"ca_url": "https://ca.example/renew"}})


@pytest.mark.slow
def test_agent_run_with_an_expired_certificate_stops_and_says_why(
    ca: DevCertificateAuthority, tmp_path: Path
) -> None:
    import subprocess
    import sys

    venue = "late-venue"
    expired = ca.issue_agent(venue, ttl=timedelta(seconds=30), now=datetime.now(UTC) - timedelta(minutes=5))
    write_bundle(tmp_path / "agent", expired)
    result = subprocess.run(
        [
            sys.executable, "-m", "arbsphere.cli", "agent", "run", "--venue", venue,
            "--plays", "order_book-0000", "--cert-dir", str(tmp_path / "agent"), "--target", "127.0.0.1:9",
            "--events", "none",
        ],
        capture_output=True, text=True, timeout=120, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr[-2000:]
    assert f"spiffe://{REGION}/agent/{venue} expired at" in result.stderr
    assert "nothing replaced it" in result.stderr and "Traceback" not in result.stderr
