"""The IR models: lossless protobuf round-trips, canonical bytes, and refusal of every invalid input class."""

from __future__ import annotations

import hashlib
import math
import random
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from eb_strategies import any_model, plan_deltas, shared_signals
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from energibridge import (
    CURRENT,
    IncompatibleVersion,
    IrValidationError,
    MessageTooLarge,
    canonical_bytes,
    decode,
    digest,
    encode,
    from_proto,
    to_proto,
)
from energibridge.base import MAX_LEGS, IrModel
from energibridge.models import (
    BookLevel,
    OrderBookState,
    PlanDelta,
    PlanLeg,
    SharedSignals,
    Side,
)
from energibridge.models.enums import PROTO_ENUM_PREFIX
from energibridge.v1 import ir_pb2


def _leg(**overrides: Any) -> dict[str, Any]:
    leg: dict[str, Any] = {
        "instrument": "SOL-USD",
        "side": Side.BUY,
        "size": "1.5",
        "limit_price": "101.25",
        "deadline_unix_ms": 1_700_000_000_000,
        "idempotency_key": "s1/1/coinbase/0",
        "asset": "SOL",
    }
    leg.update(overrides)
    return leg


def _plan(**overrides: Any) -> dict[str, Any]:
    plan: dict[str, Any] = {
        "ir_version": CURRENT,
        "session_id": "s1",
        "venue_id": "coinbase",
        "sequence": 1,
        "previous_sequence": 0,
        "legs": (_leg(),),
        "expected_profit_quote": "0.42",
    }
    plan.update(overrides)
    return plan


SAMPLE_PLAN = PlanDelta(**_plan())


@settings(max_examples=300)
@given(any_model)
def test_model_to_proto_to_model_is_identity(model: IrModel) -> None:
    assert from_proto(type(model), to_proto(model)) == model
    assert decode(type(model), encode(model)) == model


@settings(max_examples=200)
@given(any_model)
def test_canonical_bytes_stable_under_reencoding(model: IrModel) -> None:
    again = decode(type(model), encode(model))
    assert canonical_bytes(again) == canonical_bytes(model)
    assert digest(again) == digest(model)


@settings(max_examples=200)
@given(any_model, st.randoms(use_true_random=False))
def test_canonical_bytes_stable_under_field_order(model: IrModel, rnd: random.Random) -> None:
    fields = {name: getattr(model, name) for name in type(model).model_fields}
    names = list(fields)
    rnd.shuffle(names)
    rebuilt = type(model)(**{name: fields[name] for name in names})
    assert canonical_bytes(rebuilt) == canonical_bytes(model)


@settings(max_examples=100)
@given(plan_deltas(), plan_deltas())
def test_different_plans_have_different_digests(a: PlanDelta, b: PlanDelta) -> None:
    assert (a == b) == (digest(a) == digest(b))


def test_equal_decimals_have_one_canonical_form() -> None:
    a = PlanDelta(**_plan(legs=(PlanLeg(**_leg(size="1.50")),)))
    b = PlanDelta(**_plan(legs=(PlanLeg(**_leg(size=Decimal("1.5000"))),)))
    assert a == b and canonical_bytes(a) == canonical_bytes(b)


def test_canonical_bytes_identical_across_processes() -> None:
    code = (
        "import sys; from energibridge import digest; from energibridge.models import PlanDelta;"
        "print(digest(PlanDelta.model_validate_json(sys.argv[1])).hex())"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code, SAMPLE_PLAN.model_dump_json()],
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONHASHSEED": str(seed), "PATH": ""},
            cwd=str(_repo_root()),
        ).stdout.strip()
        for seed in (0, 1, 12345)
    }
    assert outputs == {digest(SAMPLE_PLAN).hex()}


def test_canonical_bytes_golden() -> None:
    """Pins the canonical format: changing it breaks every stored signature, so it must be deliberate."""
    expected = (
        b'{"@type":"arbsphere.energibridge.v1.PlanDelta","expected_profit_quote":"0.42",'
        b'"ir_version":{"@type":"arbsphere.energibridge.v1.IrVersion","major":1,"minor":3,"patch":0},'
        b'"legs":[{"@type":"arbsphere.energibridge.v1.PlanLeg","asset":"SOL","deadline_unix_ms":1700000000000,'
        b'"idempotency_key":"s1/1/coinbase/0","instrument":"SOL-USD","limit_price":"101.25","side":"BUY",'
        b'"size":"1.5"}],"previous_sequence":0,"previous_state_hash":"","sequence":1,"session_id":"s1",'
        b'"state_hash":"","venue_id":"coinbase"}'
    )
    assert canonical_bytes(SAMPLE_PLAN) == expected
    assert digest(SAMPLE_PLAN) == hashlib.sha256(expected).digest()


def _repo_root() -> Path:
    return Path(__file__).resolve().parents[2]


# ---- every protobuf field and enum value is mirrored ------------------------------------------------


@pytest.mark.parametrize("full_name", sorted(ir_pb2.DESCRIPTOR.message_types_by_name))
def test_every_ir_message_is_mirrored_field_for_field(full_name: str) -> None:
    descriptor = ir_pb2.DESCRIPTOR.message_types_by_name[full_name]
    model = IrModel.for_proto_name(descriptor.full_name)
    assert set(model.model_fields) == {f.name for f in descriptor.fields}


@pytest.mark.parametrize("enum_cls", list(PROTO_ENUM_PREFIX))
def test_enum_values_match_protobuf(enum_cls: Any) -> None:
    prefix = PROTO_ENUM_PREFIX[enum_cls]
    proto_enum = next(
        e for e in ir_pb2.DESCRIPTOR.enum_types_by_name.values() if e.values[1].name.startswith(prefix)
    )
    proto_values = {v.name.removeprefix(prefix): v.number for v in proto_enum.values if v.number != 0}
    assert proto_values == {m.name: m.value for m in enum_cls}


# ---- invalid input classes, each refused with the field named ---------------------------------------


def _proto_plan() -> Any:
    return to_proto(SAMPLE_PLAN)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_floats_refused(bad: float) -> None:
    message = ir_pb2.SharedSignals()
    message.CopyFrom(to_proto(_signals()))
    message.consensus_prices[0] = bad
    with pytest.raises(IrValidationError, match=r"SharedSignals\.consensus_prices\.0"):
        from_proto(SharedSignals, message)
    message.consensus_prices[0] = 1.0
    message.primal_residual = bad
    with pytest.raises(IrValidationError, match=r"primal_residual"):
        from_proto(SharedSignals, message)


def _signals() -> SharedSignals:
    return SharedSignals(
        ir_version=CURRENT,
        session_id="s",
        round_id=3,
        assets=("SOL", "ETH"),
        consensus_prices=(150.0, 3000.0),
        imbalance=(0.1, -0.1),
        primal_residual=0.2,
        dual_residual=0.1,
        participants=2,
    )


@pytest.mark.parametrize(("field", "value"), [("size", "-1"), ("size", "0"), ("limit_price", "-3.5")])
def test_negative_or_zero_sizes_and_prices_refused(field: str, value: str) -> None:
    message = _proto_plan()
    setattr(message.legs[0], field, value)
    with pytest.raises(IrValidationError, match=rf"PlanDelta\.legs\.0\.{field}"):
        from_proto(PlanDelta, message)


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-inf", "1e", "abc", ""])
def test_non_numeric_decimal_strings_refused(value: str) -> None:
    message = _proto_plan()
    message.legs[0].size = value
    with pytest.raises(IrValidationError, match=r"legs\.0\.size"):
        from_proto(PlanDelta, message)


def test_negative_book_price_and_size_refused() -> None:
    with pytest.raises(ValidationError, match="price"):
        BookLevel(price=-1.0, size=1.0)
    with pytest.raises(ValidationError, match="size"):
        BookLevel(price=1.0, size=-1.0)


def test_crossed_book_refused() -> None:
    with pytest.raises(ValidationError, match="crossed book"):
        OrderBookState(bids=(BookLevel(price=101, size=1),), asks=(BookLevel(price=100, size=1),))


def test_empty_legs_refused() -> None:
    message = _proto_plan()
    del message.legs[:]
    with pytest.raises(IrValidationError, match=r"PlanDelta\.legs"):
        from_proto(PlanDelta, message)


@pytest.mark.parametrize("value", [0, 3, 99])
def test_unknown_or_unspecified_enum_refused(value: int) -> None:
    message = _proto_plan()
    message.legs[0].side = value
    with pytest.raises(IrValidationError, match=r"legs\.0\.side"):
        from_proto(PlanDelta, message)


@pytest.mark.parametrize("major", [0, 2, 7])
def test_unknown_major_version_refused(major: int) -> None:
    message = _proto_plan()
    message.ir_version.major = major
    with pytest.raises(IncompatibleVersion, match=f"unknown major version {major}"):
        from_proto(PlanDelta, message)


def test_newer_minor_version_accepted() -> None:
    message = _proto_plan()
    message.ir_version.minor = 9
    assert from_proto(PlanDelta, message).ir_version.minor == 9


def test_oversize_repeated_field_refused() -> None:
    message = _proto_plan()
    template = message.legs[0]
    for i in range(MAX_LEGS):
        leg = message.legs.add()
        leg.CopyFrom(template)
        leg.idempotency_key = f"k{i}"
    with pytest.raises(IrValidationError, match=rf"PlanDelta\.legs.*at most {MAX_LEGS}"):
        from_proto(PlanDelta, message)


def test_oversize_message_bytes_refused() -> None:
    data = encode(SAMPLE_PLAN)
    with pytest.raises(MessageTooLarge, match="exceeds the limit"):
        decode(PlanDelta, data, max_bytes=len(data) - 1)


def test_malformed_bytes_refused() -> None:
    with pytest.raises(IrValidationError, match="malformed protobuf"):
        decode(PlanDelta, b"\xff\xff\xff\xff")


def test_duplicate_idempotency_keys_refused() -> None:
    with pytest.raises(ValidationError, match="idempotency keys must be unique"):
        PlanDelta(**_plan(legs=(PlanLeg(**_leg()), PlanLeg(**_leg()))))


def test_misaligned_vectors_refused() -> None:
    with pytest.raises(ValidationError, match="imbalance has 1 entries but assets has 2"):
        SharedSignals(**{**_signals().model_dump(), "imbalance": (0.0,)})


def test_wrong_message_type_refused() -> None:
    with pytest.raises(IrValidationError, match=r"expected a arbsphere\.energibridge\.v1\.PlanDelta"):
        from_proto(PlanDelta, ir_pb2.SharedSignals())


@settings(max_examples=50)
@given(shared_signals())
def test_models_are_immutable(signals: SharedSignals) -> None:
    with pytest.raises(ValidationError):
        signals.round_id = 1  # type: ignore[misc]
