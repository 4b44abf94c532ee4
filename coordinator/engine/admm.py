"""Exchange ADMM (Boyd et al. 2011, section 7.3.2) with per-asset residual balancing.

``u <- u + alpha * xbar`` is the whole coordinator step; rho adapts per asset (mu/tau rule, Boyd 3.4.1)
until the residuals are within ``freeze_factor`` of their tolerances, then freezes, because changing rho
late destroys the warm duals' scaling and fixed rho can cost 200x more rounds.
"""

from __future__ import annotations

import numpy as np

from coordinator.engine.strategy import Strategy
from energibridge.protocol.contribution import FloatArray
from energibridge.protocol.messages import Mode


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
        # Freeze once the residuals are within mu of each other *in their natural units* (primal in typical
        # sizes, dual in reference prices); the balancing step below compares raw norms (Boyd's rule). This
        # pairing is empirical: raw freezing left the 2-venue scenario unconverged after 2000 rounds.
        primal_n, dual_n = primal / self.size_scale, dual / self.ref_price
        balanced = bool(np.all(primal_n <= config.mu * dual_n) and np.all(dual_n <= config.mu * primal_n))
        if (near and balanced) or self.rho_updates >= config.max_rho_updates:
            self.rho_frozen = True
            return
        factor = np.ones_like(self.rho)
        factor[primal > config.mu * dual] = config.tau
        factor[dual > config.mu * primal] = 1.0 / config.tau
        # Keep rho within nine orders of magnitude of its public starting scale: beyond that the local steps
        # are numerically meaningless (seen: 6.8e19 after a long fallback from price-space).
        floor, ceiling = self.rho_initial * 1e-9, self.rho_initial * 1e9
        factor = np.clip(self.rho * factor, floor, ceiling) / self.rho
        if np.any(factor != 1.0):
            self.rho_updates += 1
            self.rho = self.rho * factor
            self.u = self.u / factor
