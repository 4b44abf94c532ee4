"""In-process transport: the simulation adapter around the same agent and coordinator cores.

``InProcessLink`` is the coordinator's ``AgentLink`` (``coordinator.session``) over plain ``EdgeAgent``
objects called directly. It needs both sides, so it lives here, above ``agents`` and ``coordinator`` (which
never import each other); ``coordinator.grpc_server.GrpcLink`` is the deployment twin.

With ``secure=True`` every contribution is masked by the agent's own ``MaskingClient`` and only the
coordinator-side ``Aggregator`` sums them, exactly as over gRPC; ``unresponsive`` simulates agents that stop
answering (crashed or late) to exercise dropouts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from agents.agent import EdgeAgent
from agents.participant import ParticipantError
from coordinator.secagg import AggregateResult, Aggregator, RetryWith
from coordinator.session import CommitAck, Gathered
from energibridge.protocol.contribution import CODEC, FloatArray, Layout
from energibridge.protocol.messages import RoundBroadcast
from energibridge.protocol.rounding import Assignment


class InProcessLink:
    def __init__(
        self,
        agents: Mapping[str, EdgeAgent],
        *,
        secure: bool = True,
        clock_ms: Callable[[], int] = lambda: 0,
    ) -> None:
        # Simulation time by default, so identical sessions give identical plans (deadlines, digests);
        # pass e.g. ``lambda: int(time.time() * 1000)`` for wall-clock leg deadlines.
        self.clock_ms = clock_ms
        self.agents = dict(agents)
        self.secure = secure
        self.unresponsive: set[str] = set()
        self.hedging: frozenset[str] = frozenset()
        """Members that bring a residual as a hedge target this session (as their session keys say)."""
        self.transcript: list[tuple[str, object]] = []
        """Everything the coordinator side received (for privacy tests)."""
        self._aggregator: Aggregator | None = None
        self._length = 0
        self._n_assets = 0
        self.committed: dict[str, object] = {}

    def start(
        self, session_id: str, assets: Sequence[str], members: Sequence[str], *, cold: bool = False
    ) -> Mapping[str, Mapping[str, float]]:
        self._length = Layout(len(assets)).size
        self._n_assets = len(assets)
        if cold:
            for venue in members:
                self.agents[venue].forget_warm_start()
        keys = {v: self.agents[v].start_session(session_id, assets, secure=self.secure) for v in members}
        self.hedging = frozenset(v for v in members if self.agents[v].bringing_targets)
        if self.secure:
            directory = {v: k for v, k in keys.items() if k is not None}
            self.transcript.append(("keys", dict(directory)))
            for venue in members:
                self.agents[venue].set_peers(directory)
            self._aggregator = Aggregator(members, self._length, codec=CODEC)
        return {v: dict(self.agents[v].reference_prices) for v in members}

    def _sum(self, vectors: Mapping[str, FloatArray], members: Sequence[str]) -> Gathered:
        if not self.secure:
            answered = {v: vec for v, vec in vectors.items() if v in members}
            for venue, vec in answered.items():
                self.transcript.append((venue, vec.copy()))
            total = np.sum(list(answered.values()), axis=0) if answered else np.zeros(self._length)
            return Gathered(total=total, responders=frozenset(answered))
        aggregator = self._aggregator
        assert aggregator is not None
        while True:
            round_ = aggregator.open_round(deadline=0.0)
            for venue in round_.mask_set:
                if venue in vectors:
                    words = self.agents[venue].mask(round_.round_id, round_.mask_set, vectors[venue])
                    self.transcript.append((venue, list(words)))
                    aggregator.submit(round_.round_id, venue, words)
            outcome = aggregator.poll(now=1.0)
            if isinstance(outcome, AggregateResult):
                return Gathered(total=np.array(outcome.total), responders=frozenset(outcome.participants))
            if not isinstance(outcome, RetryWith):
                raise RuntimeError(f"secure aggregation abandoned: {outcome}")

    def gather(self, broadcast: RoundBroadcast, members: Sequence[str]) -> Gathered:
        vectors = {}
        for venue in members:
            if venue in self.unresponsive:
                continue
            try:
                vectors[venue] = self.agents[venue].answer_round(broadcast)
            except ParticipantError:
                # The agent refuses (privacy budget spent, bad broadcast): as over gRPC, it does not answer.
                continue
        return self._sum(vectors, members)

    def gather_rounding(self, session_id: str, members: Sequence[str]) -> Gathered:
        vectors = {}
        for venue in members:
            if venue in self.unresponsive:
                continue
            rounded = self.agents[venue].round_plan()
            padded = np.zeros(self._length)
            padded[: len(rounded)] = rounded
            vectors[venue] = padded
        gathered = self._sum(vectors, members)
        n = self._n_assets
        return Gathered(
            total=np.append(gathered.total[:n], gathered.total[n]), responders=gathered.responders
        )

    def propose(self, assignment: Assignment) -> tuple[bool, float]:
        if assignment.venue_id in self.unresponsive:
            return False, 0.0
        return self.agents[assignment.venue_id].consider(assignment)

    def propose_many(self, assignments: Sequence[Assignment]) -> list[tuple[bool, float]]:
        return [self.propose(assignment) for assignment in assignments]

    def abandon(self, venue_id: str, asset: str) -> None:
        self.agents[venue_id].abandon_asset(asset)

    def commit(self, session_id: str, sequence: int, members: Sequence[str]) -> list[CommitAck]:
        acks = []
        for venue in members:
            if venue in self.unresponsive:
                continue
            try:
                plan = self.agents[venue].commit(session_id, sequence, now_ms=self.clock_ms())
            except ParticipantError:
                continue
            if plan is None:
                continue
            self.committed[venue] = plan
            acks.append(CommitAck(venue, plan.delta.sequence, plan.state_commitment, plan.plan_commitment))
        return acks

    def finish(self, session_id: str, members: Sequence[str], reason: str) -> None:
        if self._aggregator is not None:
            leaving = [v for v in members if v in self._aggregator.members and reason != "committed"]
            if leaving:
                self._aggregator.drop(leaving)
