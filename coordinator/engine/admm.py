"""Exchange ADMM (Boyd et al. 2011, section 7.3.2) with per-asset residual balancing.

``u <- u + alpha * xbar`` is the whole coordinator step; rho adapts per asset (mu/tau rule, Boyd 3.4.1)
until the residuals are within ``freeze_factor`` of their tolerances, then freezes, because changing rho
late destroys the warm duals' scaling and fixed rho can cost 200x more rounds.
"""

from __future__ import annotations

import numpy as np

from coordinator.engine.contribution import FloatArray
from coordinator.engine.messages import Mode
from coordinator.engine.strategy import Strategy


class ExchangeAdmm(Strategy):
    mode = Mode.ADMM

    def _update(self, mean: FloatArray, summary_inputs: dict[str, float | FloatArray]) -> None:
        config = self.config
        self.u = self.u + config.over_relaxation * mean
        primal = np.asarray(summary_inputs["primal"], dtype=np.float64)
        dual = np.asarray(summary_inputs["dual"], dtype=np.float64)
        if self.rho_frozen:
            return
        near = float(summary_inputs["max_lots"]) <= config.freeze_factor * config.imbalance_tol_lots
        balanced = np.all(primal / self.size_scale <= config.mu * dual / self.ref_price) and np.all(
            dual / self.ref_price <= config.mu * primal / self.size_scale
        )
        near = float(summary_inputs["max_lots"]) <= config.freeze_factor * config.imbalance_tol_lots
        if (near and balanced) or self.rho_updates >= config.max_rho_updates:
            self.rho_frozen = True
            return
        # Compare residuals in their natural units: primal in typical sizes, dual in reference prices.
        primal_n = primal
        dual_n = dual
        factor = np.ones_like(self.rho)
        factor[primal_n > config.mu * dual_n] = config.tau
        factor[dual_n > config.mu * primal_n] = 1.0 / config.tau
        if np.any(factor != 1.0):
            self.rho_updates += 1
            self.rho = self.rho * factor
            self.u = self.u / factor
