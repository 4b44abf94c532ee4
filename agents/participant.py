"""The agent's side of a federated round: pure, private, deterministic.

The agent keeps its own plan ``x`` and consensus variable ``z``; from each broadcast it computes its local
proximal step and returns only the *contribution vector* that enters the secure sum: deltas of its plan,
cost and duality-gap term against what the coordinator's totals already hold for it, plus its squared
step per asset (for the dual residual). Nothing else leaves the agent.

With privacy configured (a ``PrivateRelease``), every plan the agent answers is a released value:
clipped and noised through its accountant, or a post-processing of earlier releases, and the agent's
plan *is* that answer, so the coordinator's exact sums (crossover, rounding) stay balanced and private
(``agents.private_release`` explains why). Without it, answers are exact and bit-identical to before.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

import numpy as np

from energibridge.protocol.contribution import DIAGNOSTIC_CLAMP, PROBES, SLOPE_STEP, FloatArray, Layout
from energibridge.protocol.messages import Mode, RoundBroadcast

if TYPE_CHECKING:
    from agents.private_release import PrivateRelease


class LocalProblem(Protocol):
    """A venue's private convex cost over the session's assets (``+inf`` where it cannot trade)."""

    def prox(self, v: FloatArray, rho: FloatArray) -> FloatArray:
        """``argmin_x cost(x) + sum_a rho_a/2 (x_a - v_a)^2`` over the venue's feasible set."""
        ...

    def cost(self, x: FloatArray) -> float:
        """Quote cash paid for net trade vector ``x``."""
        ...

    def demand(self, prices: FloatArray) -> FloatArray:
        """Best response ``argmin_x cost(x) - prices.x`` (a deterministic point of the argmin set)."""
        ...

    def dual_value(self, prices: FloatArray, x: FloatArray) -> float:
        """A certified lower bound on ``min_y cost(y) - prices.y`` (``x`` is a hint for the minimiser)."""
        ...


class ParticipantError(RuntimeError):
    """A broadcast the agent must refuse (replayed or out-of-order round, wrong session, bad shape)."""


class Participant:
    """ADMM state of one agent in one session."""

    def __init__(
        self,
        venue_id: str,
        session_id: str,
        assets: Sequence[str],
        problem: LocalProblem,
        warm_plan: FloatArray | None = None,
        *,
        release: PrivateRelease | None = None,
    ) -> None:
        self.venue_id = venue_id
        self.release = release
        """Privacy on: every answer goes through it (``agents.private_release``); None answers exactly."""
        self.session_id = session_id
        self.assets = tuple(assets)
        self.layout = Layout(len(self.assets))
        self.problem = problem
        n = len(self.assets)
        start = np.zeros(n) if warm_plan is None else np.asarray(warm_plan, dtype=np.float64).copy()
        if start.shape != (n,) or not np.all(np.isfinite(start)):
            raise ParticipantError(f"warm_plan must be {n} finite values, got {warm_plan!r}")
        self.x = start
        self.z = start.copy()
        self.cost = problem.cost(start) if np.any(start) else 0.0
        self.gap = 0.0
        self.counted_x = np.zeros(n)
        self.counted_cost = 0.0
        self.counted_gap = 0.0
        self._pending: tuple[FloatArray, float, float] | None = None
        self.last_round = 0
        self.prices: FloatArray | None = None
        """The consensus prices of the last round answered (a crossover's mixed prices): public, common to
        every venue, so valuing each venue's trades at them splits the plan's profit exactly."""

    def step(self, broadcast: RoundBroadcast) -> FloatArray:
        """Answer one round: the contribution vector for the secure sum."""
        self._check(broadcast)
        self._settle(broadcast)
        x_new = self._local_step(broadcast) if self.release is None else self._private_step(broadcast)
        if x_new.shape != self.x.shape or not np.all(np.isfinite(x_new)):
            raise ParticipantError(f"{self.venue_id}: local step returned an invalid plan {x_new!r}")
        cost = self.problem.cost(x_new)
        # The dual bound is tightest near a minimiser: a released answer is not one, so with privacy on
        # the hint is the exact best response (private; only the gap scalar leaves, as always).
        prices = broadcast.prices
        hint = x_new if self.release is None else self.problem.demand(prices)
        gap = max(cost - float(prices @ x_new) - self.problem.dual_value(prices, hint), 0.0)
        gap = min(gap, DIAGNOSTIC_CLAMP)  # absolute, before the delta: the running total stays exact
        dx = x_new - self.x
        self.x = x_new
        self.cost = cost
        self.gap = gap
        self._pending = (x_new, cost, gap)
        self.last_round = broadcast.round_id
        if broadcast.mix is None:
            self.prices = prices.copy()
        else:
            low, high, weight = broadcast.mix
            self.prices = low + weight * (high - low)
        return self.layout.pack(
            x_new - self.counted_x,
            dx * dx,
            cost - self.counted_cost,
            gap - self.counted_gap,
            probe=self._probe(broadcast),
        )

    def _probe(self, broadcast: RoundBroadcast) -> tuple[FloatArray, FloatArray] | None:
        """Demand at the probe prices and the price-scaled slope ``dE/d ln p`` at the round's prices (a
        central difference over +-``SLOPE_STEP``, the depth within it for a book). Exact answers
        only: a private release reveals nothing beyond its answer, so it leaves the block empty."""
        probe = broadcast.probe
        if probe is None or self.release is not None or broadcast.mode is not Mode.PRICE:
            return None
        shape = (PROBES, len(self.x))
        if probe.shape != shape or not np.all(np.isfinite(probe)):
            raise ParticipantError(f"{self.venue_id}: broadcast.probe must be {shape} finite prices")
        at_probe = np.array([self.problem.demand(row) for row in probe])
        prices = broadcast.prices
        up = self.problem.demand(prices * (1.0 + SLOPE_STEP))
        down = self.problem.demand(prices * (1.0 - SLOPE_STEP))
        slope = (up - down) / (2.0 * SLOPE_STEP)
        if not (np.all(np.isfinite(at_probe)) and np.all(np.isfinite(slope))):
            raise ParticipantError(f"{self.venue_id}: demand at the probe prices is not finite")
        return at_probe, slope

    def _local_step(self, broadcast: RoundBroadcast) -> FloatArray:
        """The exact answer: proximal step (ADMM), crossover of best responses, or best response."""
        if broadcast.mode is Mode.ADMM:
            self._relax(broadcast)
            return self.problem.prox(self.z - broadcast.scaled_duals, broadcast.rho)
        if broadcast.mix is not None:
            low, high, weight = broadcast.mix
            x_low = self.problem.demand(low)
            return x_low + weight * (self.problem.demand(high) - x_low)
        return self.problem.demand(broadcast.prices)

    def _private_step(self, broadcast: RoundBroadcast) -> FloatArray:
        """The same answers as released values: noised, reused or interpolated (``PrivateRelease``)."""
        release = self.release
        assert release is not None
        if broadcast.mode is Mode.ADMM:
            if not release.price_phase:
                self._relax(broadcast)
            return release.admm(
                lambda: self.problem.prox(self.z - broadcast.scaled_duals, broadcast.rho), self.x
            )
        if broadcast.mix is not None:
            low, high, weight = broadcast.mix
            return release.crossover(low, high, weight, self.problem.demand, self.x)
        prices = broadcast.prices
        return release.at_prices(prices, lambda: self.problem.demand(prices), self.x)

    def _relax(self, broadcast: RoundBroadcast) -> None:
        """Over-relaxed consensus update of ``z`` from the previous round's mean."""
        if broadcast.previous_mean is not None:
            alpha = broadcast.over_relaxation
            self.z = alpha * self.x + (1.0 - alpha) * self.z - alpha * broadcast.previous_mean

    def counted_plan(self) -> FloatArray:
        """The plan the coordinator's totals hold for this agent (its last accepted answer)."""
        return self.counted_x.copy()

    def _check(self, broadcast: RoundBroadcast) -> None:
        if broadcast.session_id != self.session_id:
            raise ParticipantError(
                f"{self.venue_id}: broadcast for session {broadcast.session_id!r}, "
                f"expected {self.session_id!r}"
            )
        if broadcast.round_id <= self.last_round:
            raise ParticipantError(
                f"{self.venue_id}: replayed or out-of-order round {broadcast.round_id} "
                f"(last answered {self.last_round})"
            )
        n = len(self.assets)
        for name in ("rho", "scaled_duals", "prices"):
            value = getattr(broadcast, name)
            if value.shape != (n,) or not np.all(np.isfinite(value)):
                raise ParticipantError(f"{self.venue_id}: broadcast.{name} must be {n} finite values")
        if np.any(broadcast.rho <= 0):
            raise ParticipantError(f"{self.venue_id}: broadcast.rho must be positive")

    def _settle(self, broadcast: RoundBroadcast) -> None:
        """Fold the previous answer into what the coordinator's totals hold for us, or roll it back."""
        if self._pending is not None:
            if self.venue_id in broadcast.accepted_previous:
                self.counted_x, self.counted_cost, self.counted_gap = self._pending
            else:
                self.x = self.counted_x.copy() if not broadcast.rebase else self.x
            self._pending = None
        if broadcast.rebase:
            self.counted_x = np.zeros_like(self.x)
            self.counted_cost = 0.0
            self.counted_gap = 0.0
            self.z = self.x.copy()
