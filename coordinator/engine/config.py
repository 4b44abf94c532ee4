"""Tunables of the exchange ADMM (Boyd et al. 2011, section 7.3.2) and its stopping rule."""

from __future__ import annotations

import math
from dataclasses import dataclass

STRATEGY_NAMES = ("admm", "price")
"""Names of the session strategies (``coordinator.session.STRATEGIES`` maps them to their classes); here,
import-light, for the command line's help."""


@dataclass(frozen=True)
class AdmmConfig:
    """Defaults follow DESIGN.md section 1: residual balancing mu=10, tau=2, freeze within 10x.

    The stopping rule is absolute: the summed imbalance of every asset within ``imbalance_tol_lots`` lots,
    and the certified duality gap within ``gap_tol_abs + gap_tol_rel * |profit|`` (quote units). Boyd's
    relative rule stops far too early because profit is a tiny fraction of notional.
    """

    rho_scale: float = 1e-2
    """Initial rho per asset is ``rho_scale * ref_price / size_scale`` (both public; ``size_scale`` is a
    thousand of the coarsest lot). Residual balancing moves it from there."""
    mu: float = 10.0
    tau: float = 2.0
    freeze_factor: float = 10.0
    max_rho_updates: int = 50
    over_relaxation: float = 1.6
    imbalance_tol_lots: float = 1.0
    gap_tol_abs: float = 1e-5
    gap_tol_rel: float = 2e-4
    max_rounds: int = 2000
    max_missed_rounds: int = 3
    """A straggler's last contribution is reused while it misses at most this many consecutive rounds;
    one more miss drops it from the session (the plan is then balanced without it)."""
    best_response_eps: float = 1e-7
    """Proximal weight (relative to rho) of the agents' best response used for the gap certificate."""

    def __post_init__(self) -> None:
        checks = {
            "rho_scale": self.rho_scale > 0,
            "mu": self.mu > 1,
            "tau": self.tau > 1,
            "freeze_factor": self.freeze_factor >= 1,
            "over_relaxation": 0 < self.over_relaxation < 2,
            "imbalance_tol_lots": self.imbalance_tol_lots > 0,
            "gap_tol_abs": self.gap_tol_abs >= 0,
            "gap_tol_rel": self.gap_tol_rel >= 0,
            "max_rounds": self.max_rounds > 0,
            "max_missed_rounds": self.max_missed_rounds >= 0,
            "best_response_eps": 0 < self.best_response_eps < 1,
        }
        for name, ok in checks.items():
            value = getattr(self, name)
            if not ok or (isinstance(value, float) and not math.isfinite(value)):
                raise ValueError(f"AdmmConfig.{name}: invalid value {value!r}")
