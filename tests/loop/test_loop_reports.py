"""Execution reports: validated at the coordinator, matched to committed plans, recorded once; a malformed
report is refused to its sender and the coordinator keeps serving (gRPC over mutual TLS on loopback)."""

from __future__ import annotations

import functools
import queue
import threading
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import grpc
import pytest

from agents.grpc_client import AgentRunner, Backoff, execution_report
from agents.market.simulated import starting_inventory
from agents.runtime import AgentRuntime, PlanOutcome
from arbsphere.simulation import build_region
from coordinator.grpc_server import ExecutionReports, GrpcLink, Hub, report_payload, serve
from coordinator.session import CommitAck, SessionDriver
from energibridge.errors import IrValidationError
from energibridge.protocol import wire
from energibridge.protocol.venue import VenueInfo
from energibridge.v1 import coordinator_pb2 as cpb
from energibridge.v1 import coordinator_pb2_grpc as cpb_grpc
from registry.pki import DevCertificateAuthority
from registry.pki.announcements import verify_agent_entry
from registry.pki.grpc_tls import secure_channel

REGION = "loop"
DIGEST = bytes(range(32))


def good_report(**overrides: Any) -> cpb.ExecutionReport:
    fields: dict[str, Any] = {
        "session_id": "s1",
        "venue_id": "v1",
        "sequence": 3,
        "plan_digest": DIGEST,
        "status": cpb.EXECUTION_STATUS_FILLED,
        "fill_count": 4,
        "pnl_vs_plan_quote": "1.25",
        "legs": 2,
        "legs_short": 0,
        "completed_unix_ms": 1_800_000_000_000,
    }
    fields.update(overrides)
    return cpb.ExecutionReport(**fields)


def test_a_good_report_becomes_a_ledger_payload() -> None:
    payload = report_payload("v1", good_report(risk_gates=["book_usage"]))
    assert payload == {
        "session": "s1",
        "sequence": 3,
        "plan_digest": DIGEST.hex(),
        "status": "FILLED",
        "fill_count": 4,
        "pnl_vs_plan_quote": "1.25",
        "legs": 2,
        "legs_short": 0,
        "risk_gates": ["book_usage"],
        "completed_unix_ms": 1_800_000_000_000,
    }


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"venue_id": "v2"}, "venue_id"),
        ({"session_id": ""}, "session_id"),
        ({"session_id": "x" * 300}, "session_id"),
        ({"session_id": "a\nb"}, "session_id"),
        ({"sequence": 0}, "sequence"),
        ({"plan_digest": b"\x00" * 31}, "plan_digest"),
        ({"status": cpb.EXECUTION_STATUS_UNSPECIFIED}, "status"),
        ({"status": 99}, "status"),
        ({"pnl_vs_plan_quote": "NaN"}, "pnl_vs_plan_quote"),
        ({"pnl_vs_plan_quote": "-Infinity"}, "pnl_vs_plan_quote"),
        ({"pnl_vs_plan_quote": "1.2.3"}, "pnl_vs_plan_quote"),
        ({"pnl_vs_plan_quote": ""}, "pnl_vs_plan_quote"),
        ({"pnl_vs_plan_quote": "1" * 65}, "pnl_vs_plan_quote"),
        ({"legs": 0, "legs_short": 0}, "legs_short"),
        ({"legs_short": 3}, "legs_short"),
        ({"fill_count": 2_000_000}, "fill_count"),
        ({"risk_gates": ["ok", "bad\x00gate"]}, "risk_gates[1]"),
        ({"risk_gates": ["g"] * 33}, "risk_gates"),
        ({"completed_unix_ms": -1}, "completed_unix_ms"),
    ],
)
def test_a_malformed_report_is_refused_naming_the_field(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(IrValidationError) as caught:
        report_payload("v1", good_report(**overrides))
    assert caught.value.field == f"ExecutionReport.{field}"


class Audit:
    def __init__(self) -> None:
        self.entries: list[tuple[str, str, Mapping[str, object]]] = []

    def record(self, kind: str, actor: str, payload: Mapping[str, object]) -> None:
        self.entries.append((kind, actor, dict(payload)))


def test_reports_are_matched_to_committed_plans_and_recorded_once() -> None:
    hub = Hub()
    audit = Audit()
    reports = ExecutionReports(hub, audit)
    reports.expect("s1", [CommitAck("v1", 3, b"h" * 32, DIGEST), CommitAck("v2", 3, b"h" * 32, DIGEST[::-1])])
    hub.reports.put(("v1", good_report()))
    hub.reports.put(("v1", good_report()))  # resent after a reconnect
    hub.reports.put(("v2", good_report(venue_id="v2", plan_digest=DIGEST)))  # not v2's digest
    hub.reports.put(("v3", good_report(venue_id="v3")))  # never committed
    leg_out = good_report(
        venue_id="v2", plan_digest=DIGEST[::-1], status=cpb.EXECUTION_STATUS_LEG_OUT, legs_short=1
    )
    hub.reports.put(("v2", leg_out))
    assert reports.drain() == 2
    assert [(kind, actor) for kind, actor, _ in audit.entries] == [
        ("execution_report", "v1"),
        ("execution_report", "v2"),
        ("leg_out", "v2"),
    ]
    assert reports.refused == 2
    assert len(hub.refused) == 2 and all("plan_digest" in r for r in hub.refused)


# -- over the wire -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> DevCertificateAuthority:
    return DevCertificateAuthority.ephemeral(REGION, created_at=datetime.now(UTC) - timedelta(days=1))


def send(runner: AgentRunner, outcome: PlanOutcome) -> None:
    runner.send_report(execution_report(outcome))


def _rogue(
    ca: DevCertificateAuthority, port: int, replies: list[cpb.CoordinatorMessage]
) -> queue.Queue[cpb.AgentMessage | None]:
    """A connected venue that takes part in no session and sends malformed execution reports."""
    outbox: queue.Queue[cpb.AgentMessage | None] = queue.Queue()
    info = VenueInfo("rogue", {"ETH": Decimal("0.001")}, {"ETH": 3000.0}, 1000)
    outbox.put(cpb.AgentMessage(hello=wire.hello_message(info)))

    def requests() -> Iterator[cpb.AgentMessage]:
        while (message := outbox.get()) is not None:
            yield message

    def run() -> None:
        with secure_channel(f"127.0.0.1:{port}", ca.issue_agent("rogue"), server_name="localhost") as channel:
            try:
                for reply in cpb_grpc.CoordinatorStub(channel).RoundStream(requests(), timeout=30):
                    replies.append(reply)
            except grpc.RpcError:
                pass  # the server stops at the end of the test

    threading.Thread(target=run, daemon=True).start()
    return outbox


def test_reports_over_mtls_reach_the_audit_sink_and_malformed_ones_leave_the_coordinator_serving(
    ca: DevCertificateAuthority, tmp_path: Path
) -> None:
    server = serve(ca.issue_coordinator(), region=REGION)
    scenario, agents, infos = build_region(
        3, 7, kinds=("order_book", "cpmm", "clmm"), latency_budget_ms=600_000
    )
    runners: list[AgentRunner] = []
    runtimes: list[AgentRuntime] = []
    rogue_replies: list[cpb.CoordinatorMessage] = []
    rogue = _rogue(ca, server.port, rogue_replies)
    try:
        for venue, agent in agents.items():
            runtime = AgentRuntime(agent, tmp_path / venue, inventory=starting_inventory(scenario, venue))
            runner = AgentRunner(
                agent,
                f"127.0.0.1:{server.port}",
                functools.partial(ca.issue_agent, venue),
                functools.partial(dict, infos[venue].reference_prices),
                on_plan=runtime.execute,
                backoff=Backoff(initial=0.05, maximum=0.2),
            )
            runtime.on_outcome = functools.partial(send, runner)
            threading.Thread(target=runner.run, daemon=True).start()
            runners.append(runner)
            runtimes.append(runtime)
        server.hub.wait_for(4, 20)
        audit = Audit()
        reports = ExecutionReports(server.hub, audit)
        driver = SessionDriver(GrpcLink(server.hub, round_timeout_s=10.0), infos)
        rogue.put(cpb.AgentMessage(execution_report=good_report(venue_id="rogue", pnl_vs_plan_quote="NaN")))
        rogue.put(cpb.AgentMessage(execution_report=good_report(venue_id="rogue")))  # no such plan
        acks = 0
        for _ in range(2):
            result = driver.run()
            assert result.converged and result.acks
            acks += len(result.acks)
            for ack in result.acks:  # what session.py writes as plan_committed, signed by the agent
                entry = {
                    "event": "plan_committed", "subject": ack.venue_id, "session": result.session_id,
                    "sequence": ack.sequence, "state_hash": ack.state_hash.hex(),
                    "plan_digest": ack.plan_digest.hex(), "agent_identity_key": ack.identity_key.hex(),
                    "agent_signature": ack.signature.hex(),
                }  # fmt: skip
                assert verify_agent_entry(entry)
                assert not verify_agent_entry({**entry, "sequence": ack.sequence + 1})
            reports.expect(result.session_id, result.acks)
            reports.drain(5.0)
        assert reports.refused == 2
        recorded = [payload for kind, _, payload in audit.entries if kind == "execution_report"]
        assert len(recorded) == acks
        assert {p["status"] for p in recorded} == {"FILLED"}
        signed = [
            {"event": kind, "subject": actor, **p}
            for kind, actor, p in audit.entries
            if kind == "execution_report"
        ]
        assert all(verify_agent_entry(entry) for entry in signed)  # every agent-originated entry
        assert not any(verify_agent_entry({**entry, "status": "LEG_OUT"}) for entry in signed)
        assert not any(verify_agent_entry({**entry, "pnl_vs_plan_quote": "1"}) for entry in signed)
        committed = {(v, s): d.hex() for (v, s), (_, d) in reports.committed.items()}
        assert {(actor, p["sequence"]): p["plan_digest"] for _, actor, p in audit.entries} == committed
        deadline = time.monotonic() + 10  # the refusals travel back on the rogue's own stream
        while len(errors := [r.error for r in rogue_replies if r.WhichOneof("body") == "error"]) < 2:
            assert time.monotonic() < deadline, rogue_replies
            time.sleep(0.02)
        assert [e.field for e in errors] == ["execution_report", "execution_report"]
        assert all("no plan" in e.message for e in errors)  # matched to a plan before any field is read
    finally:
        rogue.put(None)
        for runner in runners:
            runner.stop.set()
        server.stop(0)
        for runtime in runtimes:
            runtime.close()
