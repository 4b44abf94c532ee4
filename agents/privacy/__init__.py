"""The agent's privacy client: OpenDP Gaussian releases under a per-window zCDP budget.

    policy = PrivacyPolicy(zcdp_rho_per_window=0.5, window_seconds=3600)
    accountant = PrivacyAccountant("binance", policy, on_spend=ledger_queue.put)
    noisy = accountant.release(signal, sensitivity=2.0, rho_cost=policy.rho_per_release(50))

Refuses (``BudgetExhausted``) rather than overspends; every spend yields a ``PrivacySpendRecord``.
"""

from agents.privacy.accountant import (
    PrivacyAccountant,
    PrivacyPolicy,
    Release,
    system_clock_ms,
    window_start_for,
)
from agents.privacy.errors import BudgetExhausted, InvalidRelease, PrivacyError
from agents.privacy.ir import accountant_from_budget, budget_model, budget_proto
from agents.privacy.opendp_bridge import calibrate_gaussian, compose_rho, epsilon_for_rho
from agents.privacy.records import AUDIT_KIND, BudgetSnapshot, PrivacySpendRecord

__all__ = [
    "AUDIT_KIND",
    "BudgetExhausted",
    "BudgetSnapshot",
    "InvalidRelease",
    "PrivacyAccountant",
    "PrivacyError",
    "PrivacyPolicy",
    "PrivacySpendRecord",
    "Release",
    "accountant_from_budget",
    "budget_model",
    "budget_proto",
    "calibrate_gaussian",
    "compose_rho",
    "epsilon_for_rho",
    "system_clock_ms",
    "window_start_for",
]
