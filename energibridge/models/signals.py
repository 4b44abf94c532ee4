"""What crosses the wire each round: consensus signals, duals and the round's timing."""

from __future__ import annotations

from typing import ClassVar, Self

from google.protobuf.message import Message
from pydantic import Field, model_validator

from energibridge.base import (
    MAX_ASSETS,
    MAX_PARTICIPANTS,
    FiniteFloat,
    Identifier,
    Int64,
    IrModel,
    NonNegativeFloat,
    PositiveFloat,
    Uint32,
    Uint64,
)
from energibridge.models.enums import RoundStatus
from energibridge.v1 import ir_pb2
from energibridge.version import IrVersion


def _unique_assets(assets: tuple[str, ...]) -> None:
    if len(set(assets)) != len(assets):
        raise ValueError(f"assets must be unique, got {list(assets)}")


def _aligned(assets: tuple[str, ...], **vectors: tuple[float, ...]) -> None:
    for name, vector in vectors.items():
        if len(vector) != len(assets):
            raise ValueError(f"{name} has {len(vector)} entries but assets has {len(assets)}")


class SharedSignals(IrModel):
    """Coordinator broadcast: consensus prices and aggregates only, never an individual venue's values."""

    PROTO: ClassVar[type[Message]] = ir_pb2.SharedSignals

    ir_version: IrVersion
    session_id: Identifier
    round_id: Uint64
    assets: tuple[Identifier, ...] = Field(max_length=MAX_ASSETS)
    consensus_prices: tuple[FiniteFloat, ...] = Field(max_length=MAX_ASSETS)
    imbalance: tuple[FiniteFloat, ...] = Field(max_length=MAX_ASSETS)
    primal_residual: NonNegativeFloat
    dual_residual: NonNegativeFloat
    aggregated_liquidity_quote: NonNegativeFloat = 0.0
    aggregated_latency_ms: NonNegativeFloat = 0.0
    participants: Uint32 = Field(le=MAX_PARTICIPANTS)

    @model_validator(mode="after")
    def _vectors_aligned(self) -> Self:
        _unique_assets(self.assets)
        _aligned(self.assets, consensus_prices=self.consensus_prices, imbalance=self.imbalance)
        return self


class DualVariables(IrModel):
    """Scaled duals ``u`` of the exchange ADMM; the price vector is ``-rho * u``."""

    PROTO: ClassVar[type[Message]] = ir_pb2.DualVariables

    ir_version: IrVersion
    session_id: Identifier
    round_id: Uint64
    assets: tuple[Identifier, ...] = Field(max_length=MAX_ASSETS)
    scaled_duals: tuple[FiniteFloat, ...] = Field(max_length=MAX_ASSETS)
    rho: PositiveFloat
    rho_per_asset: tuple[PositiveFloat, ...] = Field(default=(), max_length=MAX_ASSETS)
    """Per-asset penalties (IR 1.1); empty means ``rho`` for every asset."""

    @model_validator(mode="after")
    def _vectors_aligned(self) -> Self:
        _unique_assets(self.assets)
        _aligned(self.assets, scaled_duals=self.scaled_duals)
        if self.rho_per_asset:
            _aligned(self.assets, rho_per_asset=self.rho_per_asset)
        return self

    def penalties(self) -> tuple[float, ...]:
        return self.rho_per_asset or (self.rho,) * len(self.assets)

    def prices(self) -> tuple[float, ...]:
        return tuple(-rho * u for rho, u in zip(self.penalties(), self.scaled_duals, strict=True))


class TimeRounds(IrModel):
    PROTO: ClassVar[type[Message]] = ir_pb2.TimeRounds

    ir_version: IrVersion
    session_id: Identifier
    round_id: Uint64
    opened_unix_ms: Int64 = Field(ge=0)
    deadline_unix_ms: Int64 = Field(ge=0)
    participants: tuple[Identifier, ...] = Field(max_length=MAX_PARTICIPANTS)
    status: RoundStatus

    @model_validator(mode="after")
    def _deadline_after_open(self) -> Self:
        if self.deadline_unix_ms < self.opened_unix_ms:
            raise ValueError(
                f"deadline_unix_ms {self.deadline_unix_ms} is before opened_unix_ms {self.opened_unix_ms}"
            )
        if len(set(self.participants)) != len(self.participants):
            raise ValueError("participants must be unique")
        return self
