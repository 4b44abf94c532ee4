"""Price-space coordination: bracketed secant search over consensus prices with a crossover finish.

Agents answer a price vector with their best responses ``argmin f_i(x) - p.x``; the coordinator sees only
the summed net demand ``E(p)``, which rises with ``p`` (a higher consensus value makes buying on a venue
more attractive). Each asset's price moves by regula falsi with the Illinois safeguard (a diagonal
quasi-Newton step, after Angeris, Diamandis et al. on CFMM routing) once a bracket ``E(lo) < 0 < E(hi)``
is known, by doubling steps before. Order books make ``E`` a step function whose root sits on a jump, so
the search never hits ``E = 0``; instead it stops as soon as the *crossover* is provably good enough:
every venue answers ``x(lo) + theta * (x(hi) - x(lo))`` with the common ``theta = -E(lo) / (E(hi) - E(lo))``,
which sums to exactly zero, and since demands are monotone its cost exceeds the optimum by at most
``(hi - lo) * (E(hi) - E(lo))``, a bound computed from aggregates alone. If the crossover round still
misses the stopping rule, the session continues as exchange ADMM from the crossover prices.

Each round also asks for net demand at ``PROBES`` probe prices per asset and for the aggregated slope of
net demand (all in the same secure sum), so a round yields several points of ``E``: the bracket shrinks by
``PROBES + 1`` per round at least, one-sided searches take Newton steps, round 1 opens on a bracket from
public facts (the mids' range cold, the last bracket moved with the mids warm), and an *early* crossover
learns a balanced profit to scale the tolerances by (the certified stopping rule is the strategy's own and
does not change).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from coordinator.engine.admm import ExchangeAdmm
from coordinator.engine.strategy import AssetScale, WarmStart
from energibridge.protocol.contribution import PROBES, FloatArray
from energibridge.protocol.messages import Mode

_FIRST_STEP = 1e-3
"""First probe: 10 bps away from the reference price, in the direction that reduces |E|."""
_WARM_FIRST_STEP = 1e-6
"""Warm re-plans start at the last clearing price, which barely moves between ticks: probe 0.01 bp."""
_PUBLIC_MARGIN = 1e-3
"""Cold solves open on the range of the public mids widened by 10 bps on each side: the clearing price
lies between the lowest bid and the highest ask, which that range brackets for all but the widest books."""
_MAX_NEWTON_STEP = 0.05
"""A Newton step from the aggregated slope moves a price by at most 5%."""
_MIN_NEWTON_STEP = 1e-9
_EARLY_SHARE = 0.25
"""An early crossover goes out once the brackets' cost bounds are within this share of the dual bound on
the profit: its balanced profit then scales the search tolerances (a lower bound on what is achievable)
instead of the absolute floor ``gap_tol_abs``, and it is certified like any round, so it often ends the
session by itself."""


class PriceSpace(ExchangeAdmm):
    mode = Mode.PRICE
    max_price_rounds = 80

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        warm: WarmStart | None = kwargs.get("warm")
        scales: Mapping[str, AssetScale] = args[3] if len(args) > 3 else kwargs["scales"]
        self._first_step = _FIRST_STEP if warm is None else _WARM_FIRST_STEP
        n = len(self.assets)
        self._warm_bracket = None
        if warm is not None and warm.bracket is not None:
            self._warm_bracket = (warm.bracket[0] * self.warm_shift, warm.bracket[1] * self.warm_shift)
        self._lo_p = np.full(n, np.nan)
        self._lo_e = np.full(n, np.nan)
        self._hi_p = np.full(n, np.nan)
        self._hi_e = np.full(n, np.nan)
        self._lo_true = np.full(n, np.nan)
        self._hi_true = np.full(n, np.nan)
        self._step = np.zeros(n)
        self._widths: list[list[float]] = [[] for _ in range(n)]
        self._last_side = np.zeros(n, dtype=np.int8)
        self._settled = np.zeros(n, dtype=bool)
        self._crossover: tuple[FloatArray, FloatArray, FloatArray] | None = None
        self._crossover_sent = False
        self._balanced_profit = 0.0
        self._early = False
        """The crossover in flight is an early one (sent to learn a balanced profit)."""
        self._early_done = False
        self._probe_next: FloatArray | None = None
        self._probe_sent: FloatArray | None = None
        self._slope = np.full(n, np.nan)
        """The last aggregated slope of net demand per asset, ``dE / d ln p``."""
        # Round 1 evaluates several prices per asset. Warm: the ends of the last bracket (moved with the
        # public mids), and 10 bps beyond each in case the market moved more than its mids say; cold: the
        # public mids' range, widened, on an even grid. A clearing price between them is bracketed at once.
        primary = self.prices.copy()
        probe = np.tile(primary, (PROBES, 1))
        for a, asset in enumerate(self.assets):
            if self._warm_bracket is not None:
                low, high = float(self._warm_bracket[0][a]), float(self._warm_bracket[1][a])
                points = [high, low * (1 - _PUBLIC_MARGIN), high * (1 + _PUBLIC_MARGIN)]
            else:
                span = scales[asset].mid_range
                if span is None:
                    continue
                low, high = span[0] * (1 - _PUBLIC_MARGIN), span[1] * (1 + _PUBLIC_MARGIN)
                points = [low + (high - low) * (j + 1) / PROBES for j in range(PROBES)]
            if np.isfinite(low) and np.isfinite(high) and 0 < low <= high:
                primary[a] = low
                probe[:, a] = points[:PROBES] + [high] * (PROBES - len(points))
        self.u = -primary / self.rho
        self._probe_next = probe

    def _mix(self) -> tuple[FloatArray, FloatArray, FloatArray] | None:
        if self._crossover is not None and not self._crossover_sent:
            self._crossover_sent = True
            return self._crossover
        return None

    def _probe(self) -> FloatArray | None:
        probe, self._probe_next = self._probe_next, None
        if self.mode is not Mode.PRICE or self._crossover_sent:
            probe = None
        self._probe_sent = probe
        return probe

    def _probe_result(self) -> tuple[FloatArray, FloatArray, FloatArray] | None:
        """(probe prices, net demand there, slope dE/d ln p) of the round just closed, if every member
        reported them."""
        extras = self.extras
        if self._probe_sent is None or not self.probe_ready or extras is None:
            return None
        return self._probe_sent, extras.probe, extras.slope

    def _update(self, mean: FloatArray, summary_inputs: dict[str, float | FloatArray]) -> None:
        if self.mode is Mode.ADMM:
            super()._update(mean, summary_inputs)
            return
        profit = -float(self.totals[-2])
        probes = self._probe_result()
        if probes is not None:
            self._slope = probes[2].copy()
        if self._crossover_sent:
            # The crossover missed the stopping rule. Its plan is balanced, so ``profit`` is now a sound
            # scale for the tolerance: tighten every bracket that is still too wide and search on.
            self._crossover, self._crossover_sent = None, False
            early, self._early = self._early, False
            self._balanced_profit = max(profit, 0.0) if early else abs(profit)
            budget = self._gap_budget()
            bounds = (self._hi_p - self._lo_p) * (self._hi_true - self._lo_true)
            value = np.abs(self.totals[: len(self.assets)] * self.prices)
            tight = (bounds <= 0.5 * budget) & (value <= 0.5 * budget)
            # An early crossover went out before anything could settle at the absolute floor: every asset
            # is judged anew against the balanced profit; after a final one, settled ones may only reopen.
            self._settled = tight if early else self._settled & tight
            if self.round_id >= self.max_price_rounds or np.all(self._settled):
                self.mode = Mode.ADMM
                self.rho_frozen = False
                return
            new = self.prices.copy()
            probe = np.tile(new, (PROBES, 1))
            for k in np.flatnonzero(~self._settled).tolist():
                if self._lo_p[k] == self._hi_p[k]:
                    # Settled on a point in lots but not in value: reopen the side its imbalance rules out.
                    excess_k = float(self.totals[k])
                    self._clear_side(k, above=excess_k < 0)
                    # The root is within a lot of that point: search from it in small steps (0.01 bp).
                    self._step[k] = 0.25 * _WARM_FIRST_STEP * float(new[k])
                    new[k], probe[:, k] = self._next_points(k, float(new[k]), excess_k, None)
                else:
                    new[k], probe[:, k] = self._next_points(k, float(new[k]), 0.0, None)
            self.u = -new / self.rho
            self._probe_next = probe
            return
        prices = self.prices
        excess = mean * len(self.active)
        tolerance = self.config.imbalance_tol_lots * self.lot
        gap_budget = self._gap_budget()
        new = prices.copy()
        probe = np.tile(prices, (PROBES, 1))
        for a in range(len(self.assets)):
            if self._settled[a]:
                continue
            # Settled in lots and, once a balanced profit scales the budget, in value: |E * p| enters the
            # certified gap directly (a 1e-5 BTC imbalance is under a lot but worth 0.6 USD).
            in_value = self._balanced_profit == 0.0 or abs(excess[a] * prices[a]) <= 0.5 * gap_budget
            if abs(excess[a]) <= tolerance[a] and in_value:
                self._settle_on(a, float(prices[a]), float(excess[a]))
                continue
            self._record(a, prices[a], excess[a])
            if probes is not None and self._probed(a, probes, float(tolerance[a]), gap_budget):
                new[a] = probe[:, a] = self._lo_p[a]
                continue
            width = self._hi_p[a] - self._lo_p[a]
            if np.isfinite(width) and width * (self._hi_true[a] - self._lo_true[a]) <= 0.5 * gap_budget:
                self._settled[a] = True
                continue
            slope = None if probes is None else float(probes[2][a])
            new[a], probe[:, a] = self._next_points(a, float(prices[a]), float(excess[a]), slope)
        finished = np.all(self._settled) or self.round_id >= self.max_price_rounds
        if not finished and not self._early_done and self._early_ready(prices, excess):
            self._early = self._early_done = True
            finished = True
        if finished:
            self._crossover = self._plan_crossover(prices)
            new = self._crossover[0] + self._crossover[2] * (self._crossover[1] - self._crossover[0])
        self.u = -new / self.rho
        self._probe_next = None if finished else probe

    def _early_ready(self, prices: FloatArray, excess: FloatArray) -> bool:
        """Every open asset bracketed, and the brackets' cost bounds small against the dual bound on the
        profit (``-sum_i L_i(p)`` from the aggregates), so an early crossover's plan is worth its round."""
        open_ = ~self._settled
        if not np.all(np.isfinite(self._lo_p[open_]) & np.isfinite(self._hi_p[open_])):
            return False
        bounds = float(
            np.sum((self._hi_p[open_] - self._lo_p[open_]) * (self._hi_true[open_] - self._lo_true[open_]))
        )
        dual_profit = -(float(self.totals[-2]) - float(prices @ excess) - float(self.totals[-1]))
        return dual_profit > 0 and bounds <= _EARLY_SHARE * dual_profit

    def _settle_on(self, a: int, price: float, excess: float) -> None:
        self._settled[a] = True
        self._lo_p[a] = self._hi_p[a] = price
        self._lo_true[a] = self._hi_true[a] = excess
        self._lo_e[a] = self._hi_e[a] = excess

    def _probed(
        self, a: int, probes: tuple[FloatArray, FloatArray, FloatArray], tolerance: float, budget: float
    ) -> bool:
        """Fold the round's probe points of asset ``a`` into its bracket; True if one settles it."""
        for j in range(PROBES):
            at, demand = float(probes[0][j, a]), float(probes[1][j, a])
            in_value = self._balanced_profit == 0.0 or abs(demand * at) <= 0.5 * budget
            if abs(demand) <= tolerance and in_value:
                self._settle_on(a, at, demand)
                return True
            self._record_probe(a, at, demand)
        return False

    def _record_probe(self, a: int, price: float, excess: float) -> None:
        """A probe's point tightens its side of the bracket when it is inside it (no Illinois bookkeeping:
        it is the true value there)."""
        lo_p, hi_p = self._lo_p[a], self._hi_p[a]
        if excess > 0:
            if (np.isnan(hi_p) or price < hi_p) and (np.isnan(lo_p) or price > lo_p):
                self._hi_p[a], self._hi_e[a], self._hi_true[a] = price, excess, excess
        elif (np.isnan(lo_p) or price > lo_p) and (np.isnan(hi_p) or price < hi_p):
            self._lo_p[a], self._lo_e[a], self._lo_true[a] = price, excess, excess

    def warm_state(self) -> WarmStart:
        # Carry prices, not penalties: a session that fell back to ADMM may end with a runaway rho, and the
        # next session must not inherit it (seen: rho 1e7-1e10, then stalled sessions committing losses).
        prices = self.prices
        base = WarmStart(self.rho_initial.copy(), -prices / self.rho_initial, ref_price=self.ref_price.copy())
        if np.all(np.isfinite(self._lo_p)) and np.all(np.isfinite(self._hi_p)):
            return WarmStart(
                base.rho,
                base.scaled_duals,
                bracket=(self._lo_p.copy(), self._hi_p.copy()),
                ref_price=base.ref_price,
            )
        return base

    def _gap_budget(self) -> float:
        """Per-asset share of the gap tolerance; relative to the last balanced profit (0 before one)."""
        return (self.config.gap_tol_abs + self.config.gap_tol_rel * self._balanced_profit) / len(self.assets)

    def _clear_side(self, a: int, *, above: bool) -> None:
        if above:
            self._hi_p[a] = self._hi_e[a] = self._hi_true[a] = np.nan
        else:
            self._lo_p[a] = self._lo_e[a] = self._lo_true[a] = np.nan

    def _record(self, a: int, price: float, excess: float) -> None:
        """Move one end of the bracket; Illinois: halve the kept end's value if it was kept twice."""
        side = 1 if excess > 0 else -1
        if side > 0:
            self._hi_p[a], self._hi_e[a], self._hi_true[a] = price, excess, excess
            if self._last_side[a] == 1 and np.isfinite(self._lo_e[a]):
                self._lo_e[a] *= 0.5
        else:
            self._lo_p[a], self._lo_e[a], self._lo_true[a] = price, excess, excess
            if self._last_side[a] == -1 and np.isfinite(self._hi_e[a]):
                self._hi_e[a] *= 0.5
        self._last_side[a] = side

    def _next_points(
        self, a: int, price: float, excess: float, slope: float | None
    ) -> tuple[float, FloatArray]:
        """The next round's price and ``PROBES`` probes for asset ``a``.

        Bracketed: the regula falsi point (``_next_price``) and an even grid inside the bracket, so the
        bracket shrinks by ``PROBES + 1`` at least, and a grid fine enough to settle it once the bracket
        is within reach. One side known: a Newton step from the aggregated slope (or the doubling step)
        and probes at twice, four and eight times that distance, to bracket."""
        lo_p, hi_p = self._lo_p[a], self._hi_p[a]
        primary = self._next_price(a, price, excess, slope)
        if np.isfinite(lo_p) and np.isfinite(hi_p):
            width = hi_p - lo_p
            spread = self._hi_true[a] - self._lo_true[a]
            target = 0.5 * self._gap_budget() / spread if spread > 0 else np.inf
            if width <= (PROBES + 2) * target:
                grid: FloatArray = lo_p + width * np.arange(1, PROBES + 2, dtype=np.float64) / (PROBES + 2)
                return float(grid[0]), grid[1:]
            inner: FloatArray = lo_p + width * np.arange(1, PROBES + 1, dtype=np.float64) / (PROBES + 1)
            return primary, inner
        known = lo_p if np.isfinite(lo_p) else hi_p
        origin = float(known) if np.isfinite(known) else price
        powers = 2.0 ** np.arange(1, PROBES + 1, dtype=np.float64)
        if origin > 0 and primary > 0:
            # In log price, so a search downwards stays positive (prediction shares trade in (0, 1)).
            logs: FloatArray = origin * (primary / origin) ** powers
            return primary, logs
        beyond: FloatArray = origin + (primary - origin) * powers
        return primary, beyond

    def _next_price(self, a: int, price: float, excess: float, slope: float | None = None) -> float:
        lo_p, hi_p = self._lo_p[a], self._hi_p[a]
        if np.isfinite(lo_p) and np.isfinite(hi_p):
            lo_e, hi_e = self._lo_e[a], self._hi_e[a]
            widths = self._widths[a]
            widths.append(hi_p - lo_p)
            # Safeguard (as in Brent's method): order books make E a step function on which regula
            # falsi creeps; bisect whenever the last two steps did not halve the bracket.
            stale = not (np.isfinite(lo_e) and np.isfinite(hi_e)) or hi_e <= lo_e
            if stale or excess == 0.0 or (len(widths) >= 3 and widths[-1] > 0.5 * widths[-3]):
                widths.clear()
                return float(0.5 * (lo_p + hi_p))
            candidate = lo_p - lo_e * (hi_p - lo_p) / (hi_e - lo_e)
            margin = 1e-3 * (hi_p - lo_p)
            return float(np.clip(candidate, lo_p + margin, hi_p - margin))
        # One side known: continue from its furthest point (a probe may have gone beyond the price).
        known = lo_p if np.isfinite(lo_p) else hi_p
        origin = float(known) if np.isfinite(known) else price
        if slope is None and np.isfinite(self._slope[a]):
            slope = float(self._slope[a])  # the last one the region reported
        newton = None
        if slope is not None and slope > 0 and excess != 0.0:
            # Newton on ln p with the aggregated slope dE/d ln p: where the region's depth says E is 0
            # (the probes beyond it bracket the root if the depth misleads, as on a book's jump).
            newton = min(max(abs(excess) / slope, _MIN_NEWTON_STEP), _MAX_NEWTON_STEP) * origin
        step = self._first_step * origin if self._step[a] == 0 else 4.0 * self._step[a]
        step = max(step, newton or 0.0)
        self._step[a] = step
        return float(origin - np.sign(excess) * step)

    def _plan_crossover(self, prices: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        low = np.where(np.isfinite(self._lo_p), self._lo_p, prices)
        high = np.where(np.isfinite(self._hi_p), self._hi_p, prices)
        lo_e = np.where(np.isfinite(self._lo_true), self._lo_true, 0.0)
        hi_e = np.where(np.isfinite(self._hi_true), self._hi_true, 0.0)
        spread = hi_e - lo_e
        weight = np.where(spread > 0, np.clip(-lo_e / np.where(spread > 0, spread, 1.0), 0.0, 1.0), 0.0)
        return low, high, weight
