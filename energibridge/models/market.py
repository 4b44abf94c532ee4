"""The private side of the IR: instruments, cost-model state and the LocalArbProblem.

A LocalArbProblem never leaves its agent; it is still part of the IR so that adapters, tests and the
agent's own persistence speak one validated format.
"""

from __future__ import annotations

from typing import ClassVar, Self

from google.protobuf.message import Message
from pydantic import Field, model_validator

from energibridge.base import (
    MAX_INSTRUMENTS,
    MAX_LEVELS,
    MAX_OUTCOMES,
    MAX_TICKS,
    FiniteFloat,
    Identifier,
    Int32,
    IrModel,
    NonNegativeDecimal,
    NonNegativeFloat,
    PositiveDecimal,
    PositiveFloat,
    Probability,
    SignedInt256,
    Uint32,
    UInt256,
)
from energibridge.models.enums import VenueKind
from energibridge.v1 import ir_pb2
from energibridge.version import IrVersion


class Instrument(IrModel):
    PROTO: ClassVar[type[Message]] = ir_pb2.Instrument

    symbol: Identifier
    asset: Identifier
    quote: Identifier
    lot_size: PositiveDecimal
    min_notional: NonNegativeDecimal
    tick_size: PositiveDecimal


class BookLevel(IrModel):
    PROTO: ClassVar[type[Message]] = ir_pb2.BookLevel

    price: PositiveFloat
    size: NonNegativeFloat


class OrderBookState(IrModel):
    """Displayed depth, best level first on each side."""

    PROTO: ClassVar[type[Message]] = ir_pb2.OrderBookState

    bids: tuple[BookLevel, ...] = Field(default=(), max_length=MAX_LEVELS)
    asks: tuple[BookLevel, ...] = Field(default=(), max_length=MAX_LEVELS)
    taker_fee_bps: NonNegativeFloat = 0.0
    book_usage_cap: float = Field(default=0.3, gt=0, le=1, allow_inf_nan=False)

    @model_validator(mode="after")
    def _sorted_and_uncrossed(self) -> Self:
        for name, levels, descending in (("bids", self.bids, True), ("asks", self.asks, False)):
            for i in range(1, len(levels)):
                prev, cur = levels[i - 1].price, levels[i].price
                if (cur >= prev) if descending else (cur <= prev):
                    order = "strictly descending" if descending else "strictly ascending"
                    raise ValueError(f"{name}[{i}].price {cur} breaks {order} order after {prev}")
        if self.bids and self.asks and self.bids[0].price >= self.asks[0].price:
            raise ValueError(f"crossed book: best bid {self.bids[0].price} >= best ask {self.asks[0].price}")
        return self


class CpmmState(IrModel):
    PROTO: ClassVar[type[Message]] = ir_pb2.CpmmState

    reserve_base: UInt256 = Field(gt=0)
    reserve_quote: UInt256 = Field(gt=0)
    fee_pips: Uint32 = Field(default=3000, lt=1_000_000)
    base_decimals: Int32 = Field(default=18, ge=0, le=36)
    quote_decimals: Int32 = Field(default=18, ge=0, le=36)


class TickLiquidity(IrModel):
    PROTO: ClassVar[type[Message]] = ir_pb2.TickLiquidity

    tick: Int32 = Field(ge=-887272, le=887272)
    liquidity_net: SignedInt256


class ClmmState(IrModel):
    PROTO: ClassVar[type[Message]] = ir_pb2.ClmmState

    sqrt_price_x96: UInt256 = Field(gt=0)
    tick: Int32 = Field(ge=-887272, le=887272)
    liquidity: UInt256
    fee_pips: Uint32 = Field(lt=1_000_000)
    tick_spacing: Int32 = Field(gt=0, le=16384)
    ticks: tuple[TickLiquidity, ...] = Field(default=(), max_length=MAX_TICKS)
    base_decimals: Int32 = Field(default=18, ge=0, le=36)
    quote_decimals: Int32 = Field(default=18, ge=0, le=36)

    @model_validator(mode="after")
    def _ticks_sorted(self) -> Self:
        for i in range(1, len(self.ticks)):
            if self.ticks[i].tick <= self.ticks[i - 1].tick:
                raise ValueError(
                    f"ticks[{i}].tick {self.ticks[i].tick} is not above {self.ticks[i - 1].tick}"
                )
        return self


class PerpetualState(IrModel):
    PROTO: ClassVar[type[Message]] = ir_pb2.PerpetualState

    book: OrderBookState
    funding_rate_per_hour: FiniteFloat
    horizon_hours: NonNegativeFloat
    max_leverage: PositiveFloat
    margin_quote: NonNegativeFloat


class OutcomeQuote(IrModel):
    PROTO: ClassVar[type[Message]] = ir_pb2.OutcomeQuote

    outcome: Identifier
    ask: Probability
    ask_size: NonNegativeFloat
    bid: Probability
    bid_size: NonNegativeFloat


class PredictionMarketState(IrModel):
    PROTO: ClassVar[type[Message]] = ir_pb2.PredictionMarketState

    event: Identifier
    outcomes: tuple[OutcomeQuote, ...] = Field(min_length=1, max_length=MAX_OUTCOMES)
    days_to_resolution: NonNegativeFloat
    fee_coefficient: float = Field(default=0.07, ge=0, le=1, allow_inf_nan=False)


class CostModel(IrModel):
    """Private cost-model state of one instrument: exactly one venue kind is set."""

    PROTO: ClassVar[type[Message]] = ir_pb2.CostModel

    instrument: Identifier
    order_book: OrderBookState | None = None
    cpmm: CpmmState | None = None
    clmm: ClmmState | None = None
    perpetual: PerpetualState | None = None
    prediction_market: PredictionMarketState | None = None

    @model_validator(mode="after")
    def _exactly_one_state(self) -> Self:
        set_states = [n for n in _STATE_FIELDS if getattr(self, n) is not None]
        if len(set_states) != 1:
            raise ValueError(
                f"exactly one of {', '.join(_STATE_FIELDS)} must be set, got {set_states or 'none'}"
            )
        return self

    @property
    def kind(self) -> VenueKind:
        return _KIND_OF_STATE[next(n for n in _STATE_FIELDS if getattr(self, n) is not None)]


_STATE_FIELDS = ("order_book", "cpmm", "clmm", "perpetual", "prediction_market")
_KIND_OF_STATE = {
    "order_book": VenueKind.ORDER_BOOK,
    "cpmm": VenueKind.CPMM,
    "clmm": VenueKind.CLMM,
    "perpetual": VenueKind.PERPETUAL,
    "prediction_market": VenueKind.PREDICTION_MARKET,
}


class AssetLimit(IrModel):
    PROTO: ClassVar[type[Message]] = ir_pb2.AssetLimit

    asset: Identifier
    max_buy: NonNegativeFloat
    max_sell: NonNegativeFloat


class LiquidityBudget(IrModel):
    PROTO: ClassVar[type[Message]] = ir_pb2.LiquidityBudget

    max_notional_quote: NonNegativeFloat
    limits: tuple[AssetLimit, ...] = Field(default=(), max_length=MAX_INSTRUMENTS)


class LocalArbProblem(IrModel):
    """Everything a venue knows privately and solves locally; never sent to the coordinator."""

    PROTO: ClassVar[type[Message]] = ir_pb2.LocalArbProblem

    ir_version: IrVersion
    venue_id: Identifier
    venue_kind: VenueKind
    instruments: tuple[Instrument, ...] = Field(min_length=1, max_length=MAX_INSTRUMENTS)
    cost_models: tuple[CostModel, ...] = Field(min_length=1, max_length=MAX_INSTRUMENTS)
    min_edge_bps: NonNegativeFloat
    liquidity_budget: LiquidityBudget
    latency_budget_ms: Uint32 = Field(gt=0)

    @model_validator(mode="after")
    def _models_cover_instruments(self) -> Self:
        symbols = [i.symbol for i in self.instruments]
        if len(set(symbols)) != len(symbols):
            raise ValueError(f"instruments: duplicate symbols in {symbols}")
        for n, model in enumerate(self.cost_models):
            if model.instrument not in symbols:
                raise ValueError(f"cost_models[{n}].instrument {model.instrument!r} is not one of {symbols}")
        return self
