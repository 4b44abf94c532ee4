"""Hiding commitments on the ledger: the lot-grid search that recovered plans from PLAN_COMMITTED finds
nothing now, and an auditor given one plan's disclosure verifies exactly that entry."""

from __future__ import annotations

import itertools
import json
import stat
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from agents.commitments import KEY_FILE, CommitmentKey, verify_opening
from agents.plan_state import PlanState
from arbsphere.inprocess import InProcessLink
from arbsphere.simulation import build_region
from coordinator.session import SessionDriver
from energibridge.canonical import digest

ROOT = Path(__file__).resolve().parents[2]


class Recorder:
    def __init__(self) -> None:
        self.entries: list[tuple[str, str, dict[str, object]]] = []

    def record(self, kind: str, actor: str, payload: Mapping[str, object]) -> None:
        self.entries.append((kind, actor, dict(payload)))


def test_the_grid_search_finds_nothing_and_a_disclosure_opens_one_entry() -> None:
    _scenario, agents, infos = build_region(4, 7, latency_budget_ms=600_000)
    link = InProcessLink(agents)
    audit = Recorder()
    result = SessionDriver(link, infos, audit=audit).run("s1")
    assert result.committed
    entries = {actor: p for kind, actor, p in audit.entries if kind == "plan_committed"}
    assert entries
    searched = found = 0
    for venue, entry in entries.items():
        agent = agents[venue]
        plan = link.committed[venue]
        recorded_state = bytes.fromhex(str(entry["state_hash"]))
        recorded_plan = bytes.fromhex(str(entry["plan_digest"]))
        # The attack: every position within 20 lots of the truth (the truth included) on the public grid.
        truth = dict(agent.plan_state.positions)
        lots = {spec.symbol: spec.lot_size for spec in agent.config.instruments.values()}
        assets = sorted(truth)
        for steps in itertools.product(range(-20, 21), repeat=len(assets)):
            guess = {a: truth[a] + s * lots[a] for a, s in zip(assets, steps, strict=True)}
            candidate = PlanState(venue, agent.plan_state.sequence, guess).state_hash()
            searched += 1
            found += candidate == recorded_state
        assert agent.plan_state.state_hash() != recorded_state  # what the old ledger held is gone
        # The auditor, given this plan's opening key and the plan, verifies both entries ...
        opening = agent.commitments.opening("s1", result.sequence)
        assert verify_opening(recorded_state, opening, plan.state.state_hash())
        assert verify_opening(recorded_plan, opening, digest(plan.delta))
        # ... and the key opens nothing else: not another sequence's commitment, not a changed plan.
        other = agent.commitments.opening("s1", result.sequence + 1)
        assert not verify_opening(recorded_state, other, plan.state.state_hash())
        moved = PlanState(venue, plan.state.sequence, {a: q + lots[a] for a, q in truth.items()})
        assert not verify_opening(recorded_state, opening, moved.state_hash())
    print(f"grid search over {searched} candidate states of {len(entries)} venues: {found} found")
    assert found == 0


def test_disclose_prints_the_opening_key_and_the_key_file_is_private(tmp_path: Path) -> None:
    key = CommitmentKey.load_or_create(tmp_path)
    assert stat.S_IMODE((tmp_path / KEY_FILE).stat().st_mode) == 0o600
    assert "secret" in repr(key)
    out = subprocess.run(
        [sys.executable, "-m", "arbsphere.cli", "agent", "disclose", "--state-dir", str(tmp_path),
         "--session", "s9", "--sequence", "4"],
        capture_output=True, text=True, cwd=ROOT, check=True,
    ).stdout  # fmt: skip
    event = json.loads(out.strip().splitlines()[-1])
    assert event == {
        "event": "disclosure", "session": "s9", "sequence": 4, "opening_key": key.opening("s9", 4).hex()
    }  # fmt: skip
    missing = subprocess.run(
        [sys.executable, "-m", "arbsphere.cli", "agent", "disclose", "--state-dir", str(tmp_path / "none"),
         "--session", "s9", "--sequence", "4"],
        check=False, capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    assert missing.returncode != 0 and "commitment.key" in missing.stderr
