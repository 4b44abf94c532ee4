"""The edge agent's core: one venue's private state across sessions, without any I/O.

It answers the coordinator's rounds with its local proximal step, masks its contributions when secure
aggregation is on, rounds its own plan onto its lots, accepts or refuses residual assignments against its
private bounds, and turns the committed plan into a PlanDelta (legs with limit-price caps from its own
marginal prices, deterministic idempotency keys, delta-sync state hash). Transports (in-process or gRPC)
call these methods; the same code runs in simulation and deployment.

Privacy is per agent and off by default: ``EdgeAgent(config, curves, privacy=AgentPrivacy(accountant,
SessionPrivacy.for_epsilon(3.0, 1e-6)))`` makes every session's answers released values under the
accountant's budget (``agents.private_release``). A refused release raises ``PrivacyRefusal`` (a
``ParticipantError``), which transports treat as "not responding"; the spend records of each session
are in ``privacy_records`` (and go to the accountant's ``on_spend`` hook, e.g. a ledger queue).
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

import numpy as np

from agents.commitments import CommitmentKey
from agents.curve_problem import CurveProblem
from agents.hedge import HedgeTarget
from agents.keys import idempotency_key
from agents.participant import Participant, ParticipantError
from agents.plan_state import PlanState
from agents.privacy import PrivacySpendRecord
from agents.private_release import AgentPrivacy, PrivateRelease
from energibridge.canonical import digest
from energibridge.models import PlanDelta, PlanLeg, Side
from energibridge.protocol.contribution import CODEC, FloatArray
from energibridge.protocol.messages import RoundBroadcast
from energibridge.protocol.rounding import Assignment, round_toward_zero
from energibridge.secagg import MaskingClient, generate_private_key
from energibridge.version import CURRENT
from sdk.curves.base import CostCurve, settled_cost
from sdk.curves.order_book import OrderBookCurve
from sdk.curves.perp import PerpetualCurve

PRIVACY_SESSIONS_KEPT = 256
SOLVE_TIMES_KEPT = 4096
"""Local-step timings kept between two drains (a session has at most a few hundred rounds)."""
"""Sessions whose spend records ``EdgeAgent.privacy_records`` keeps in memory."""


@dataclass(frozen=True)
class InstrumentSpec:
    """Public trading rules of the instrument a venue uses for one asset."""

    symbol: str
    lot_size: Decimal
    tick_size: Decimal
    min_notional: Decimal = Decimal(0)

    def __post_init__(self) -> None:
        for name in ("lot_size", "tick_size"):
            value = getattr(self, name)
            if not value.is_finite() or value <= 0:
                raise ValueError(f"InstrumentSpec.{name} must be a finite decimal > 0, got {value}")
        if not self.min_notional.is_finite() or self.min_notional < 0:
            raise ValueError(f"InstrumentSpec.min_notional must be >= 0, got {self.min_notional}")


@dataclass(frozen=True)
class VenueConfig:
    venue_id: str
    instruments: Mapping[str, InstrumentSpec]
    """asset -> instrument the venue trades it with."""
    latency_budget_ms: int = 250
    leg_deadline_ms: int = 2_000
    min_edge_bps: float = 0.0
    """LocalArbProblem's target mispricing: the venue does not trade an asset whose consensus price is
    within this many bps of its own mid (price-space answers; 0: any edge)."""


@dataclass(frozen=True)
class CommittedPlan:
    delta: PlanDelta
    state: PlanState
    trades: Mapping[str, Decimal]
    cost: float
    prices: Mapping[str, float] = field(default_factory=dict)
    """The session's last consensus prices of the traded assets (empty if none was broadcast)."""
    plan_commitment: bytes = b""
    """Hiding commitment to the PlanDelta's digest: what acknowledgements and reports carry to the
    ledger (``agents.commitments``), never the searchable digest itself."""
    state_commitment: bytes = b""
    """Hiding commitment to the delta-sync state hash (positions sit on a public lot grid)."""


class EdgeAgent:
    """Private state of one venue's agent."""

    def __init__(
        self,
        config: VenueConfig,
        curves: Mapping[str, CostCurve],
        *,
        privacy: AgentPrivacy | None = None,
    ) -> None:
        missing = sorted(set(curves) - set(config.instruments))
        if missing:
            raise ValueError(f"{config.venue_id}: curves for assets {missing} have no instrument spec")
        self.config = config
        self.privacy = privacy
        self._releases: deque[PrivateRelease] = deque(maxlen=PRIVACY_SESSIONS_KEPT)
        self.curves = dict(curves)
        self.plan_state = PlanState(venue_id=config.venue_id)
        self.reference_prices: dict[str, float] = {}
        """Public mids of its assets (from the public feed), reported at each session start."""
        self._warm: dict[str, float] = {}
        self._session: Participant | None = None
        self._session_assets: tuple[str, ...] = ()
        self._masking: MaskingClient | None = None
        self._rounded: dict[str, Decimal] = {}
        self._adjusted: dict[str, Decimal] = {}
        self.hedge_targets: dict[str, Decimal] = {}
        """Positions the region holds on this venue's account (what it owes, negated), brought into the
        next session as fixed points (``agents.hedge``); set by its runtime from the open residuals."""
        self.on_hedged: Callable[[str, int, Mapping[str, Decimal]], None] | None = None
        """Called inside ``commit`` (before it returns, so before any acknowledgement) with the targets
        the committed plan took over: the runtime marks those residuals taken, durably."""
        self._session_curves: dict[str, CostCurve] = {}
        self.commitments = CommitmentKey.generate()
        """The key of its hiding commitments; a deployed agent loads it from its state directory."""
        self._session_targets: dict[str, Decimal] = {}
        self.solve_ns: deque[int] = deque(maxlen=SOLVE_TIMES_KEPT)
        """Wall time of each local step (the private solve of one round), newest last; the running agent
        drains it into ``session_stats`` events."""

    @property
    def privacy(self) -> AgentPrivacy | None:
        """None: answers are exact (the default). Otherwise every answer is a private release. A change
        takes effect at the next session."""
        return self._privacy

    @privacy.setter
    def privacy(self, privacy: AgentPrivacy | None) -> None:
        if privacy is not None and not isinstance(privacy, AgentPrivacy):
            raise ValueError(f"privacy: expected an AgentPrivacy or None, got {type(privacy).__name__}")
        self._privacy = privacy

    @property
    def venue_id(self) -> str:
        return self.config.venue_id

    @property
    def assets(self) -> tuple[str, ...]:
        return tuple(sorted(self.curves))

    def lot_sizes(self) -> dict[str, Decimal]:
        return {a: self.config.instruments[a].lot_size for a in self.assets}

    def forget_warm_start(self) -> None:
        """Start the next session cold (benchmarks, or after a market regime change)."""
        self._warm.clear()

    def update_curves(self, curves: Mapping[str, CostCurve]) -> None:
        """New market state (a book tick); takes effect at the next session."""
        self.curves.update(curves)

    def set_hedge_targets(self, targets: Mapping[str, Decimal]) -> None:
        """Bring these positions (per asset, on the venue's lot grid) into the next session as targets."""
        clean: dict[str, Decimal] = {}
        for asset, position in targets.items():
            spec = self.config.instruments.get(asset)
            if spec is None:
                raise ValueError(f"{self.venue_id}: hedge target for {asset!r}: no instrument for it")
            if not position.is_finite() or position % spec.lot_size != 0:
                raise ValueError(f"{self.venue_id}: hedge target {asset}={position} is not a whole lot")
            if position != 0:
                clean[asset] = position
        self.hedge_targets = clean

    # ---- session ---------------------------------------------------------------------------------

    def start_session(self, session_id: str, assets: Sequence[str], *, secure: bool) -> bytes | None:
        """Begin a session; returns this session's X25519 public key when secure aggregation is on."""
        curves: dict[str, CostCurve] = {a: c for a, c in self.curves.items() if a in assets}
        # A target with no price to value it at waits for a session that has one.
        marks = {a: m for a in self.hedge_targets if a in assets and (m := self._mark(a)) is not None}
        self._session_targets = {a: self.hedge_targets[a] for a in marks}
        for asset, mark in marks.items():
            curves[asset] = HedgeTarget(float(self._session_targets[asset]), mark)
        self._session_curves = curves
        problem = CurveProblem(
            assets, curves, min_edge_bps=self.config.min_edge_bps, exempt=self._session_targets
        )
        warm = np.array([_clip(self._warm.get(a, 0.0), curves[a]) if a in curves else 0.0 for a in assets])
        release = None
        if self.privacy is not None:
            boxes = {a: (c.lower, c.upper) for a, c in curves.items()}
            release = PrivateRelease(self.venue_id, session_id, assets, boxes, self.privacy)
            self._releases.append(release)
        self._session = Participant(
            self.venue_id, session_id, assets, problem, warm_plan=warm, release=release
        )
        self._session_assets = tuple(assets)
        self._rounded = {}
        self._adjusted = {}
        self._masking = None
        if secure:
            self._masking = MaskingClient(session_id, self.venue_id, generate_private_key(), codec=CODEC)
            return self._masking.public_key
        return None

    @property
    def bringing_targets(self) -> bool:
        """This session brings hedge targets (its session key says so: a hedge session)."""
        return bool(self._session_targets)

    def set_peers(self, directory: Mapping[str, bytes]) -> None:
        if self._masking is None:
            raise ParticipantError(f"{self.venue_id}: secure aggregation is off for this session")
        self._masking.set_peers({v: k for v, k in directory.items() if v != self.venue_id})

    def _participant(self) -> Participant:
        if self._session is None:
            raise ParticipantError(f"{self.venue_id}: no session in progress")
        return self._session

    def answer_round(self, broadcast: RoundBroadcast) -> FloatArray:
        """This venue's contribution to the round's secure sum (unmasked).

        Raises ``PrivacyRefusal`` once its budget refused a release: it answers no more rounds this session.
        """
        started = time.perf_counter_ns()
        try:
            session = self._participant()
            vector = session.step(broadcast)
            # Every answer also carries its own lot rounding (the rounding phase's contribution for the
            # plan it answers), so a round that ends the session needs no separate rounding exchange.
            rounded = self._round(session.x)
            return session.layout.with_rounded(vector, rounded[:-1], float(rounded[-1]))
        finally:
            self.solve_ns.append(time.perf_counter_ns() - started)

    def privacy_records(self, session_id: str | None = None) -> tuple[PrivacySpendRecord, ...]:
        """Spend records of the last sessions' releases (``session_id``'s only, if given), in order.

        Kept for the last ``PRIVACY_SESSIONS_KEPT`` sessions; the accountant's ``on_spend`` hook sees all.
        """
        return tuple(
            record
            for release in self._releases
            if session_id is None or release.session_id == session_id
            for record in release.records
        )

    def mask(self, secagg_round: int, mask_set: Sequence[str], vector: FloatArray) -> list[int]:
        if self._masking is None:
            raise ParticipantError(f"{self.venue_id}: secure aggregation is off for this session")
        return self._masking.mask(secagg_round, mask_set, vector)

    # ---- plan commit -----------------------------------------------------------------------------

    def round_plan(self) -> FloatArray:
        """Round the final plan toward zero onto the lot grid; contribute ``[rounded (n), cost]``."""
        session = self._participant()
        # An agent whose budget refused a release is counted at its last accepted answer: round that
        # (a post-processing of its releases, so it costs nothing and reveals nothing more).
        refused = session.release is not None and session.release.refusal is not None
        return self._round(session.counted_plan() if refused else session.x)

    def _round(self, plan: FloatArray) -> FloatArray:
        """Round ``plan`` toward zero onto the lot grid (it becomes the plan residuals adjust and commit
        turns into legs); returns ``[rounded (n), cost]``."""
        rounded: dict[str, Decimal] = {}
        for i, asset in enumerate(self._session_assets):
            if asset in self._session_targets:
                rounded[asset] = self._session_targets[asset]  # a fixed point: exact, never rounded
            elif asset in self._session_curves:
                rounded[asset] = round_toward_zero(float(plan[i]), self.config.instruments[asset].lot_size)
        self._rounded = rounded
        self._adjusted = dict(rounded)
        out = np.zeros(len(self._session_assets) + 1)
        for i, asset in enumerate(self._session_assets):
            out[i] = float(rounded.get(asset, Decimal(0)))
        out[-1] = self._plan_cost(rounded, self._session_curves)
        return out

    def consider(self, assignment: Assignment) -> tuple[bool, float]:
        """Accept a residual assignment if it stays within private bounds; returns (accepted, cost change)."""
        if assignment.asset not in self._adjusted or self._declined(assignment.asset):
            return False, 0.0
        curve = self._session_curves[assignment.asset]
        before = self._adjusted[assignment.asset]
        after = before + assignment.amount
        if not curve.lower - 1e-12 <= float(after) <= curve.upper + 1e-12:
            return False, 0.0
        delta_cost = settled_cost(curve, float(after)) - settled_cost(curve, float(before))
        if not math.isfinite(delta_cost):
            return False, 0.0
        self._adjusted[assignment.asset] = after
        return True, delta_cost

    def _declined(self, asset: str) -> bool:
        """Its target mispricing ruled ``asset`` out at the session's last consensus price: it takes no
        residual in it either (the venue does not trade below its edge)."""
        session = self._participant()
        problem = session.problem
        if self.config.min_edge_bps <= 0 or session.prices is None or not isinstance(problem, CurveProblem):
            return False
        return problem.declines(asset, float(session.prices[self._session_assets.index(asset)]))

    def abandon_asset(self, asset: str) -> None:
        """No balanced plan exists for ``asset`` this session: trade none of it."""
        if asset in self._adjusted:
            self._adjusted[asset] = Decimal(0)

    def commit(self, session_id: str, sequence: int, now_ms: int) -> CommittedPlan | None:
        """Turn the balanced, rounded plan into this venue's PlanDelta and advance the delta-sync state."""
        if sequence <= self.plan_state.sequence:
            raise ParticipantError(
                f"{self.venue_id}: plan sequence {sequence} was already applied (state is at "
                f"{self.plan_state.sequence}); a plan is never committed twice"
            )
        targets = self._session_targets
        trades = {a: q for a, q in sorted(self._adjusted.items()) if q != 0 and a not in targets}
        # A target is taken over only where the session balanced it (an abandoned asset keeps its debt).
        taken = {a: q for a, q in targets.items() if self._adjusted.get(a) == q}
        session = self._participant()
        for i, asset in enumerate(self._session_assets):
            if asset in self.curves and asset not in targets:
                self._warm[asset] = float(session.x[i])
        if taken:
            if self.on_hedged is not None:
                self.on_hedged(session_id, sequence, taken)
            self.hedge_targets = {a: q for a, q in self.hedge_targets.items() if a not in taken}
        if not trades:
            return None
        legs = tuple(
            self._leg(session_id, sequence, index, (asset, quantity), now_ms)
            for index, (asset, quantity) in enumerate(trades.items())
        )
        unsigned = PlanDelta(
            ir_version=CURRENT,
            session_id=session_id,
            venue_id=self.venue_id,
            sequence=sequence,
            previous_sequence=self.plan_state.sequence,
            previous_state_hash=self.plan_state.state_hash(),
            legs=legs,
            expected_profit_quote=Decimal(repr(-self._plan_cost(trades))),
        )
        state = self.plan_state.apply(unsigned)
        delta = unsigned.model_copy(update={"state_hash": state.state_hash()})
        self.plan_state = state
        prices: dict[str, float] = {}
        if session.prices is not None:
            for i, asset in enumerate(self._session_assets):
                if asset in trades and math.isfinite(float(session.prices[i])):
                    prices[asset] = float(session.prices[i])
        return CommittedPlan(
            delta=delta,
            state=state,
            trades=trades,
            cost=self._plan_cost(trades),
            prices=prices,
            plan_commitment=self.commitments.commit(session_id, sequence, digest(delta)),
            state_commitment=self.commitments.commit(session_id, sequence, state.state_hash()),
        )

    def _leg(
        self, session_id: str, sequence: int, index: int, trade: tuple[str, Decimal], now_ms: int
    ) -> PlanLeg:
        asset, qty = trade
        spec = self.config.instruments[asset]
        return PlanLeg(
            instrument=spec.symbol,
            side=Side.BUY if qty > 0 else Side.SELL,
            size=abs(qty),
            limit_price=leg_limit_price(self.curves[asset], qty, spec.tick_size),
            deadline_unix_ms=now_ms + self.config.leg_deadline_ms,
            idempotency_key=idempotency_key(session_id, sequence, self.venue_id, index),
            asset=asset,
        )

    def _plan_cost(
        self, trades: Mapping[str, Decimal], curves: Mapping[str, CostCurve] | None = None
    ) -> float:
        curves = self.curves if curves is None else curves
        return sum(settled_cost(curves[a], float(q)) for a, q in trades.items())

    def _mark(self, asset: str) -> float | None:
        """The public mid a hedge target is valued at (the curve's marginal price at zero without one)."""
        mid = self.reference_prices.get(asset, 0.0)
        if math.isfinite(mid) and mid > 0:
            return mid
        curve = self.curves.get(asset)
        if curve is not None:
            left, right = curve.marginal(0.0)
            for price in (0.5 * (left + right), left, right):
                if math.isfinite(price) and price > 0:
                    return price
        return None


def leg_limit_price(curve: CostCurve, qty: Decimal, tick: Decimal) -> Decimal:
    """The limit price of the leg that trades ``qty`` (signed) on ``curve``: the worst price per unit
    (``execution_price_limit``) on the tick grid, rounded away from the trade's favour, at least one tick.

    One function for the leg the agent commits and for the box its runtime derives from the risk gates
    (``AgentRuntime.constrain``), so the box judges exactly the legs the agent will send.
    """
    worst = execution_price_limit(curve, float(qty))
    rounding = ROUND_CEILING if qty > 0 else ROUND_FLOOR
    cap = (Decimal(repr(worst)) / tick).to_integral_value(rounding=rounding) * tick
    return max(cap, tick)


def execution_price_limit(curve: CostCurve, qty: float) -> float:
    """The worst price per unit the venue's order for ``qty`` may trade at, as the venue quotes it.

    The curve's marginal cost is the right price for planning but not for an order's limit: on a book it
    includes the taker fee (the venue charges that separately), and on a perpetual also the funding carry
    over the horizon (with negative funding a buy cap fell below the book price plus fee). So books and
    perps use the last book level the plan reaches, fee excluded; pools keep their marginal price (the
    pool's own price limit, fee included). Wrappers that bound a curve (``inner``) are looked through.
    """
    base = curve
    while hasattr(base, "inner"):
        base = base.inner
    if isinstance(base, PerpetualCurve):
        base = base.book
    left, right = base.marginal(qty)
    worst = left if qty > 0 else right
    if isinstance(base, OrderBookCurve):
        worst = worst / (1.0 + base.fee) if qty > 0 else worst / (1.0 - base.fee)
    return worst


def _clip(value: float, curve: CostCurve) -> float:
    return min(max(value, curve.lower), curve.upper)
