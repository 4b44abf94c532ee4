"""The ledger record of one privacy spend (AuditKind PRIVACY_SPEND) and budget snapshots for reports."""

from __future__ import annotations

import json
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field

AUDIT_KIND: Final = "PRIVACY_SPEND"


class PrivacySpendRecord(BaseModel):
    """One release charged against an agent's window budget: what the ledger stores and auditors check.

    Holds no released values and no inputs: only the mechanism's public parameters and the accounting.
    ``spent_zcdp_rho`` is the window total after this release, folded exactly as OpenDP composes.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    kind: Literal["PRIVACY_SPEND"] = AUDIT_KIND
    agent_id: str = Field(min_length=1, max_length=256)
    window_start_unix_ms: int = Field(ge=0)
    window_seconds: int = Field(gt=0, le=2**32 - 1)
    sequence: int = Field(ge=1, description="1-based index of this release within the window")
    at_unix_ms: int = Field(ge=0)
    mechanism: Literal["gaussian"] = "gaussian"
    dimension: int = Field(ge=1)
    l2_sensitivity: float = Field(gt=0, allow_inf_nan=False)
    noise_scale: float = Field(gt=0, allow_inf_nan=False)
    rho_requested: float = Field(gt=0, allow_inf_nan=False)
    rho_charged: float = Field(gt=0, allow_inf_nan=False)
    spent_zcdp_rho: float = Field(ge=0, allow_inf_nan=False)
    budget_zcdp_rho: float = Field(gt=0, allow_inf_nan=False)
    delta: float = Field(gt=0, lt=1, allow_inf_nan=False)
    opendp_version: str

    def canonical_json(self) -> bytes:
        """Sorted keys, no whitespace: the bytes to hash and sign as the ledger entry payload."""
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":")).encode()


class BudgetSnapshot(BaseModel):
    """An agent's window at a point in time, with OpenDP's (epsilon, delta) for the spend and the budget."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    agent_id: str
    window_start_unix_ms: int
    window_seconds: int
    budget_zcdp_rho: float
    spent_zcdp_rho: float
    remaining_zcdp_rho: float
    releases: int
    delta: float
    epsilon_spent: float
    epsilon_budget: float
