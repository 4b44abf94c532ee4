"""Privacy off (the default) is bit-identical to the agent before privacy existed.

``ReferenceParticipant.step`` is the round step as it was before ``agents.private_release`` (commit
e1cde31, copied verbatim). Whole sessions run twice on the same seeded region, once with the current
agent and once with the reference step patched in; every contribution vector, the rounds, the committed
trades, the state hashes and the profit must agree bit for bit. (The one deliberate change since then,
clamping an agent's absolute gap term at ``DIAGNOSTIC_CLAMP`` as ``energibridge.protocol.contribution``
documents, only acts on gaps above 1e6 quote units, which these sessions never reach: the transcripts
being equal shows it. The contribution's absolute block, the rounded plan and the price-space probe,
was added to the round protocol later, for privacy on and off alike; the reference fills it the same way.)
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

import numpy as np
import pytest

import agents.agent as agent_module
from agents.agent import EdgeAgent
from agents.commitments import CommitmentKey
from agents.participant import Participant, ParticipantError
from arbsphere.inprocess import InProcessLink
from arbsphere.simulation import build_region
from coordinator.engine.config import AdmmConfig
from coordinator.session import SessionDriver, SessionResult
from energibridge.protocol.contribution import FloatArray
from energibridge.protocol.messages import Mode, RoundBroadcast
from tests.privacy_fed.pf_helpers import committed_plans


class ReferenceParticipant(Participant):
    def step(self, broadcast: RoundBroadcast) -> FloatArray:
        """Answer one round: the contribution vector for the secure sum."""
        self._check(broadcast)
        self._settle(broadcast)
        rho = broadcast.rho
        u = broadcast.scaled_duals
        if broadcast.mode is Mode.ADMM:
            if broadcast.previous_mean is not None:
                alpha = broadcast.over_relaxation
                self.z = alpha * self.x + (1.0 - alpha) * self.z - alpha * broadcast.previous_mean
            x_new = self.problem.prox(self.z - u, rho)
        elif broadcast.mix is not None:
            low, high, weight = broadcast.mix
            x_low = self.problem.demand(low)
            x_new = x_low + weight * (self.problem.demand(high) - x_low)
        else:
            x_new = self.problem.demand(broadcast.prices)
        if x_new.shape != self.x.shape or not np.all(np.isfinite(x_new)):
            raise ParticipantError(f"{self.venue_id}: local step returned an invalid plan {x_new!r}")
        cost = self.problem.cost(x_new)
        gap = max(
            cost - float(broadcast.prices @ x_new) - self.problem.dual_value(broadcast.prices, x_new), 0.0
        )
        dx = x_new - self.x
        self._previous_x = self.x
        self.x = x_new
        self.cost = cost
        self.gap = gap
        self._pending = (x_new, cost, gap)
        self.last_round = broadcast.round_id
        return self.layout.pack(
            x_new - self.counted_x,
            dx * dx,
            cost - self.counted_cost,
            gap - self.counted_gap,
            probe=self._probe(broadcast),  # the price-space probe block, added to the protocol since
        )


Transcript = list[tuple[str, bytes]]
Plans = list[dict[str, tuple[Mapping[str, Decimal], bytes, float]]]


def _spy(agents: dict[str, EdgeAgent], transcript: Transcript) -> None:
    for venue, agent in agents.items():
        original: Callable[[RoundBroadcast], FloatArray] = agent.answer_round

        def answer(broadcast: RoundBroadcast, venue: str = venue, original: Any = original) -> FloatArray:
            vector: FloatArray = original(broadcast)
            transcript.append((venue, vector.tobytes()))
            return vector

        agent.answer_round = answer  # type: ignore[method-assign]


def _sessions(
    n: int, seed: int, strategy: str, secure: bool, sessions: int, step_type: type[Participant]
) -> tuple[list[SessionResult], Transcript, Plans]:
    _scenario, agents, infos = build_region(n, seed, latency_budget_ms=600_000)
    assert all(agent.privacy is None for agent in agents.values())  # the default
    for venue, agent in agents.items():  # fixed commitment keys: equal plans give equal acknowledgements
        agent.commitments = CommitmentKey(hashlib.sha256(venue.encode()).digest())
    transcript: Transcript = []
    _spy(agents, transcript)
    link = InProcessLink(agents, secure=secure)
    driver = SessionDriver(link, infos, strategy=strategy, config=AdmmConfig(max_rounds=400))
    results: list[SessionResult] = []
    plans: Plans = []
    for _ in range(sessions):
        results.append(driver.run())
        plans.append({v: (p.trades, p.state.state_hash(), p.cost) for v, p in committed_plans(link).items()})
        assert all(type(agent._session) is step_type for agent in agents.values())
    return results, transcript, plans


@pytest.mark.parametrize(
    ("n", "seed", "strategy", "secure"),
    [(5, 3, "price", True), (4, 8, "price", False), (3, 2, "admm", False)],
)
def test_privacy_off_answers_exactly_as_before(
    n: int, seed: int, strategy: str, secure: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    current, current_transcript, current_plans = _sessions(n, seed, strategy, secure, 2, Participant)
    monkeypatch.setattr(agent_module, "Participant", ReferenceParticipant)
    before, before_transcript, before_plans = _sessions(n, seed, strategy, secure, 2, ReferenceParticipant)
    assert current_transcript == before_transcript  # every contribution, bit for bit, cold and warm
    assert current_plans == before_plans
    for now, then in zip(current, before, strict=True):
        assert (now.rounds, now.converged, now.dropped) == (then.rounds, then.converged, then.dropped)
        assert now.profit == then.profit or (np.isnan(now.profit) and np.isnan(then.profit))
        assert [(a.venue_id, a.state_hash, a.plan_digest) for a in now.acks] == [
            (a.venue_id, a.state_hash, a.plan_digest) for a in then.acks
        ]
    assert len(current_transcript) > 10
