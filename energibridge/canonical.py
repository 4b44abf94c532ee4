"""Canonical bytes of IR models, for hashing and signing.

Protobuf serialisation is not canonical across runtimes or languages, so signatures and hashes use this
form instead: UTF-8 JSON with keys sorted, no whitespace, a ``@type`` key naming the protobuf message,
floats in their shortest round-trip form, decimals without exponent or trailing zeros, integers as
integers, bytes as lowercase hex, enums by their name. Unset optional fields are omitted. Equal models give
equal bytes in any process and any run; field order and re-encoding do not matter.
"""

from __future__ import annotations

import hashlib
import json
import math
from decimal import Decimal
from enum import IntEnum
from typing import Any

from energibridge.base import IrModel, canonical_decimal
from energibridge.errors import IrValidationError


def _canonical_value(value: Any, path: str) -> Any:
    if isinstance(value, IrModel):
        return _canonical_object(value, path)
    if isinstance(value, IntEnum):
        return value.name
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise IrValidationError(path, f"non-finite float {value!r} has no canonical form")
        return 0.0 if value == 0 else value  # json writes float repr: shortest round-trip
    if isinstance(value, Decimal):
        return format(canonical_decimal(value), "f")
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, str):
        return value
    if isinstance(value, tuple | list):
        return [_canonical_value(v, f"{path}[{i}]") for i, v in enumerate(value)]
    raise IrValidationError(path, f"type {type(value).__name__} has no canonical form")


def _canonical_object(model: IrModel, path: str) -> dict[str, Any]:
    out: dict[str, Any] = {"@type": type(model).PROTO.DESCRIPTOR.full_name}
    for name in type(model).model_fields:
        value = getattr(model, name)
        if value is not None:
            out[name] = _canonical_value(value, f"{path}.{name}" if path else name)
    return out


def canonical_bytes(model: IrModel) -> bytes:
    """The canonical byte string of ``model`` (see module docstring)."""
    document = _canonical_object(model, "")
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return text.encode("utf-8")


def digest(model: IrModel) -> bytes:
    """SHA-256 of the canonical bytes: the identity used in ledger entries and plan state hashes."""
    return hashlib.sha256(canonical_bytes(model)).digest()
