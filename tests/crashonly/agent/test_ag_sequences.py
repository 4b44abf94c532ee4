"""Plan sequences and delta-sync state survive a restart (``PlanStateStore`` in the state directory): the
restarted agent reports its last sequence at join, never accepts an older plan, and its next plan follows
its persisted state (same chain of state hashes). A damaged or foreign file is refused by name.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from agents.agent import EdgeAgent
from agents.grpc_client import AgentRunner
from agents.plan_state import PlanState, PlanStateFileError, PlanStateStore
from energibridge.v1 import coordinator_pb2 as cpb
from tests.crashonly.agent.test_ag_gates import _one_book_agent

VENUE = "v"


def _runner(agent: EdgeAgent, store: PlanStateStore) -> AgentRunner:
    def no_certificates() -> object:
        raise AssertionError("not connecting in this test")

    return AgentRunner(agent, "127.0.0.1:1", no_certificates, lambda: {}, plan_store=store)  # type: ignore[arg-type]


def _commit(runner: AgentRunner, agent: EdgeAgent, sequence: int, trade: str) -> cpb.PlanAck:
    """The coordinator's PlanCommit after a session whose rounding ended on ``trade`` SOL."""
    agent.start_session(f"s{sequence}", sorted(agent.curves), secure=False)
    agent._adjusted = {"SOL": Decimal(trade)}  # the rounding phase's outcome
    reply = runner._on_commit(cpb.PlanCommit(session_id=f"s{sequence}", sequence=sequence, now_unix_ms=1))
    return reply.ack


def test_a_restarted_agent_reports_its_last_sequence_and_refuses_older_plans(tmp_path: Path) -> None:
    path = tmp_path / "plan_state.json"
    agent, _ = _one_book_agent(VENUE)
    store = PlanStateStore(path, VENUE)
    runner = _runner(agent, store)
    assert runner.last_sequence == 0
    assert not _commit(runner, agent, 3, "1").empty
    assert _commit(runner, agent, 5, "0").empty  # nothing to trade: acknowledged empty, still seen
    assert not _commit(runner, agent, 7, "-2").empty
    before = agent.plan_state
    assert before.sequence == 7 and runner.last_sequence == 7

    # Restart: a fresh agent and runner from the state directory alone.
    again, _ = _one_book_agent(VENUE)
    restored = PlanStateStore(path, VENUE)
    saved = restored.load()
    again.plan_state = saved.state
    runner = _runner(again, restored)
    assert saved.state == before and saved.state.state_hash() == before.state_hash()
    assert runner.last_sequence == 7  # what the Hello carries
    for older in (2, 5, 7):  # a coordinator that restarted without its ledger resends or reuses these
        ack = _commit(runner, again, older, "1")
        assert ack.empty and ack.sequence == older
        assert again.plan_state == before
    ack = _commit(runner, again, 8, "1")
    assert not ack.empty and again.plan_state.sequence == 8
    plan = runner.stats.plans[-1]
    assert plan.delta.previous_sequence == 7 and plan.delta.previous_state_hash == before.state_hash()
    assert PlanStateStore(path, VENUE).load().state == again.plan_state


def test_an_empty_commit_raises_the_last_sequence_seen(tmp_path: Path) -> None:
    path = tmp_path / "plan_state.json"
    agent, _ = _one_book_agent(VENUE)
    runner = _runner(agent, PlanStateStore(path, VENUE))
    assert _commit(runner, agent, 4, "0").empty
    saved = PlanStateStore(path, VENUE).load()
    assert (saved.state.sequence, saved.last_seen) == (0, 4)


@pytest.mark.parametrize(
    ("damage", "field"),
    [
        (lambda d: d.update(venue_id="other"), "venue_id"),
        (lambda d: d.update(sequence=-1), "sequence"),
        (lambda d: d.update(last_seen="7"), "last_seen"),
        (lambda d: d["positions"].update({"SOL-USD": "12"}), "state_hash"),
        (lambda d: d.update(positions=[]), "positions"),
        (lambda d: d["positions"].update({"SOL-USD": "NaN"}), "positions.SOL-USD"),
    ],
)
def test_a_damaged_or_foreign_state_file_is_refused_by_name(
    tmp_path: Path, damage: object, field: str
) -> None:
    path = tmp_path / "plan_state.json"
    store = PlanStateStore(path, VENUE)
    store.save(PlanState(VENUE, 3, {"SOL-USD": Decimal("1.5")}), 3)
    document = json.loads(path.read_text())
    assert callable(damage)
    damage(document)
    path.write_text(json.dumps(document))
    with pytest.raises(PlanStateFileError, match=field):
        PlanStateStore(path, VENUE).load()


def test_garbage_is_refused_and_a_missing_file_is_a_fresh_start(tmp_path: Path) -> None:
    path = tmp_path / "plan_state.json"
    assert PlanStateStore(path, VENUE).load().state == PlanState(VENUE)
    path.write_bytes(b"\xff{not json")
    with pytest.raises(PlanStateFileError, match="unreadable"):
        PlanStateStore(path, VENUE).load()


def test_the_sequence_never_goes_back(tmp_path: Path) -> None:
    path = tmp_path / "plan_state.json"
    store = PlanStateStore(path, VENUE, fsync=False)
    store.save(PlanState(VENUE, 5), 9)
    store.save(PlanState(VENUE, 5), 6)  # a late, lower value never lowers what was seen
    assert PlanStateStore(path, VENUE).load().last_seen == 9
    assert not path.with_name(path.name + ".tmp").exists()
