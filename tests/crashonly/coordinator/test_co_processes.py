"""The coordinator is crash-only under hostile insiders and faults (real processes, mTLS on loopback).

Every trigger of the reliability campaign is played against a running ``coordinator serve --sessions 0``
with honest agents as separate processes; after each one the coordinator is still up and the remaining
agents commit a plan in the same or the next session. Then the coordinator is SIGKILLed right after a
commit (``KILL_TRIALS`` times; ``ARBSPHERE_KILL_TRIALS=20`` for a manual run) and the whole region is
restarted: no executed plan is missing from the ledger, no (venue, sequence) is written twice.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from energibridge.secagg import generate_private_key, public_key_bytes
from energibridge.secagg.keys import announcement_payload
from energibridge.v1 import coordinator_pb2 as cpb
from energibridge.v1 import coordinator_pb2_grpc as cpb_grpc
from registry.pki.announcements import bind_identity, identity_public_bytes
from registry.pki.grpc_tls import secure_channel
from tests.crashonly.coordinator.co_helpers import (
    Crew,
    Mallory,
    actors,
    commits_after,
    duplicates,
    mallory_hello,
    plan_keys,
    wait_event,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]
KILL_TRIALS = int(os.environ.get("ARBSPHERE_KILL_TRIALS", "3"))
SESSION_S = 60.0


@pytest.fixture
def crew(tmp_path: Path) -> Iterator[Crew]:
    region = Crew(tmp_path, 3)
    try:
        yield region
    finally:
        region.close()


def _alive(crew: Crew) -> None:
    coordinator = crew.procs[0]
    assert coordinator.popen.poll() is None, f"the coordinator exited: {coordinator.tail()}"


def _silent_streams(crew: Crew, count: int) -> dict[str, int]:
    """``count`` streams from one valid certificate that never send a byte; how each one ended."""
    bundle = crew.ca.issue_agent("mallory")
    codes: dict[str, int] = {}
    lock = threading.Lock()
    release = threading.Event()

    def silent() -> Iterator[cpb.AgentMessage]:
        release.wait(30)
        return
        yield  # pragma: no cover (a generator that sends nothing)

    def one(channel: grpc.Channel) -> None:
        try:
            for _ in cpb_grpc.CoordinatorStub(channel).RoundStream(silent(), timeout=40):
                pass
            code = "OK"
        except grpc.RpcError as exc:
            code = exc.code().name if isinstance(exc, grpc.Call) else "UNKNOWN"
        with lock:
            codes[code] = codes.get(code, 0) + 1

    with secure_channel(crew.target, bundle, server_name="localhost") as channel:
        threads = [threading.Thread(target=one, args=(channel,), daemon=True) for _ in range(count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(45)
        release.set()
    return codes


def test_hostile_insiders_never_end_the_coordinator(crew: Crew) -> None:
    coordinator = crew.coordinator(
        "--reply-timeout", "2", "--first-message-timeout", "2", "--latency-floor-ms", "3000"
    )
    a, b, c = crew.venues
    # Paper agents without inventory limits: the test runs ~85 s of back-to-back sessions, and with
    # silent members no longer costing every session (quarantine), the honest agents used to run out of
    # inventory before the last phase and find nothing left to commit.
    unlimited = "--no-inventory-limits"
    crew.agent(a, unlimited)
    crew.agent(b, unlimited)
    crew.agent(c, unlimited, "--latency-budget-ms", "1")  # a 1 ms deadline without the operator's floor
    first = commits_after(coordinator, 0, SESSION_S, minimum=3)
    print(f"latency_budget_ms=1 from {c}: session {first['session']} committed by {first['committed']}")
    survived: list[str] = []

    # 70 silent streams from one valid certificate: the per-identity cap refuses most, the first-message
    # deadline closes the rest; the honest agents keep committing.
    seen = len(coordinator.of("session"))
    codes = _silent_streams(crew, 70)
    assert codes.get("RESOURCE_EXHAUSTED", 0) >= 66 and sum(codes.values()) == 70, codes
    assert set(codes) <= {"RESOURCE_EXHAUSTED", "DEADLINE_EXCEEDED"}, codes
    after = commits_after(coordinator, seen, SESSION_S)
    survived.append(f"70 silent streams {codes}: next commit {after['committed']}")

    # A member that joins and stays silent: left out of the session after the reply deadline, evicted.
    seen = len(coordinator.of("session"))
    silent = Mallory(crew.target, crew.ca.issue_agent("mallory"), mallory_hello())
    evicted = wait_event(coordinator, "evicted", SESSION_S, lambda e: e["venue"] == "mallory")
    after = commits_after(coordinator, seen, SESSION_S)
    assert silent.ended.wait(10) and "mallory" not in after["committed"]
    survived.append(f"silent member: evicted ({evicted['reason']}), next commit {after['committed']}")

    # A 5-byte X25519 key: refused, left out of the key directory (the others' masks never see it).
    def bad_key(message: cpb.CoordinatorMessage) -> list[cpb.AgentMessage]:
        if message.WhichOneof("body") != "session_start":
            return []
        key = cpb.SessionKey(session_id=message.session_start.session_id, x25519_public_key=b"\x01" * 5)
        return [cpb.AgentMessage(session_key=key)]

    seen_evictions = len(coordinator.of("evicted"))
    seen = len(coordinator.of("session"))
    keyed = Mallory(crew.target, crew.ca.issue_agent("mallory"), mallory_hello(), bad_key)
    evicted = wait_event(
        coordinator,
        "evicted",
        SESSION_S,
        lambda e: e["venue"] == "mallory" and e in coordinator.of("evicted")[seen_evictions:],
    )
    after = commits_after(coordinator, seen, SESSION_S)
    assert "x25519_public_key" in evicted["reason"] and keyed.ended.wait(10)
    survived.append(f"5-byte session key: {evicted['reason'][:60]}..., next commit {after['committed']}")

    # Execution reports with PnL 1e2000000 and 1e999999999, and a Hello whose lot is 1e-999999; the
    # member's session key is properly signed (it holds a real agent certificate), then it goes silent.
    mallory_bundle = crew.ca.issue_agent("mallory")
    identity = Ed25519PrivateKey.generate()
    certificate, binding = bind_identity(mallory_bundle, identity)

    def keyed_then_silent(message: cpb.CoordinatorMessage) -> list[cpb.AgentMessage]:
        if message.WhichOneof("body") != "session_start":
            return []
        session = message.session_start.session_id
        key = public_key_bytes(generate_private_key())
        signed = cpb.SessionKey(
            session_id=session,
            x25519_public_key=key,
            signature=identity.sign(announcement_payload(session, "mallory", key)),
            identity_key=identity_public_bytes(identity),
            certificate=certificate,
            identity_binding=binding,
        )
        return [cpb.AgentMessage(session_key=signed)]

    seen = len(coordinator.of("session"))
    reporter = Mallory(crew.target, mallory_bundle, mallory_hello(), keyed_then_silent)
    for pnl in ("1e2000000", "1e999999999", "-1e999999999"):
        report = cpb.ExecutionReport(
            session_id=first["session"], venue_id="mallory", sequence=first["sequence"],
            plan_digest=bytes(32), status=cpb.EXECUTION_STATUS_FILLED, pnl_vs_plan_quote=pnl, legs=1,
        )  # fmt: skip
        reporter.send(cpb.AgentMessage(execution_report=report))
    deadline = time.monotonic() + 20
    while len(reporter.errors()) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    refusals = [e for e in reporter.errors() if e.field == "execution_report"]
    assert len(refusals) == 3, reporter.errors()
    evicted = wait_event(
        coordinator,
        "evicted",
        SESSION_S,
        lambda e: e["venue"] == "mallory" and "round deadlines" in e["reason"],
    )
    reporter.close()
    lots = Mallory(crew.target, crew.ca.issue_agent("mallory"), mallory_hello(lot_sizes=["1e-999999"]))
    assert lots.ended.wait(20) and lots.code == grpc.StatusCode.INVALID_ARGUMENT
    after = commits_after(coordinator, seen, SESSION_S)
    survived.append(
        f"3 reports with PnL 1e2000000..: refused; keyed-then-silent member: {evicted['reason']}; "
        f"lot 1e-999999: {lots.code.name}; next commit {after['committed']}"
    )

    _alive(crew)
    # A member left out at the start (no valid key) or dropped for silence is never part of a plan:
    # not counted, not sent PlanCommit, not listed in the write-ahead intent.
    intents = [p for _, p in crew.entries() if p.get("event") == "plan_intent"]
    assert intents and not [p for p in intents if "mallory" in p["members"]]
    abandoned = coordinator.of("abandoned")
    print("\n".join(["hostile insiders: tried and survived:", *survived]))
    print(f"coordinator up; {len(coordinator.of('session'))} sessions, {len(abandoned)} abandoned")


def test_departures_twins_and_long_absences_never_end_the_coordinator(crew: Crew) -> None:
    coordinator = crew.coordinator("--join-timeout", "3", "--round-timeout", "1", "--reply-timeout", "2")
    a, b, c = crew.venues
    agents = {v: crew.agent(v) for v in crew.venues}
    commits_after(coordinator, 0, SESSION_S, minimum=3)
    survived: list[str] = []

    # An agent SIGKILLed mid-session (in the middle of its rounds): the rest commit this session or the next.
    rounds = len(coordinator.of("round"))
    wait_event(coordinator, "round", SESSION_S, lambda e: e in coordinator.of("round")[rounds:])
    agents[c].kill()
    # The session in flight may still end with c's acknowledgement (sent before the kill); the first
    # session *started* after the kill must not include it.
    seen = len(coordinator.of("session")) + 1
    after = commits_after(coordinator, seen, SESSION_S)
    assert c not in after["committed"]
    survived.append(f"{c} killed mid-session: next commit {after['committed']}")

    # Two processes with one venue certificate: the newest stream replaces the older, both keep trying;
    # the venue of the twins only ever displaces itself, the others commit.
    seen = len(coordinator.of("session"))
    twin = crew.agent(a, name=f"twin {a}")
    for _ in range(2):
        after = commits_after(coordinator, seen, SESSION_S)
        assert b in after["committed"]
        seen = coordinator.of("session").index(after) + 1
    survived.append(f"twin of {a}: next commits {after['committed']}")
    twin.kill()
    agents[a].kill()

    # Everyone but one away for longer than the join timeout: the coordinator waits for a quorum.
    waiting = wait_event(coordinator, "waiting", SESSION_S, lambda e: len(e["connected"]) < 2)
    time.sleep(4)  # more than the join timeout again
    _alive(crew)
    seen = len(coordinator.of("session"))
    crew.agent(a)
    crew.agent(c)
    after = commits_after(coordinator, seen, SESSION_S)
    survived.append(
        f"alone with {waiting['connected']} past the join timeout: waited; back: {after['committed']}"
    )

    _alive(crew)
    kinds = [kind for kind, _ in crew.entries()]
    assert kinds.count("LEAVE") >= 2, kinds
    print("\n".join(["departures: tried and survived:", *survived]))
    print(
        f"coordinator up; abandoned sessions {len(coordinator.of('abandoned'))}, LEAVE {kinds.count('LEAVE')}"
    )


def test_kill_after_commit_and_full_restart_lose_and_duplicate_nothing(crew: Crew) -> None:
    agents = [crew.agent(v) for v in crew.venues]
    for trial in range(KILL_TRIALS):
        coordinator = crew.coordinator()
        before = len(plan_keys(agents))
        deadline = time.monotonic() + SESSION_S
        while len(plan_keys(agents)) == before:  # an agent has just executed a committed plan
            assert time.monotonic() < deadline and coordinator.popen.poll() is None, coordinator.tail()
            time.sleep(0.005)
        coordinator.popen.send_signal(signal.SIGKILL)
        coordinator.popen.wait(10)
        print(f"trial {trial + 1}: coordinator SIGKILLed right after plan {plan_keys(agents)[-1]}")

    # A full restart: every agent and the coordinator killed, all started again on the same state.
    for agent in agents:
        agent.kill()
    coordinator = crew.coordinator()
    restarted = [crew.agent(v, name=f"restarted {v}") for v in crew.venues]
    seen = 0
    for _ in range(2):
        session = commits_after(coordinator, seen, SESSION_S)
        seen = coordinator.of("session").index(session) + 1
    time.sleep(1.0)
    coordinator.kill()

    entries = crew.entries()
    intents = {
        (p["session"], p["sequence"]): set(p["members"])
        for k, p in entries
        if p.get("event") == "plan_intent"
    }
    executed = plan_keys(agents + restarted)
    missing = [(v, s, q) for v, s, q in executed if v not in intents.get((s, q), set())]
    acked = [(p["subject"], p["sequence"]) for k, p in entries if p.get("event") == "plan_committed"]
    duplicated = duplicates(acked) + duplicates([(v, q) for v, _, q in executed])
    duplicated += duplicates([sequence for _, sequence in intents])
    print(
        f"{KILL_TRIALS} kills right after a commit + 1 full restart: {len(executed)} executed plans, "
        f"{len(missing)} missing from the ledger, {len(duplicated)} duplicated (venue, sequence)"
    )
    assert executed and not missing, missing
    assert not duplicated, duplicated
    # KILL_TRIALS + 2 coordinator starts, one identity on the ledger (its key persists beside the log key).
    assert len(actors(crew.ledger_url)) == 1, actors(crew.ledger_url)
