"""The EnergiBridge IR decoders under hostile input: a valid model or the documented error, nothing else.

Three entry points, each fed from valid models of every IR message (``tests/energibridge/eb_strategies``):

- protobuf bytes (``decode``) damaged at the byte level: bit flips, overwritten bytes, truncation, lost
  or repeated stretches, lengths and numbers turned into long varints;
- protobuf messages with one field (at any depth, in any repeated item) set to a hostile value: decimals
  that overflow, underflow or carry thousands of digits (``1e999999999``, ``1e-999999999``), non-finite and
  extreme floats, out-of-range integers and enum numbers, long or malformed text;
- the JSON form (``decode_json``) damaged at the byte level or structurally (nesting, huge numbers, wrong
  types, removed fields).

The documented error is ``EnergiBridgeError`` (``IrValidationError``, ``IncompatibleVersion``,
``MessageTooLarge``); anything else (``decimal.Overflow``, ``RecursionError``...) is a crash. Whatever is
accepted must be lossless: it re-encodes to an equal model, has canonical bytes, and a decimal read from
text equals that text's exact value (a positive decimal never reads as 0).
"""

from __future__ import annotations

import sys
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from hypothesis import given
from hypothesis import strategies as st

from energibridge import (
    EnergiBridgeError,
    canonical_bytes,
    decode,
    decode_json,
    encode,
    encode_json,
    from_proto,
    to_proto,
)
from energibridge.base import IrModel
from tests.fuzz.fuzz_support import (
    HUGE_TOKENS,
    TEXT_VALUES,
    Tally,
    damaged_bytes,
    fuzz_settings,
    mutated_json,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "energibridge"))
from eb_strategies import any_model, local_problems, plan_deltas

pytestmark = pytest.mark.timeout(600)

TALLIES = {
    name: Tally(f"ir/{name}", ("crash", "lossy"))
    for name in ("protobuf bytes", "hostile fields", "json form")
}
DECIMAL_TEXTS = (
    *HUGE_TOKENS,
    *TEXT_VALUES,
    "1e-999999",
    "1e999999",
    "1e2000000",
    "0.000000000000000000000001",
    "0.0000000000000000000000001",
    "1e-350",
    "1e-351",
    "5e-324",
    "0." + "0" * 380 + "1",
    "1234567890123456789012345678",
    "12345678901234567890123456789",
    "1E+24",
    "1E+25",
    "-1e-24",
    "0e999999999",
    "1.50",
    "+3",
)
FLOATS = (float("nan"), float("inf"), float("-inf"), 1e308, -1e308, 5e-324, -0.0, 2.0**63)
INTS = (-(2**63), -(2**31), -1, 0, 1, 2**31 - 1, 2**32 - 1, 2**63 - 1, 2**64 - 1)


def _accepted(model: IrModel) -> None:
    """What every accepted model must survive: re-encoding both ways and canonical bytes."""
    again = decode(type(model), encode(model))
    assert again == model, f"{type(model).__name__} did not survive protobuf re-encoding"
    assert decode_json(type(model), encode_json(model)) == model, "did not survive the JSON form"
    canonical_bytes(model)


def _judge(tally: Tally, kind: str, action: Any) -> None:
    tally.attempt(kind)
    try:
        action()
    except EnergiBridgeError:
        tally.outcome("documented error")
    except AssertionError as exc:
        tally.fail("lossy", f"{exc} (after a {kind})")
    except Exception as exc:  # anything else escaping the decoders is the crash we count
        tally.fail("crash", f"{type(exc).__name__}: {exc!s:.200} (after a {kind})")
    else:
        tally.outcome("accepted")


def _run(tally: Tally, explore: Any) -> None:
    try:
        explore()
    finally:
        tally.print()
    assert not tally.failures, tally.report()


def test_damaged_protobuf_bytes_decode_or_refuse() -> None:
    tally = TALLIES["protobuf bytes"]

    @fuzz_settings(800)
    @given(any_model, st.data())
    def explore(model: IrModel, data: st.DataObject) -> None:
        kind, raw = data.draw(damaged_bytes(encode(model), splice_max=32))
        _judge(tally, kind, lambda: _accepted(decode(type(model), raw)))

    _run(tally, explore)


def _scalar_slots(message: Message) -> list[tuple[Message, FieldDescriptor, int | None]]:
    """Every scalar field of ``message`` and its nested messages: ``(owner, field, index in a repeated
    field or None)``, unset fields included (a hostile peer may set any of them)."""
    out: list[tuple[Message, FieldDescriptor, int | None]] = []
    stack = [message]
    while stack:
        current = stack.pop()
        for field in current.DESCRIPTOR.fields:
            value = getattr(current, field.name)
            if field.type == FieldDescriptor.TYPE_MESSAGE:
                if field.is_repeated:
                    stack.extend(value)
                elif current.HasField(field.name):
                    stack.append(value)
            elif field.is_repeated:
                out.extend((current, field, i) for i in range(len(value)))
            else:
                out.append((current, field, None))
    return out


@st.composite
def _hostile_value(draw: st.DrawFn, field: FieldDescriptor) -> Any:
    if field.type == FieldDescriptor.TYPE_STRING:
        return draw(st.sampled_from((*DECIMAL_TEXTS, "x" * 300, "did:key:" + "z" * 5000)))
    if field.type in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return draw(st.sampled_from(FLOATS))
    if field.type == FieldDescriptor.TYPE_BOOL:
        return draw(st.booleans())
    if field.type == FieldDescriptor.TYPE_BYTES:
        return draw(st.sampled_from([b"", b"\x00" * 65, b"\xff" * 33, b"x" * ((1 << 20) + 1)]))
    if field.type == FieldDescriptor.TYPE_ENUM:
        return draw(st.sampled_from([0, 99, -1, 2**31 - 1]))
    return draw(st.sampled_from(INTS))


def _set(owner: Message, field: FieldDescriptor, index: int | None, value: Any) -> bool:
    """Set the slot; ``False`` when protobuf itself refuses the value (out of the wire type's range)."""
    try:
        if index is None:
            setattr(owner, field.name, value)
        else:
            getattr(owner, field.name)[index] = value
    except (TypeError, ValueError, OverflowError):
        return False
    return True


def _at(model: IrModel, path: list[Any]) -> Any:
    node: Any = model
    for step in path:
        node = node[step] if isinstance(step, int) else getattr(node, step)
    return node


def _is_decimal(
    model: IrModel, message: Message, owner: Message, field: FieldDescriptor, index: int | None
) -> bool:
    path = _path(message, owner, field, index)
    return path is not None and isinstance(_at(model, path), Decimal)


def _decimal_read_exactly(model: IrModel, text: str, path: list[Any]) -> None:
    """A decimal field accepted from ``text`` holds exactly ``text``'s value (and never 0 for a non-zero
    text): the IR is lossless or refuses."""
    node = _at(model, path)
    if not isinstance(node, Decimal):
        return
    try:
        expected = Decimal(text)
    except InvalidOperation:
        raise AssertionError(f"{text!r} is not a number, yet it was read as {node}") from None
    assert node == expected, f"decimal {text!r} was read as {node}"
    assert (node == 0) == (expected == 0), f"decimal {text!r} was read as {node}"


def _path(message: Message, owner: Message, field: FieldDescriptor, index: int | None) -> list[Any] | None:
    """Attribute path from ``message`` to ``owner.field[index]`` (for reading it back from the model)."""
    stack: list[tuple[Message, list[Any]]] = [(message, [])]
    while stack:
        current, prefix = stack.pop()
        if current is owner:
            return [*prefix, field.name] + ([] if index is None else [index])
        for sub in current.DESCRIPTOR.fields:
            if sub.type != FieldDescriptor.TYPE_MESSAGE:
                continue
            value = getattr(current, sub.name)
            if sub.is_repeated:
                stack.extend((item, [*prefix, sub.name, i]) for i, item in enumerate(value))
            elif current.HasField(sub.name):
                stack.append((value, [*prefix, sub.name]))
    return None


def test_hostile_field_values_decode_exactly_or_refuse() -> None:
    tally = TALLIES["hostile fields"]

    @fuzz_settings(800)
    @given(st.one_of(plan_deltas(), local_problems(), any_model), st.data())  # the decimal-bearing ones twice
    def explore(model: IrModel, data: st.DataObject) -> None:
        message = to_proto(model)
        slots = _scalar_slots(message)
        decimals = [slot for slot in slots if _is_decimal(model, message, *slot)]
        if decimals and data.draw(st.booleans()):  # half the tries aim at the decimal fields
            slots = decimals
        owner, field, index = slots[data.draw(st.integers(0, len(slots) - 1))]
        value = data.draw(_hostile_value(field))
        if not _set(owner, field, index, value):
            return
        path = _path(message, owner, field, index)
        kind = {FieldDescriptor.TYPE_STRING: "text", FieldDescriptor.TYPE_BYTES: "bytes"}.get(
            field.type, "number"
        )
        if path is not None and isinstance(_at(model, path), Decimal):
            kind = "decimal"

        def action() -> None:
            decoded = from_proto(type(model), message)
            if isinstance(value, str) and path is not None:
                _decimal_read_exactly(decoded, value, path)
            _accepted(decoded)
            decode(type(model), message.SerializeToString())

        _judge(tally, kind, action)

    _run(tally, explore)


def test_damaged_json_form_decodes_or_refuses() -> None:
    tally = TALLIES["json form"]

    @fuzz_settings(800)
    @given(any_model, st.data())
    def explore(model: IrModel, data: st.DataObject) -> None:
        kind, text = data.draw(mutated_json(encode_json(model)))
        _judge(tally, kind, lambda: _accepted(decode_json(type(model), text)))

    _run(tally, explore)
