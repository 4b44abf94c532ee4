"""The concrete session loop: rounds until the stopping rule, then rounding, residual placement, commit.

``SessionDriver`` talks to agents only through an ``AgentLink`` (in-process for simulation, gRPC for
deployment), so both run this same code and produce the same plan. Everything it handles is an
aggregate or a public fact (lot sizes, reference prices, who responded).
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

from coordinator.engine.admm import ExchangeAdmm
from coordinator.engine.config import AdmmConfig
from coordinator.engine.price_space import PriceSpace
from coordinator.engine.rounding import BalanceError, ResidualPlacement, exact_sum, lot_quantum
from coordinator.engine.strategy import AssetScale, SessionError, Strategy, WarmStart
from energibridge.protocol.contribution import FloatArray
from energibridge.protocol.messages import RoundBroadcast, RoundSummary
from energibridge.protocol.rounding import Assignment
from energibridge.protocol.venue import VenueInfo

STRATEGIES: dict[str, type[Strategy]] = {"admm": ExchangeAdmm, "price": PriceSpace}


@dataclass(frozen=True)
class Gathered:
    """The decoded sum of the responders' contributions (never an individual one)."""

    total: FloatArray
    responders: frozenset[str]


@dataclass(frozen=True)
class CommitAck:
    venue_id: str
    sequence: int
    state_hash: bytes
    plan_digest: bytes
    identity_key: bytes = b""
    """The agent's Ed25519 identity key (verified with its session key) and its signature over the ack
    (``registry.pki.announcements.ack_message``); empty where a transport has no identities (in process)."""
    signature: bytes = b""


class AgentLink(Protocol):
    """How the driver reaches the agents of a session."""

    def start(
        self, session_id: str, assets: Sequence[str], members: Sequence[str], *, cold: bool = False
    ) -> Mapping[str, Mapping[str, float]]:
        """Open the session with ``members``; returns the public mids they report now (may be empty)."""
        ...

    def gather(self, broadcast: RoundBroadcast, members: Sequence[str]) -> Gathered: ...

    def gather_rounding(self, session_id: str, members: Sequence[str]) -> Gathered: ...

    def propose(self, assignment: Assignment) -> tuple[bool, float]: ...

    def propose_many(self, assignments: Sequence[Assignment]) -> list[tuple[bool, float]]:
        """Put several proposals (at most one per venue and asset) in one exchange; answers in order."""
        ...

    def abandon(self, venue_id: str, asset: str) -> None: ...

    def commit(self, session_id: str, sequence: int, members: Sequence[str]) -> list[CommitAck]: ...

    def finish(self, session_id: str, members: Sequence[str], reason: str) -> None: ...


class AuditSink(Protocol):
    def record(self, kind: str, actor: str, payload: Mapping[str, object]) -> None: ...


class DurableAuditSink(AuditSink, Protocol):
    def flush(self) -> None:
        """Return once everything recorded so far is durable."""
        ...


@dataclass(frozen=True)
class RoundTiming:
    """Where a round's time went: the round trip to every member, then the coordinator's own step."""

    gather_s: float
    """Broadcast to the aggregate of every member (network, the agents' local solves, unmasking)."""
    merge_s: float
    """Merging the aggregate into the next prices (the delta merge)."""


@dataclass
class SessionResult:
    session_id: str
    strategy: str
    converged: bool
    rounds: int
    profit: float
    """Quote profit of the committed (rounded, balanced) plan, from aggregates."""
    continuous_profit: float
    summaries: list[RoundSummary]
    acks: list[CommitAck]
    dropped: tuple[str, ...]
    abandoned_assets: tuple[str, ...]
    elapsed_s: float
    warm: WarmStart | None
    sequence: int
    participants: tuple[str, ...] = field(default=())
    committed: bool = True
    """False when the safety gate refused to commit (no positive balanced profit)."""
    hedging: tuple[str, ...] = ()
    """Members that brought a residual they owe the region (a hedge session, ``agents.hedge``)."""


class SessionDriver:
    """Runs sessions of one region; keeps the warm start between them."""

    def __init__(
        self,
        link: AgentLink,
        venues: Mapping[str, VenueInfo],
        *,
        config: AdmmConfig | None = None,
        strategy: str = "price",
        audit: AuditSink | None = None,
        on_round: Callable[[RoundSummary, RoundTiming], None] | None = None,
        latency_bounds_ms: tuple[int, int] | None = None,
    ) -> None:
        if strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {sorted(STRATEGIES)}, got {strategy!r}")
        if latency_bounds_ms is not None and not 0 < latency_bounds_ms[0] <= latency_bounds_ms[1]:
            raise ValueError(f"latency_bounds_ms: expected 0 < floor <= ceiling, got {latency_bounds_ms}")
        self.latency_bounds_ms = latency_bounds_ms
        """Operator floor and ceiling of the session deadline: no member's declared budget can make it
        shorter than the floor (a 1 ms budget would veto every commit) or longer than the ceiling."""
        self.link = link
        self.venues = dict(venues)
        self.config = config or AdmmConfig()
        self.strategy_name = strategy
        self.audit = audit
        self.on_round = on_round
        self.warm: WarmStart | None = None
        self._warm_assets: tuple[str, ...] = ()
        """The assets ``warm`` was found for: a session over other assets starts cold."""
        self.sequence = 0
        self._session_count = 0

    def assets(self) -> tuple[str, ...]:
        return tuple(sorted({a for v in self.venues.values() for a in v.lot_sizes}))

    def scales(self) -> dict[str, AssetScale]:
        scales = {}
        for asset in self.assets():
            lots = [v.lot_sizes[asset] for v in self.venues.values() if asset in v.lot_sizes]
            mids = [v.reference_prices[asset] for v in self.venues.values() if asset in v.reference_prices]
            if not mids:
                raise SessionError(f"no venue reported a reference price for {asset}")
            coarse = float(max(lots))
            scales[asset] = AssetScale(
                ref_price=statistics.median(mids),
                lot_size=coarse,
                size_scale=1e3 * coarse,
                mid_range=(min(mids), max(mids)),
            )
        return scales

    def session_budget_s(self) -> float:
        """The tightest member's latency budget, clamped to the operator's floor and ceiling."""
        budget_ms = min(v.latency_budget_ms for v in self.venues.values())
        if self.latency_bounds_ms is not None:
            floor, ceiling = self.latency_bounds_ms
            budget_ms = min(max(budget_ms, floor), ceiling)
        return budget_ms / 1e3

    def run(
        self, session_id: str | None = None, deadline_s: float | None = None, *, cold: bool = False
    ) -> SessionResult:
        """One federated solve and commit. ``deadline_s`` defaults to the tightest latency budget;
        ``cold`` discards the warm start on both sides (coordinator prices, agents' last plans)."""
        if cold:
            self.warm = None
        started = time.perf_counter()
        self._session_count += 1
        sid = session_id or f"session-{self._session_count}"
        budget = deadline_s if deadline_s is not None else self.session_budget_s()
        assets = self.assets()
        mids = self.link.start(sid, assets, sorted(self.venues), cold=cold)
        for venue, reported in mids.items():
            info = self.venues.get(venue)
            if info is None:
                continue
            usable = {a: p for a, p in reported.items() if a in info.lot_sizes and p > 0}
            if usable:
                self.venues[venue] = replace(info, reference_prices={**info.reference_prices, **usable})
        # Only members whose session keys made the directory take part: one left out (silent, malformed
        # key) must not be counted in the mean, proposed residuals, sent PlanCommit or listed on the ledger.
        joined = getattr(self.link, "joined", None)
        present = self.venues if joined is None else {v: i for v, i in self.venues.items() if v in joined}
        strategy = STRATEGIES[self.strategy_name](
            sid,
            assets,
            present,
            self.scales(),
            config=self.config,
            # A venue with another asset joined or left since: the warm prices belong to other assets.
            warm=self.warm if tuple(assets) == self._warm_assets else None,
        )
        # Members that bring a residual as a fixed target (the link learns it from their session keys).
        hedging = tuple(sorted(set(getattr(self.link, "hedging", ())) & set(strategy.active)))
        start: dict[str, object] = {"session": sid, "participants": list(strategy.active)}
        if hedging:
            start["hedge"] = list(hedging)
        self._record("session_start", sid, start)
        dropped: list[str] = []
        while not strategy.converged and strategy.round_id < self.config.max_rounds:
            if time.perf_counter() - started > budget and strategy.round_id > 0:
                break
            broadcast = strategy.configure_round()
            t0 = time.perf_counter()
            gathered = self.link.gather(broadcast, strategy.active)
            t1 = time.perf_counter()
            summary = strategy.aggregate(gathered.total, gathered.responders)
            if self.on_round is not None:
                self.on_round(summary, RoundTiming(gather_s=t1 - t0, merge_s=time.perf_counter() - t1))
            dropped.extend(summary.dropped)
            for venue in summary.dropped:
                self._record("leave", venue, {"session": sid, "reason": "missed deadlines"})
                self.link.finish(sid, [venue], "dropped: missed too many deadlines")
        members = list(strategy.active)
        last = strategy.history[-1]
        profit, abandoned = self._round_and_balance(sid, assets, members, strategy.rounded_sums())
        hedging = tuple(v for v in hedging if v in members)
        # A hedge session commits any balanced plan, at a cost if need be: flat beats a naked position.
        committed = profit > 0.0 or (bool(hedging) and math.isfinite(profit))
        acks: list[CommitAck] = []
        if committed:
            self.sequence += 1
            # Write-ahead: the plan is durable on the ledger before any agent can execute it, so a
            # coordinator killed between commit and acknowledgement loses no executed plan.
            self._record(
                "plan_intent",
                sid,
                {"session": sid, "sequence": self.sequence, "members": list(members), "profit": profit},
            )
            self._durable()
            acks = self.link.commit(sid, self.sequence, members)
            for ack in acks:
                self._record(
                    "plan_committed",
                    ack.venue_id,
                    {
                        "session": sid,
                        "sequence": ack.sequence,
                        "state_hash": ack.state_hash.hex(),
                        "plan_digest": ack.plan_digest.hex(),
                        **(
                            {
                                "agent_identity_key": ack.identity_key.hex(),
                                "agent_signature": ack.signature.hex(),
                            }
                            if ack.signature
                            else {}
                        ),
                    },
                )
            if hedging:
                # The ledger shows the hedge beside the LEG_OUT reports that called for it.
                self._record(
                    "hedge",
                    sid,
                    {"session": sid, "sequence": self.sequence, "venues": list(hedging), "profit": profit},
                )
            self.link.finish(sid, members, "committed")
            if not hedging:  # a hedge's prices price a forced position: no warm start for the next plan
                self.warm = strategy.warm_state()
                self._warm_assets = tuple(assets)
        else:
            # Safety gate from aggregates alone: never commit a plan that is not worth doing (an empty plan,
            # or a session that ended unconverged at a loss). Agents drop their rounded plans.
            self._record("plan_refused", sid, {"session": sid, "profit": profit, "rounds": strategy.round_id})
            self.link.finish(sid, members, "no profitable plan")
            self.warm = strategy.warm_state() if strategy.converged else None
            self._warm_assets = tuple(assets)
        return SessionResult(
            session_id=sid,
            strategy=self.strategy_name,
            converged=strategy.converged,
            rounds=strategy.round_id,
            profit=profit,
            continuous_profit=last.profit,
            summaries=list(strategy.history),
            acks=acks,
            dropped=tuple(dropped),
            abandoned_assets=tuple(abandoned),
            elapsed_s=time.perf_counter() - started,
            warm=self.warm,
            sequence=self.sequence,
            participants=tuple(members),
            committed=committed,
            hedging=hedging,
        )

    def _round_and_balance(
        self,
        sid: str,
        assets: Sequence[str],
        members: Sequence[str],
        carried: tuple[FloatArray, float] | None = None,
    ) -> tuple[float, list[str]]:
        """Lot rounding and residual placement. ``carried``: the rounded sums the last round already
        brought (every member answered it); otherwise a rounding phase asks for them."""
        if carried is not None:
            sums, cost = carried
        else:
            gathered = self.link.gather_rounding(sid, members)
            sums, cost = gathered.total[:-1], float(gathered.total[-1])
        abandoned: list[str] = []
        placements: dict[str, ResidualPlacement] = {}
        for i, asset in enumerate(assets):
            lots = {v: self.venues[v].lot_sizes[asset] for v in members if asset in self.venues[v].lot_sizes}
            if not lots:
                continue  # only dropped members traded it: nobody left holds a plan in it
            residual = -exact_sum(float(sums[i]), lot_quantum(lots.values()))
            if residual != 0:
                placements[asset] = ResidualPlacement(asset, residual, lots)
        # Waves: the next proposal of every asset still open goes out together (one exchange per wave,
        # not per proposal); each asset sees exactly the proposals ``assign_residual`` would make.
        costs: dict[str, float] = dict.fromkeys(placements, 0.0)
        while True:
            wave = [p for p in (pl.proposal() for pl in placements.values()) if p is not None]
            if not wave:
                break
            for proposal, (ok, delta_cost) in zip(wave, self.link.propose_many(wave), strict=True):
                placements[proposal.asset].answer(ok)
                if ok:
                    costs[proposal.asset] += delta_cost
        for asset, placement in placements.items():
            try:
                placement.result()
                cost += costs[asset]
            except BalanceError:
                abandoned.append(asset)
                for venue in placement.lots:
                    self.link.abandon(venue, asset)
                self._record("asset_abandoned", sid, {"session": sid, "asset": asset})
        if abandoned:
            cost = float("nan")  # costs of abandoned assets are unknown to the coordinator
        return -cost, abandoned

    def _record(self, kind: str, actor: str, payload: Mapping[str, object]) -> None:
        if self.audit is not None:
            self.audit.record(kind, actor, payload)

    def _durable(self) -> None:
        flush = getattr(self.audit, "flush", None)
        if callable(flush):
            flush()
