from __future__ import annotations

from decimal import Decimal

import pytest

from agents.execution.plan import plan_from_proto
from agents.keys import derive_key
from energibridge.v1 import ir_pb2
from sdk.adapters.execution import (
    AdapterError,
    ExecutionInputError,
    FillEvent,
    InvalidOrder,
    Liquidity,
    OrderStatus,
    Side,
    decimal_book,
    parse_decimal,
)
from tests.execution.exec_helpers import order


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        ("nan", "finite"),
        ("Infinity", "finite"),
        ("-1", "> 0"),
        ("0", "> 0"),
        ("abc", "decimal string"),
        ("", "empty"),
        (1.5, "floats"),
        ("1" * 60, "digits"),
    ],
)
def test_parse_decimal_rejects(raw: object, needle: str) -> None:
    with pytest.raises(ExecutionInputError, match=needle) as info:
        parse_decimal("legs[0].size", raw, positive=True)
    assert "legs[0].size" in str(info.value)


def test_book_validation() -> None:
    with pytest.raises(ExecutionInputError, match="crossed"):
        decimal_book([("101", "1")], [("100", "1")], 0)
    with pytest.raises(ExecutionInputError, match="ascending"):
        decimal_book([], [("100", "1"), ("99", "1")], 0)
    with pytest.raises(ExecutionInputError, match=r"bids\[0\].size"):
        decimal_book([("100", "0")], [], 0)


def _delta() -> ir_pb2.PlanDelta:
    delta = ir_pb2.PlanDelta(session_id="sess", venue_id="binance", sequence=7, expected_profit_quote="1.25")
    delta.ir_version.major = 1
    delta.legs.add(
        instrument="SOL-USD",
        asset="SOL",
        side=ir_pb2.SIDE_BUY,
        size="1.5",
        limit_price="100.1",
        deadline_unix_ms=5_000,
        idempotency_key="k0",
    )
    return delta


def test_plan_from_proto() -> None:
    plan = plan_from_proto(_delta())
    assert plan.plan_id == "sess/7"
    assert plan.expected_profit == Decimal("1.25")
    (leg,) = plan.legs
    assert (leg.side, leg.size, leg.limit_price, leg.deadline_ms) == (
        Side.BUY,
        Decimal("1.5"),
        Decimal("100.1"),
        5_000,
    )


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (lambda d: setattr(d.legs[0], "size", "-2"), r"legs\[0\].size"),
        (lambda d: setattr(d.legs[0], "limit_price", "nan"), r"legs\[0\].limit_price"),
        (lambda d: setattr(d.legs[0], "side", ir_pb2.SIDE_UNSPECIFIED), r"legs\[0\].side"),
        (lambda d: setattr(d.legs[0], "idempotency_key", ""), r"legs\[0\].idempotency_key"),
        (lambda d: setattr(d.legs[0], "deadline_unix_ms", -1), r"legs\[0\].deadline_unix_ms"),
        (lambda d: setattr(d.ir_version, "major", 2), "ir_version.major"),
        (lambda d: d.legs.append(d.legs[0]), "unique"),
    ],
)
def test_plan_from_proto_rejects(mutate: object, needle: str) -> None:
    delta = _delta()
    assert callable(mutate)
    mutate(delta)
    with pytest.raises(ExecutionInputError, match=needle):
        plan_from_proto(delta)


def test_derive_key_is_deterministic_and_unambiguous() -> None:
    assert derive_key("a", 1) == derive_key("a", 1)
    assert derive_key("a/b", "c") != derive_key("a", "b/c")


def test_one_order_model_rejects_with_the_field_named() -> None:
    """The one OrderRequest keeps the checks of both former models: an invalid field is an ``InvalidOrder``
    (for adapters) that is also an ``ExecutionInputError`` (for the executor), naming the field."""
    good = order("c1", Side.BUY, "1", "100")
    assert good.notional == Decimal(100)
    cases = {
        "size": {"size": "1"},  # a string where a Decimal is due
        "limit_price": {"limit_price": Decimal("NaN")},
        "client_order_id": {"client_order_id": "leg:1/a"},  # outside the venue-safe alphabet
        "deadline_ms": {"deadline_ms": -1},
        "plan_id": {"plan_id": ""},
    }
    for field, change in cases.items():
        with pytest.raises(InvalidOrder, match=field) as caught:
            type(good)(**{**_fields(good), **change})
        assert isinstance(caught.value, ExecutionInputError) and isinstance(caught.value, AdapterError)


def test_fill_and_status_vocabulary() -> None:
    fill = FillEvent.of_order(
        order("c1", Side.SELL, "2", "100"),
        fill_id="f1",
        price=Decimal(101),
        size=Decimal(2),
        fee=Decimal("0.1"),
        liquidity=Liquidity.TAKER,
        ts_ms=1,
    )
    assert fill.cash_flow == Decimal("201.9") and fill.signed_size == Decimal(-2)
    with pytest.raises(ExecutionInputError, match="price must be a Decimal"):
        FillEvent(**{**_fields(fill), "price": 101})
    with pytest.raises(ExecutionInputError, match="liquidity"):
        FillEvent(**{**_fields(fill), "liquidity": "taker-ish"})
    assert not OrderStatus.PENDING.terminal and not OrderStatus.ACCEPTED.terminal
    assert {s for s in OrderStatus if s.terminal} == {
        OrderStatus.FILLED,
        OrderStatus.CANCELLED,
        OrderStatus.EXPIRED,
        OrderStatus.REJECTED,
    }


def _fields(value: object) -> dict[str, object]:
    return {name: getattr(value, name) for name in type(value).__dataclass_fields__}
