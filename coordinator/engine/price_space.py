"""Price-space coordination: quasi-Newton search over consensus prices, then ADMM polish.

Agents answer a price vector with their best responses ``argmin f_i(x) - p.x``; the coordinator sees
only the summed net demand ``E(p)``, which rises with ``p`` (a higher consensus value makes buying on a
venue more attractive), and moves each asset's price by a bracketed secant step (diagonal quasi-Newton, after
Angeris, Diamandis et al. on CFMM routing). Smooth pools clear in a few rounds. Order books make
``E`` a step function whose root sits on a jump: once the bracket collapses the strategy hands over to
exchange ADMM, warm-started at the found prices, which allocates the flat and certifies the gap.
"""

from __future__ import annotations

import numpy as np

from coordinator.engine.admm import ExchangeAdmm
from coordinator.engine.contribution import FloatArray
from coordinator.engine.messages import Mode

_FIRST_STEP = 1e-3
_MAX_STEP = 0.05
_COLLAPSED = 1e-9


class PriceSpace(ExchangeAdmm):
    mode = Mode.PRICE
    max_price_rounds = 60

    def _update(self, mean: FloatArray, summary_inputs: dict[str, float | FloatArray]) -> None:
        if self.mode is Mode.ADMM:
            super()._update(mean, summary_inputs)
            return
        excess = mean * len(self.active)
        prices = self.prices
        if not hasattr(self, "_lo"):
            n = len(self.assets)
            self._lo = np.full(n, np.nan)
            self._hi = np.full(n, np.nan)
            self._last: tuple[FloatArray, FloatArray] | None = None
        buying = excess > 0
        self._hi = np.where(buying, prices, self._hi)
        self._lo = np.where(~buying, prices, self._lo)
        new = prices.copy()
        for a in range(len(self.assets)):
            new[a] = self._next_price(a, prices[a], excess[a])
        self._last = (prices.copy(), excess.copy())
        width = np.abs(self._hi - self._lo) / prices
        settled = np.abs(excess) <= self.config.imbalance_tol_lots * self.lot
        collapsed = np.all(settled | (np.isfinite(width) & (width < _COLLAPSED)))
        if collapsed or self.round_id >= self.max_price_rounds:
            self.mode = Mode.ADMM
            self.rho_frozen = False
        self.u = -new / self.rho

    def _next_price(self, a: int, price: float, excess: float) -> float:
        lo, hi = self._lo[a], self._hi[a]
        candidate = np.nan
        if self._last is not None:
            last_p, last_e = self._last[0][a], self._last[1][a]
            if price != last_p and excess != last_e:
                slope = (excess - last_e) / (price - last_p)
                if slope > 0:
                    candidate = price - excess / slope
        if not np.isfinite(candidate):
            candidate = price * (1 - _FIRST_STEP * np.sign(excess))
        candidate = float(np.clip(candidate, price * (1 - _MAX_STEP), price * (1 + _MAX_STEP)))
        if np.isfinite(lo) and np.isfinite(hi):
            low, high = min(lo, hi), max(lo, hi)
            if not low < candidate < high:
                candidate = 0.5 * (low + high)
        return candidate
