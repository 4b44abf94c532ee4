"""Errors of the privacy client: bad release requests, and refusals to overspend a budget."""

from __future__ import annotations


class PrivacyError(Exception):
    """Base class; messages name the field, what was expected and what arrived."""


class InvalidRelease(PrivacyError, ValueError):
    """A release request or policy is malformed (non-finite value, bad sensitivity, oversize vector...)."""


class BudgetExhausted(PrivacyError):
    """The release would take the window's zCDP spend above its budget; nothing was released or charged."""

    def __init__(
        self,
        *,
        agent_id: str,
        window_start_unix_ms: int,
        window_seconds: int,
        budget_rho: float,
        spent_rho: float,
        requested_rho: float,
        cost_rho: float,
    ) -> None:
        self.agent_id = agent_id
        self.window_start_unix_ms = window_start_unix_ms
        self.window_seconds = window_seconds
        self.budget_rho = budget_rho
        self.spent_rho = spent_rho
        self.requested_rho = requested_rho
        self.cost_rho = cost_rho
        self.remaining_rho = max(0.0, budget_rho - spent_rho)
        super().__init__(
            f"privacy budget of agent {agent_id!r} exhausted for the window starting at "
            f"{window_start_unix_ms} ms ({window_seconds} s): requested zCDP rho={requested_rho!r} "
            f"(OpenDP cost {cost_rho!r}), "
            f"spent rho={spent_rho!r} of budget rho={budget_rho!r} (remaining {self.remaining_rho!r}); "
            "refusing to release"
        )
