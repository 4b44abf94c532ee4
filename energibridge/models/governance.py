"""Privacy budgets and audit-log entries: what the ledger records and auditors verify."""

from __future__ import annotations

from typing import ClassVar, Self

from google.protobuf.message import Message
from pydantic import Field, model_validator

from energibridge.base import (
    MAX_PAYLOAD_BYTES,
    Digest,
    Identifier,
    Int64,
    IrModel,
    NonNegativeFloat,
    Uint32,
    Uint64,
)
from energibridge.models.enums import AuditKind, PrivacyMechanism
from energibridge.v1 import ir_pb2
from energibridge.version import IrVersion


class PrivacyBudget(IrModel):
    PROTO: ClassVar[type[Message]] = ir_pb2.PrivacyBudget

    ir_version: IrVersion
    agent_id: Identifier
    window_start_unix_ms: Int64 = Field(ge=0)
    window_seconds: Uint32 = Field(gt=0)
    epsilon: NonNegativeFloat
    delta: float = Field(ge=0, lt=1, allow_inf_nan=False)
    zcdp_rho: NonNegativeFloat
    spent_zcdp_rho: NonNegativeFloat
    mechanism: PrivacyMechanism

    @model_validator(mode="after")
    def _not_overspent(self) -> Self:
        if self.spent_zcdp_rho > self.zcdp_rho:
            raise ValueError(
                f"spent_zcdp_rho {self.spent_zcdp_rho} exceeds the budget zcdp_rho {self.zcdp_rho}"
            )
        return self


class AuditLogEntry(IrModel):
    PROTO: ClassVar[type[Message]] = ir_pb2.AuditLogEntry

    ir_version: IrVersion
    index: Uint64
    kind: AuditKind
    timestamp_unix_ms: Int64 = Field(ge=0)
    actor_did: Identifier
    payload: bytes = Field(max_length=MAX_PAYLOAD_BYTES)
    payload_hash: Digest
    previous_hash: Digest
    signature: Digest
