from __future__ import annotations

from decimal import Decimal

import pytest

from agents.execution.book import BookSnapshot
from agents.execution.model import ExecutionInputError, Side, parse_decimal
from agents.execution.plan import plan_from_proto
from agents.keys import derive_key
from energibridge.v1 import ir_pb2


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
        BookSnapshot.of([("101", "1")], [("100", "1")], 0)
    with pytest.raises(ExecutionInputError, match="ascending"):
        BookSnapshot.of([], [("100", "1"), ("99", "1")], 0)
    with pytest.raises(ExecutionInputError, match=r"bids\[0\].size"):
        BookSnapshot.of([("100", "0")], [], 0)


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
