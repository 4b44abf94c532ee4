"""Base of the pydantic IR models: immutable, validated, bound to their protobuf message.

Field names equal the protobuf field names, so conversion is generic (see ``energibridge.convert``) and a
test proves that every protobuf field is mirrored (nothing lost in conversion).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, ClassVar

from google.protobuf.message import Message
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

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


def canonical_decimal(value: Decimal) -> Decimal:
    """One representation per number: no exponent, no trailing zeros ("1.50" and "1.5" are the same)."""
    if value == 0:
        return Decimal(0)
    text = format(value.normalize(), "f")
    return Decimal(text)


FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
NonNegativeFloat = Annotated[float, Field(ge=0, allow_inf_nan=False)]
PositiveFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]
Probability = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
PositiveDecimal = Annotated[Decimal, Field(gt=0, allow_inf_nan=False), AfterValidator(canonical_decimal)]
NonNegativeDecimal = Annotated[Decimal, Field(ge=0, allow_inf_nan=False), AfterValidator(canonical_decimal)]
SignedDecimal = Annotated[Decimal, Field(allow_inf_nan=False), AfterValidator(canonical_decimal)]
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

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)

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
