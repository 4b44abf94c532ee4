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
"""

from __future__ import annotations

from typing import Any

import numpy as np

from coordinator.engine.admm import ExchangeAdmm
from coordinator.engine.strategy import WarmStart
from energibridge.protocol.contribution import FloatArray
from energibridge.protocol.messages import Mode

_FIRST_STEP = 1e-3
"""First probe: 10 bps away from the reference price, in the direction that reduces |E|."""
_WARM_FIRST_STEP = 1e-6
"""Warm re-plans start at the last clearing price, which barely moves between ticks: probe 0.01 bp."""


class PriceSpace(ExchangeAdmm):
    mode = Mode.PRICE
    max_price_rounds = 80

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        warm: WarmStart | None = kwargs.get("warm")
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

    def _mix(self) -> tuple[FloatArray, FloatArray, FloatArray] | None:
        if self._crossover is not None and not self._crossover_sent:
            self._crossover_sent = True
            return self._crossover
        return None

    def _update(self, mean: FloatArray, summary_inputs: dict[str, float | FloatArray]) -> None:
        if self.mode is Mode.ADMM:
            super()._update(mean, summary_inputs)
            return
        profit = -float(self.totals[-2])
        if self._crossover_sent:
            # The crossover missed the stopping rule. Its plan is balanced, so ``profit`` is now a sound
            # scale for the tolerance: tighten every bracket that is still too wide and search on.
            self._crossover, self._crossover_sent = None, False
            self._balanced_profit = abs(profit)
            budget = self._gap_budget()
            bounds = (self._hi_p - self._lo_p) * (self._hi_true - self._lo_true)
            value = np.abs(self.totals[: len(self.assets)] * self.prices)
            self._settled &= ~((bounds > 0.5 * budget) | (value > 0.5 * budget))
            if self.round_id >= self.max_price_rounds or np.all(self._settled):
                self.mode = Mode.ADMM
                self.rho_frozen = False
                return
            new = self.prices.copy()
            for k in np.flatnonzero(~self._settled).tolist():
                if self._lo_p[k] == self._hi_p[k]:
                    # Settled on a point in lots but not in value: reopen the side its imbalance rules out.
                    excess_k = float(self.totals[k])
                    self._clear_side(k, above=excess_k < 0)
                    self._step[k] = 0.0
                    new[k] = self._next_price(k, float(new[k]), excess_k)
                else:
                    new[k] = self._next_price(k, float(new[k]), 0.0)
            self.u = -new / self.rho
            return
        prices = self.prices
        excess = mean * len(self.active)
        tolerance = self.config.imbalance_tol_lots * self.lot
        gap_budget = self._gap_budget()
        new = prices.copy()
        for a in range(len(self.assets)):
            if self._settled[a]:
                continue
            # Settled in lots and, once a balanced profit scales the budget, in value: |E * p| enters the
            # certified gap directly (a 1e-5 BTC imbalance is under a lot but worth 0.6 USD).
            in_value = self._balanced_profit == 0.0 or abs(excess[a] * prices[a]) <= 0.5 * gap_budget
            if abs(excess[a]) <= tolerance[a] and in_value:
                self._settled[a] = True
                self._lo_p[a] = self._hi_p[a] = prices[a]
                self._lo_true[a] = self._hi_true[a] = excess[a]
                self._lo_e[a] = self._hi_e[a] = excess[a]
                continue
            self._record(a, prices[a], excess[a])
            width = self._hi_p[a] - self._lo_p[a]
            if np.isfinite(width) and width * (self._hi_true[a] - self._lo_true[a]) <= 0.5 * gap_budget:
                self._settled[a] = True
                continue
            new[a] = self._next_price(a, prices[a], excess[a])
        if np.all(self._settled) or self.round_id >= self.max_price_rounds:
            self._crossover = self._plan_crossover(prices)
            new = self._crossover[0] + self._crossover[2] * (self._crossover[1] - self._crossover[0])
        self.u = -new / self.rho

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

    def _next_price(self, a: int, price: float, excess: float) -> float:
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
        if self._warm_bracket is not None:
            guess = self._warm_bracket[0][a] if excess > 0 else self._warm_bracket[1][a]
            if (
                (guess < price) == (excess > 0)
                and guess != price
                and np.isnan(self._lo_p[a] if excess > 0 else self._hi_p[a])
            ):
                return float(guess)
        self._step[a] = self._first_step * price if self._step[a] == 0 else 4.0 * self._step[a]
        return float(price - np.sign(excess) * self._step[a])

    def _plan_crossover(self, prices: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        low = np.where(np.isfinite(self._lo_p), self._lo_p, prices)
        high = np.where(np.isfinite(self._hi_p), self._hi_p, prices)
        lo_e = np.where(np.isfinite(self._lo_true), self._lo_true, 0.0)
        hi_e = np.where(np.isfinite(self._hi_true), self._hi_true, 0.0)
        spread = hi_e - lo_e
        weight = np.where(spread > 0, np.clip(-lo_e / np.where(spread > 0, spread, 1.0), 0.0, 1.0), 0.0)
        return low, high, weight
