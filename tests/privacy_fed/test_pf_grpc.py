"""A private session over the real mTLS gRPC transport: refusals travel as ``ErrorReply``, the coordinator
treats the refusing agent as not responding and drops it, the others commit a balanced plan."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial

import pytest

from agents.agent import EdgeAgent
from agents.grpc_client import AgentRunner, Backoff
from agents.privacy import PrivacyAccountant, PrivacyPolicy
from agents.private_release import AgentPrivacy
from coordinator.engine.config import AdmmConfig
from coordinator.grpc_server import GrpcLink, RunningServer, serve, venues_of
from coordinator.session import SessionDriver
from energibridge.protocol.venue import VenueInfo
from registry.pki import DevCertificateAuthority
from tests.privacy_fed.pf_helpers import DELTA, fixed_clock, private_region

REGION = "test"


@pytest.fixture(scope="module")
def ca() -> DevCertificateAuthority:
    return DevCertificateAuthority.ephemeral(REGION, created_at=datetime.now(UTC) - timedelta(days=1))


@pytest.fixture
def server(ca: DevCertificateAuthority) -> Iterator[RunningServer]:
    running = serve(ca.issue_coordinator(), region=REGION)
    yield running
    running.stop(0)


def _start(
    server: RunningServer,
    agents: dict[str, EdgeAgent],
    infos: dict[str, VenueInfo],
    ca: DevCertificateAuthority,
) -> dict[str, AgentRunner]:
    runners = {}
    for venue, agent in agents.items():
        mids = dict(infos[venue].reference_prices)
        runner = AgentRunner(
            agent,
            f"127.0.0.1:{server.port}",
            partial(ca.issue_agent, venue, ttl=timedelta(hours=1)),
            partial(dict, mids),
            backoff=Backoff(initial=0.05, maximum=0.2),
        )
        threading.Thread(target=runner.run, daemon=True).start()
        runners[venue] = runner
    server.hub.wait_for(len(agents), 20)
    return runners


def test_refusing_agent_is_dropped_over_grpc_and_the_plan_stays_balanced(
    server: RunningServer, ca: DevCertificateAuthority
) -> None:
    # A $100 resolution keeps the survivors' private plan profitable (the commit gate refuses losing plans,
    # and OpenDP's noise cannot be seeded): the committed plan is then checked for exact balance.
    _scenario, agents, infos = private_region(4, 7, epsilon=1.0, resolution_usd=100.0)
    victim = sorted(agents)[2]
    privacy = agents[victim].privacy
    assert privacy is not None
    window = privacy.session.zcdp_rho
    spent = window - 1.5 * privacy.session.rho_per_release()  # one release left in its window
    accountant = PrivacyAccountant(
        victim, PrivacyPolicy(window, 3600, delta=DELTA), clock=fixed_clock, spent_zcdp_rho=spent
    )
    agents[victim].privacy = AgentPrivacy(accountant, privacy.session)
    runners = _start(server, agents, infos, ca)
    try:
        link = GrpcLink(server.hub, round_timeout_s=0.5)
        config = AdmmConfig(gap_tol_rel=0.05, max_rounds=200, max_missed_rounds=1)
        result = SessionDriver(link, venues_of(server.hub), config=config).run("private")
    finally:
        for runner in runners.values():
            runner.stop.set()
    victim_runner = runners[victim]
    assert any("privacy budget exhausted" in message for message in victim_runner.stats.refused)
    assert victim in result.dropped
    assert victim not in {ack.venue_id for ack in result.acks}
    assert len(agents[victim].privacy_records()) == 1
    net: dict[str, Decimal] = {}
    for venue, agent in agents.items():
        if venue == victim:
            assert agent.plan_state.sequence == 0
            continue
        for asset, quantity in agent.plan_state.positions.items():
            net[asset] = net.get(asset, Decimal(0)) + quantity
        assert agent.privacy is not None
        assert 1 <= len(agent.privacy_records("private")) <= agent.privacy.session.max_releases
    assert net and all(value == 0 for value in net.values()), net
