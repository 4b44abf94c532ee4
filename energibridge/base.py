"""Base of the pydantic IR models: immutable, validated, bound to their protobuf message.

Field names equal the protobuf field names, so conversion is generic (see ``energibridge.convert``) and a
test proves that every protobuf field is mirrored (nothing lost in conversion).
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Annotated, Any, ClassVar

from google.protobuf.message import Message
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo

# Limits on repeated fields: a peer cannot make us allocate without bound.
MAX_LEVELS = 5_000
MAX_LEGS = 256
MAX_ASSETS = 1_024
MAX_INSTRUMENTS = 256
MAX_PARTICIPANTS = 10_000
MAX_OUTCOMES = 64
MAX_TICKS = 20_000
MAX_ID_LENGTH = 256
MAX_PAYLOAD_BYTES = 1 << 20
UINT32_MAX = 2**32 - 1
UINT64_MAX = 2**64 - 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
UINT256_LIMIT = 2**256


MAX_DECIMAL_CHARS = 400
"""Longest decimal text accepted, checked before parsing: the plain notation of any value within the bounds
below (the wire form) fits, and nothing longer is ever read."""
MAX_DECIMAL_DIGITS = 28
"""Significant digits of a decimal field: exactly representable in Python's default decimal context
(precision 28), so a consumer's ordinary arithmetic on one value never rounds it."""
MAX_DECIMAL_ADJUSTED = 24
"""Exponent of a decimal's first digit: magnitudes stay below 1e25 (no price, size or profit comes close)."""
MIN_DECIMAL_EXPONENT = -350
"""Exponent of a decimal's last digit: every finite double's shortest repr fits (values derived from floats,
such as a plan's expected profit, are never refused for their resolution), ``1e-999999999`` does not."""

_DECIMAL_TEXT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE]([+-]?[0-9]{1,9}))?")


def _decimal_parts(value: Decimal) -> tuple[int, tuple[int, ...], int]:
    """``(sign, digits, exponent)`` of a finite decimal with trailing zeros moved into the exponent
    (``digits`` is empty for zero). No decimal context is involved, so nothing can round or overflow."""
    sign, digits, exponent = value.as_tuple()
    if not isinstance(exponent, int):
        raise ValueError(f"expected a finite decimal, got {value!r}")
    end = len(digits)
    while end and digits[end - 1] == 0:
        end -= 1
    start = 0
    while start < end and digits[start] == 0:
        start += 1
    return sign, tuple(digits[start:end]), exponent + len(digits) - end


def canonical_decimal(value: Decimal) -> Decimal:
    """One representation per number: no exponent, no trailing zeros ("1.50" and "1.5" are the same).

    Built from the digit tuple, not with ``normalize()``: the default context would round a value beyond 28
    digits, turn a tiny one into 0 or raise ``decimal.Overflow`` on a huge one."""
    sign, digits, exponent = _decimal_parts(value)
    if not digits:
        return Decimal(0)
    if exponent > 0:
        digits, exponent = digits + (0,) * exponent, 0
    return Decimal((sign, digits, exponent))


def decimal_input(value: object, info: ValidationInfo) -> Decimal:
    """A decimal field's input checked for length, digits and exponents before any arithmetic.

    Accepts a ``Decimal``, an ``int``, ASCII decimal text (the wire form) or, in Python mode, a finite
    float (by its shortest repr). Refuses, naming the bound, anything that could not be held exactly:
    more than ``MAX_DECIMAL_DIGITS`` significant digits, a magnitude of 1e25 or more, a resolution finer
    than 1e-350 (so ``1e-999999999`` is refused, never read as 0). Within these bounds no operation on a
    value can overflow or build a long integer or string. JSON numbers are refused: the JSON parser
    reads them as binary floats, which would silently lose digits; the JSON form writes decimals as text.
    """
    if isinstance(value, bool):
        raise ValueError(f"expected a decimal, got a boolean {value!r}")
    if isinstance(value, float):
        if info.mode == "json":
            raise ValueError("expected a decimal as a JSON string (a JSON number is a binary float)")
        if not math.isfinite(value):
            raise ValueError(f"expected a finite number, got {value!r}")
        value = repr(value)
    if isinstance(value, int):
        if not -(10 ** (MAX_DECIMAL_ADJUSTED + 1)) < value < 10 ** (MAX_DECIMAL_ADJUSTED + 1):
            raise ValueError(f"magnitude must be below 1e{MAX_DECIMAL_ADJUSTED + 1}")
        value = Decimal(value)
    if isinstance(value, str):
        if len(value) > MAX_DECIMAL_CHARS:
            raise ValueError(f"expected at most {MAX_DECIMAL_CHARS} characters, got {len(value)}")
        if _DECIMAL_TEXT.fullmatch(value) is None:
            raise ValueError(f"expected a decimal number like '12.5' or '1e-8', got {value!r}")
        value = Decimal(value)
    if not isinstance(value, Decimal):
        raise ValueError(f"expected a decimal, got {type(value).__name__}")
    if not value.is_finite():
        raise ValueError(f"expected a finite number, got {value!r}")
    _, digits, exponent = _decimal_parts(value)
    if not digits:
        return value
    if len(digits) > MAX_DECIMAL_DIGITS:
        raise ValueError(f"expected at most {MAX_DECIMAL_DIGITS} significant digits, got {len(digits)}")
    if exponent < MIN_DECIMAL_EXPONENT:
        raise ValueError(
            f"resolution must be 1e{MIN_DECIMAL_EXPONENT} or coarser (digit at 1e{exponent}); "
            "a value this small cannot be held exactly"
        )
    if exponent + len(digits) - 1 > MAX_DECIMAL_ADJUSTED:
        raise ValueError(f"magnitude must be below 1e{MAX_DECIMAL_ADJUSTED + 1}")
    return value


FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
NonNegativeFloat = Annotated[float, Field(ge=0, allow_inf_nan=False)]
PositiveFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]
Probability = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
PositiveDecimal = Annotated[
    Decimal,
    BeforeValidator(decimal_input),
    Field(gt=0, allow_inf_nan=False),
    AfterValidator(canonical_decimal),
]
NonNegativeDecimal = Annotated[
    Decimal,
    BeforeValidator(decimal_input),
    Field(ge=0, allow_inf_nan=False),
    AfterValidator(canonical_decimal),
]
SignedDecimal = Annotated[
    Decimal, BeforeValidator(decimal_input), Field(allow_inf_nan=False), AfterValidator(canonical_decimal)
]
Identifier = Annotated[str, Field(min_length=1, max_length=MAX_ID_LENGTH)]
OptionalIdentifier = Annotated[str, Field(max_length=MAX_ID_LENGTH)]
Uint32 = Annotated[int, Field(ge=0, le=UINT32_MAX)]
Uint64 = Annotated[int, Field(ge=0, le=UINT64_MAX)]
Int64 = Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX)]
Int32 = Annotated[int, Field(ge=-(2**31), le=2**31 - 1)]
UInt256 = Annotated[int, Field(ge=0, lt=UINT256_LIMIT)]
SignedInt256 = Annotated[int, Field(gt=-UINT256_LIMIT, lt=UINT256_LIMIT)]
Digest = Annotated[bytes, Field(max_length=64)]


class IrModel(BaseModel):
    """An immutable IR model mirroring one protobuf message (``PROTO``)."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", validate_default=True, ser_json_bytes="base64", val_json_bytes="base64"
    )

    PROTO: ClassVar[type[Message]]
    _by_proto_name: ClassVar[dict[str, type[IrModel]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        proto = cls.__dict__.get("PROTO")
        if proto is not None:
            IrModel._by_proto_name[proto.DESCRIPTOR.full_name] = cls

    @classmethod
    def for_proto_name(cls, full_name: str) -> type[IrModel]:
        try:
            return cls._by_proto_name[full_name]
        except KeyError:
            raise KeyError(f"no IR model mirrors protobuf message {full_name}") from None

    @classmethod
    def registered(cls) -> dict[str, type[IrModel]]:
        return dict(cls._by_proto_name)
