"""Conversion between an accountant's state and the IR ``PrivacyBudget`` (pydantic model and protobuf).

The IR carries the budget (``zcdp_rho``), the spend so far (``spent_zcdp_rho``), the window and
``(epsilon, delta)``: ``epsilon`` is OpenDP's conversion of the budget rho at ``delta`` (what the agent
may reveal per window, in the units auditors usually read). Restoring checks that it still is.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from agents.privacy.accountant import (
    DEFAULT_MAX_DIMENSION,
    Clock,
    PrivacyAccountant,
    PrivacyPolicy,
    system_clock_ms,
)
from agents.privacy.errors import InvalidRelease
from agents.privacy.opendp_bridge import epsilon_for_rho
from agents.privacy.records import PrivacySpendRecord
from energibridge import CURRENT, IrVersion, from_proto, to_proto
from energibridge.models import PrivacyBudget, PrivacyMechanism
from energibridge.v1 import ir_pb2

EPSILON_REL_TOLERANCE = 1e-9


def budget_model(accountant: PrivacyAccountant, *, ir_version: IrVersion = CURRENT) -> PrivacyBudget:
    """The accountant's current window as the IR pydantic model."""
    snap = accountant.snapshot()
    return PrivacyBudget(
        ir_version=ir_version,
        agent_id=snap.agent_id,
        window_start_unix_ms=snap.window_start_unix_ms,
        window_seconds=snap.window_seconds,
        epsilon=snap.epsilon_budget,
        delta=snap.delta,
        zcdp_rho=snap.budget_zcdp_rho,
        spent_zcdp_rho=snap.spent_zcdp_rho,
        mechanism=PrivacyMechanism.GAUSSIAN,
    )


def budget_proto(accountant: PrivacyAccountant, *, ir_version: IrVersion = CURRENT) -> ir_pb2.PrivacyBudget:
    """The accountant's current window as ``arbsphere.energibridge.v1.PrivacyBudget``."""
    message = to_proto(budget_model(accountant, ir_version=ir_version))
    assert isinstance(message, ir_pb2.PrivacyBudget)
    return message


def accountant_from_budget(
    budget: PrivacyBudget | ir_pb2.PrivacyBudget,
    *,
    clock: Clock = system_clock_ms,
    on_spend: Callable[[PrivacySpendRecord], None] | None = None,
    max_dimension: int = DEFAULT_MAX_DIMENSION,
) -> PrivacyAccountant:
    """Rebuild an accountant (e.g. after a restart) from the last budget state it published.

    The restored spend is the folded total, and folding continues from it exactly as OpenDP's odometer
    would. If the clock has moved into a later window, the spend starts again from zero.
    """
    model = from_proto(PrivacyBudget, budget) if isinstance(budget, ir_pb2.PrivacyBudget) else budget
    if not isinstance(model, PrivacyBudget):
        raise InvalidRelease(f"budget: expected a PrivacyBudget, got {type(budget).__name__}")
    if model.mechanism != PrivacyMechanism.GAUSSIAN:
        raise InvalidRelease(f"mechanism: expected GAUSSIAN, got {model.mechanism!r}")
    policy = PrivacyPolicy(
        zcdp_rho_per_window=model.zcdp_rho,
        window_seconds=model.window_seconds,
        delta=model.delta,
        max_dimension=max_dimension,
    )
    expected = epsilon_for_rho(policy.zcdp_rho_per_window, policy.delta)
    if not math.isclose(model.epsilon, expected, rel_tol=EPSILON_REL_TOLERANCE):
        raise InvalidRelease(
            f"epsilon: expected {expected!r} (OpenDP's conversion of zcdp_rho={model.zcdp_rho!r} at "
            f"delta={model.delta!r}), got {model.epsilon!r}"
        )
    return PrivacyAccountant(
        model.agent_id,
        policy,
        clock=clock,
        on_spend=on_spend,
        window_start_unix_ms=model.window_start_unix_ms,
        spent_zcdp_rho=model.spent_zcdp_rho,
    )
