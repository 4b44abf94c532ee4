"""Turn a committed PlanDelta (EnergiBridge IR) into validated execution legs.

The IR carries exact quantities as decimal strings; they are parsed here, once, into Decimals. A plan group
(``plan_id``) is ``"<session_id>/<sequence>"``: the per-venue deltas of one committed plan share it, which is
what lets leg-out handling net the legs of several venues.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from energibridge.convert import to_proto
from energibridge.models.plan import PlanDelta as PlanDeltaModel
from energibridge.v1 import ir_pb2
from sdk.adapters.execution import (
    ExecutionInputError,
    Side,
    parse_decimal,
    require_id,
    require_time_ms,
)

SUPPORTED_IR_MAJOR = 1


@dataclass(frozen=True, slots=True)
class ExecLeg:
    """One leg to execute: a capped limit order on one venue, due by ``deadline_ms``."""

    plan_id: str
    venue: str
    index: int
    instrument: str
    asset: str
    side: Side
    size: Decimal
    limit_price: Decimal
    deadline_ms: int
    idempotency_key: str

    @property
    def signed_size(self) -> Decimal:
        return self.side.sign * self.size

    @property
    def notional(self) -> Decimal:
        return self.size * self.limit_price


@dataclass(frozen=True, slots=True)
class ExecPlan:
    """The legs one venue executes for one committed plan, plus the profit the plan predicted."""

    plan_id: str
    session_id: str
    venue: str
    sequence: int
    legs: tuple[ExecLeg, ...]
    expected_profit: Decimal


def plan_id_of(session_id: str, sequence: int) -> str:
    return f"{session_id}/{sequence}"


_SIDES = {ir_pb2.SIDE_BUY: Side.BUY, ir_pb2.SIDE_SELL: Side.SELL}


def plan_from_proto(delta: ir_pb2.PlanDelta) -> ExecPlan:
    """Validate a ``PlanDelta`` and convert it; errors name the leg and field."""
    if not isinstance(delta, ir_pb2.PlanDelta):
        raise ExecutionInputError(f"plan must be an ir_pb2.PlanDelta, got {type(delta).__name__}")
    if delta.HasField("ir_version") and delta.ir_version.major != SUPPORTED_IR_MAJOR:
        raise ExecutionInputError(
            f"ir_version.major must be {SUPPORTED_IR_MAJOR}, got {delta.ir_version.major}"
        )
    session_id = require_id("session_id", delta.session_id)
    venue = require_id("venue_id", delta.venue_id)
    plan_id = plan_id_of(session_id, delta.sequence)
    profit_text = delta.expected_profit_quote or "0"
    expected_profit = parse_decimal("expected_profit_quote", profit_text)
    legs = tuple(_leg_from_proto(plan_id, venue, i, leg) for i, leg in enumerate(delta.legs))
    _require_unique_keys(legs)
    return ExecPlan(plan_id, session_id, venue, delta.sequence, legs, expected_profit)


def plan_from_model(delta: PlanDeltaModel) -> ExecPlan:
    """The same for the pydantic mirror (``energibridge.models.plan.PlanDelta``), through its proto form."""
    message = to_proto(delta)
    assert isinstance(message, ir_pb2.PlanDelta)
    return plan_from_proto(message)


def _leg_from_proto(plan_id: str, venue: str, index: int, leg: ir_pb2.PlanLeg) -> ExecLeg:
    where = f"legs[{index}]"
    side = _SIDES.get(leg.side)
    if side is None:
        raise ExecutionInputError(f"{where}.side must be SIDE_BUY or SIDE_SELL, got {leg.side}")
    try:
        return ExecLeg(
            plan_id=plan_id,
            venue=venue,
            index=index,
            instrument=require_id(f"{where}.instrument", leg.instrument),
            asset=require_id(f"{where}.asset", leg.asset),
            side=side,
            size=parse_decimal(f"{where}.size", leg.size, positive=True),
            limit_price=parse_decimal(f"{where}.limit_price", leg.limit_price, positive=True),
            deadline_ms=require_time_ms(f"{where}.deadline_unix_ms", leg.deadline_unix_ms),
            idempotency_key=require_id(f"{where}.idempotency_key", leg.idempotency_key),
        )
    except ExecutionInputError:
        raise
    except ValueError as exc:  # pragma: no cover - defensive: any other parse failure names the leg
        raise ExecutionInputError(f"{where}: {exc}") from exc


def _require_unique_keys(legs: Sequence[ExecLeg]) -> None:
    seen: set[str] = set()
    for leg in legs:
        if leg.idempotency_key in seen:
            raise ExecutionInputError(
                f"legs[{leg.index}].idempotency_key must be unique in the plan, got a repeat "
                f"{leg.idempotency_key!r}"
            )
        seen.add(leg.idempotency_key)


def merge_plans(plans: Iterable[ExecPlan]) -> tuple[ExecLeg, ...]:
    """All legs of several venues' deltas of the same plan group (checks they agree on the group)."""
    legs: list[ExecLeg] = []
    group: str | None = None
    for plan in plans:
        if group is not None and plan.plan_id != group:
            raise ExecutionInputError(
                f"plan_id must be the same across merged deltas: {group} vs {plan.plan_id}"
            )
        group = plan.plan_id
        legs.extend(plan.legs)
    _require_unique_keys(legs)
    return tuple(legs)
