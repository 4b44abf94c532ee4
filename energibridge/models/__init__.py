"""Pydantic mirrors of every EnergiBridge IR v1 message."""

from energibridge.base import IrModel
from energibridge.models.enums import AuditKind, PrivacyMechanism, RoundStatus, Side, VenueKind
from energibridge.models.governance import AuditLogEntry, PrivacyBudget
from energibridge.models.market import (
    AssetLimit,
    BookLevel,
    ClmmState,
    CostModel,
    CpmmState,
    Instrument,
    LiquidityBudget,
    LocalArbProblem,
    OrderBookState,
    OutcomeQuote,
    PerpetualState,
    PredictionMarketState,
    TickLiquidity,
)
from energibridge.models.plan import PlanDelta, PlanLeg
from energibridge.models.signals import DualVariables, SharedSignals, TimeRounds
from energibridge.version import IrVersion

__all__ = [
    "AssetLimit",
    "AuditKind",
    "AuditLogEntry",
    "BookLevel",
    "ClmmState",
    "CostModel",
    "CpmmState",
    "DualVariables",
    "Instrument",
    "IrModel",
    "IrVersion",
    "LiquidityBudget",
    "LocalArbProblem",
    "OrderBookState",
    "OutcomeQuote",
    "PerpetualState",
    "PlanDelta",
    "PlanLeg",
    "PredictionMarketState",
    "PrivacyBudget",
    "PrivacyMechanism",
    "RoundStatus",
    "SharedSignals",
    "Side",
    "TickLiquidity",
    "TimeRounds",
    "VenueKind",
]
