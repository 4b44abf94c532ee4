"""Coordinator strategies: abstract hooks over shared aggregate bookkeeping.

A strategy never sees an individual venue's values: ``aggregate`` receives the (securely aggregated) sum
of the responders' contribution vectors and the set of responders. Shared here: running totals with
stale reuse of stragglers, dropping venues that miss too many rounds, residuals, the duality-gap
certificate and the absolute stopping rule. Subclasses decide how prices/duals move (``_update``).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from coordinator.engine.config import AdmmConfig
from energibridge.protocol.contribution import SLOPE_STEP, Extras, FloatArray, Layout
from energibridge.protocol.messages import Mode, RoundBroadcast, RoundSummary


class SessionError(RuntimeError):
    """The session cannot continue (no participants left, protocol violation)."""


@dataclass(frozen=True)
class WarmStart:
    """Consensus state carried from the previous plan of a region into the next session."""

    rho: FloatArray
    scaled_duals: FloatArray
    bracket: tuple[FloatArray, FloatArray] | None = None
    """Price-space: last session's per-asset price bracket (low, high), reused as first probes."""
    ref_price: FloatArray | None = None
    """Public reference mids the warm state was found at: the next session shifts prices by the move."""


@dataclass(frozen=True)
class AssetScale:
    """Public per-asset figures: reference price (quote) and the coarsest lot size among venues."""

    ref_price: float
    lot_size: float
    size_scale: float
    mid_range: tuple[float, float] | None = None
    """Lowest and highest public mid the venues report (a likely bracket of the clearing price)."""


class Strategy(ABC):
    """One session's coordinator state machine (pure: deterministic given the aggregates it receives)."""

    mode: Mode

    def __init__(
        self,
        session_id: str,
        assets: Sequence[str],
        participants: Iterable[str],
        scales: Mapping[str, AssetScale],
        *,
        config: AdmmConfig | None = None,
        warm: WarmStart | None = None,
    ) -> None:
        self.session_id = session_id
        self.assets = tuple(assets)
        if len(set(self.assets)) != len(self.assets) or not self.assets:
            raise SessionError(f"assets must be a non-empty list of unique names, got {list(assets)}")
        missing = [a for a in self.assets if a not in scales]
        if missing:
            raise SessionError(f"no public scale (reference price, lot size) for assets {missing}")
        self.config = config or AdmmConfig()
        self.layout = Layout(len(self.assets))
        self.active: list[str] = sorted(set(participants))
        if len(self.active) < 2:
            raise SessionError(f"a session needs at least 2 participants, got {self.active}")
        n = len(self.assets)
        self.ref_price = np.array([scales[a].ref_price for a in self.assets], dtype=np.float64)
        self.lot = np.array([scales[a].lot_size for a in self.assets], dtype=np.float64)
        size_scale = np.array([scales[a].size_scale for a in self.assets], dtype=np.float64)
        self.size_scale = size_scale
        self.rho_initial = self.config.rho_scale * self.ref_price / size_scale
        self.warm_shift = np.ones(n)
        if warm is not None:
            self.rho = np.array(warm.rho, dtype=np.float64)
            if warm.ref_price is not None:
                # Clearing prices move with the public mids between ticks: carry the warm prices along.
                self.warm_shift = self.ref_price / np.asarray(warm.ref_price, dtype=np.float64)
            self.u = np.array(warm.scaled_duals, dtype=np.float64) * self.warm_shift
        else:
            self.rho = self.rho_initial.copy()
            self.u = -self.ref_price / self.rho
        self.totals = np.zeros(self.layout.running_size, dtype=np.float64)
        self.round_id = 0
        self.previous_mean: FloatArray | None = None
        self.missed: dict[str, int] = dict.fromkeys(self.active, 0)
        self.accepted: frozenset[str] = frozenset()
        self.rebase_pending = False
        self.rho_frozen = False
        self.rho_updates = 0
        self.history: list[RoundSummary] = []
        self.converged = False
        self.extras: Extras | None = None
        """The last round's absolute sums (rounded plan, probe demand, slope), when every member's vector
        is in the sum; None otherwise."""
        self.rounded_ready = False
        self.probe_ready = False
        self.liquidity = 0.0
        """Quote value of the region's net demand change across +-10 bps (SharedSignals' liquidity)."""
        assert self.u.shape == (n,) and self.rho.shape == (n,)

    # ---- hooks -----------------------------------------------------------------------------------

    @abstractmethod
    def _update(self, mean: FloatArray, summary_inputs: dict[str, float | FloatArray]) -> None:
        """Move prices/duals after a round whose mean plan is ``mean``."""

    def _mix(self) -> tuple[FloatArray, FloatArray, FloatArray] | None:
        """Price-space crossover request for the next round, if any."""
        return None

    def _probe(self) -> FloatArray | None:
        """Price-space probe prices for the next round, if any."""
        return None

    # ---- the concrete loop pieces ----------------------------------------------------------------

    @property
    def prices(self) -> FloatArray:
        return -self.rho * self.u

    def configure_round(self) -> RoundBroadcast:
        """Open the next round: the broadcast every active participant receives."""
        if self.converged:
            raise SessionError(f"session {self.session_id} already converged")
        self.round_id += 1
        last = self.history[-1] if self.history else None
        if self.probe_ready and self.extras is not None:
            # The region's depth around its price, from the aggregated slopes (kept until the next ones).
            self.liquidity = float(np.sum(np.abs(self.extras.slope) * 2.0 * SLOPE_STEP * self.ref_price))
        broadcast = RoundBroadcast(
            session_id=self.session_id,
            round_id=self.round_id,
            mode=self.mode,
            rho=self.rho.copy(),
            scaled_duals=self.u.copy(),
            prices=self.prices,
            previous_mean=None if self.previous_mean is None else self.previous_mean.copy(),
            over_relaxation=self.config.over_relaxation,
            best_response_eps=self.config.best_response_eps,
            rebase=self.rebase_pending,
            accepted_previous=self.accepted,
            mix=self._mix(),
            probe=self._probe(),
            primal_residual=0.0 if last is None else last.primal_residual,
            dual_residual=0.0 if last is None else last.dual_residual,
            liquidity_quote=self.liquidity,
        )
        if self.rebase_pending:
            self.totals[:] = 0.0
            self.rebase_pending = False
        return broadcast

    def aggregate(self, summed: FloatArray, responders: Iterable[str]) -> RoundSummary:
        """Close the round with the sum of the responders' contributions."""
        responded = set(responders)
        unknown = responded - set(self.active)
        if unknown:
            raise SessionError(
                f"round {self.round_id}: contributions from non-participants {sorted(unknown)}"
            )
        if summed.shape != (self.layout.size,) or not np.all(np.isfinite(summed)):
            raise SessionError(f"round {self.round_id}: aggregate must be {self.layout.size} finite values")
        dx, dx_sq, d_cost, d_gap = self.layout.unpack(summed)
        n_active = len(self.active)
        self.totals[: len(dx)] += dx
        self.totals[-2] += d_cost
        self.totals[-1] += d_gap
        x_sum = self.totals[: len(self.assets)]
        mean = x_sum / n_active
        dmean = mean - (self.previous_mean if self.previous_mean is not None else 0.0)
        spread = np.maximum(dx_sq - n_active * dmean**2, 0.0)
        primal = math.sqrt(n_active) * np.abs(mean)
        dual = self.rho * np.sqrt(spread)
        prices = self.prices
        gap = max(float(self.totals[-1]), 0.0) + abs(float(prices @ x_sum))
        profit = -float(self.totals[-2])
        max_lots = float(np.max(np.abs(x_sum) / self.lot))
        tolerance = self.config.gap_tol_abs + self.config.gap_tol_rel * abs(profit)
        converged = (
            max_lots <= self.config.imbalance_tol_lots and gap <= tolerance and not self.rebase_pending
        )
        everyone = responded == set(self.active)
        extras = self.layout.extras(summed)
        self.rounded_ready = everyone and abs(extras.rounded_count - n_active) < 0.25
        self.probe_ready = everyone and abs(extras.probe_count - n_active) < 0.25
        self.extras = extras if self.rounded_ready or self.probe_ready else None
        dropped = self._track_stragglers(responded)
        self.accepted = frozenset(responded)
        summary = RoundSummary(
            round_id=self.round_id,
            participants=n_active,
            responders=len(responded),
            imbalance=x_sum.copy(),
            max_imbalance_lots=max_lots,
            primal_residual=float(np.linalg.norm(primal)),
            dual_residual=float(np.linalg.norm(dual)),
            gap=gap,
            profit=profit,
            rho=self.rho.copy(),
            prices=prices,
            converged=converged and not dropped,
            dropped=dropped,
        )
        self.history.append(summary)
        if summary.converged:
            self.converged = True
            self.previous_mean = mean
            return summary
        self._update(mean, {"primal": primal, "dual": dual, "max_lots": max_lots, "gap": gap})
        self.previous_mean = None if dropped else mean
        return summary

    def _track_stragglers(self, responded: set[str]) -> tuple[str, ...]:
        dropped: list[str] = []
        for venue in self.active:
            self.missed[venue] = 0 if venue in responded else self.missed[venue] + 1
            if self.missed[venue] > self.config.max_missed_rounds:
                dropped.append(venue)
        if dropped:
            self.drop(dropped)
        return tuple(dropped)

    def drop(self, venues: Iterable[str]) -> None:
        """Remove venues from the session; the survivors restate absolute values next round."""
        gone = set(venues)
        self.active = [v for v in self.active if v not in gone]
        for venue in gone:
            self.missed.pop(venue, None)
        if len(self.active) < 2:
            raise SessionError(f"session {self.session_id}: fewer than 2 participants left ({self.active})")
        self.rebase_pending = True
        self.previous_mean = None

    def rounded_sums(self) -> tuple[FloatArray, float] | None:
        """The rounding phase's sums (rounded plans per asset, their cost) as the last round carried them,
        when every member answered it; None: ask for them in a rounding phase."""
        if not self.rounded_ready or self.extras is None or self.rebase_pending:
            return None
        return self.extras.rounded.copy(), self.extras.rounded_cost

    def warm_state(self) -> WarmStart:
        """State to warm-start the region's next session from."""
        return WarmStart(rho=self.rho.copy(), scaled_duals=self.u.copy(), ref_price=self.ref_price.copy())
