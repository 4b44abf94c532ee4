"""Committed plans: the legs each venue executes, as deltas with deterministic identities."""

from __future__ import annotations

from typing import ClassVar, Self

from google.protobuf.message import Message
from pydantic import Field, model_validator

from energibridge.base import (
    MAX_LEGS,
    Digest,
    Identifier,
    Int64,
    IrModel,
    PositiveDecimal,
    SignedDecimal,
    Uint64,
)
from energibridge.models.enums import Side
from energibridge.v1 import ir_pb2
from energibridge.version import IrVersion


class PlanLeg(IrModel):
    PROTO: ClassVar[type[Message]] = ir_pb2.PlanLeg

    instrument: Identifier
    side: Side
    size: PositiveDecimal
    limit_price: PositiveDecimal
    deadline_unix_ms: Int64 = Field(gt=0)
    idempotency_key: Identifier
    asset: Identifier

    @property
    def signed_size(self) -> PositiveDecimal:
        """Size with the sign of the trade: positive buys, negative sells."""
        return self.size if self.side is Side.BUY else -self.size


class PlanDelta(IrModel):
    """One venue's legs for plan ``sequence``; applying deltas in order reproduces the venue's state."""

    PROTO: ClassVar[type[Message]] = ir_pb2.PlanDelta

    ir_version: IrVersion
    session_id: Identifier
    venue_id: Identifier
    sequence: Uint64 = Field(gt=0)
    previous_sequence: Uint64
    previous_state_hash: Digest = b""
    legs: tuple[PlanLeg, ...] = Field(min_length=1, max_length=MAX_LEGS)
    state_hash: Digest = b""
    expected_profit_quote: SignedDecimal

    @model_validator(mode="after")
    def _sequence_and_keys(self) -> Self:
        if self.previous_sequence >= self.sequence:
            raise ValueError(
                f"previous_sequence {self.previous_sequence} must be below sequence {self.sequence}"
            )
        keys = [leg.idempotency_key for leg in self.legs]
        if len(set(keys)) != len(keys):
            raise ValueError("legs: idempotency keys must be unique within a plan")
        return self
