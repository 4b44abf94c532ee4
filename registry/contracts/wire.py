"""Wire and JSON compatibility of two schemas: can a reader built from ``new`` read what ``old`` wrote?

Rules in the spirit of buf's WIRE_JSON category, plus service rules. Pure functions: two ``Schema`` values
in, a deterministic list of ``Violation`` out (messages, enums and services in name order, fields by number).

- A field number keeps its name, its type (only WIRE_JSON-compatible scalar swaps: int32<->uint32,
  int64<->uint64, fixed32<->sfixed32, fixed64<->sfixed64), its cardinality class (singular, required,
  repeated, map), its oneof and its JSON name.
- A deleted field's number and name must be reserved; a renumbered field breaks old data; a reserved
  number or name stays reserved; no required field may appear.
- Enum values keep their names; a deleted value's number and names must be reserved.
- Services and RPCs stay, with the same request/response types, streaming flags and idempotency level, and
  a message an old RPC used must not disappear.
"""

from __future__ import annotations

from collections.abc import Iterable

from registry.contracts.verdict import RuleId, Violation
from sdk.adapters.schema import (
    IMPLICIT,
    MAP,
    NAMED_KINDS,
    OPTIONAL,
    REPEATED,
    REQUIRED,
    EnumShape,
    FieldShape,
    MessageShape,
    RangeIndex,
    Schema,
    merge_ranges,
)

# WIRE_JSON compatibility groups: wire-compatible and encoded the same way in proto3 JSON.
_TYPE_GROUP = {
    "int32": "int32/uint32",
    "uint32": "int32/uint32",
    "int64": "int64/uint64",
    "uint64": "int64/uint64",
    "fixed32": "fixed32/sfixed32",
    "sfixed32": "fixed32/sfixed32",
    "fixed64": "fixed64/sfixed64",
    "sfixed64": "fixed64/sfixed64",
}
_WIRE_TYPE = {
    **dict.fromkeys(("int32", "int64", "uint32", "uint64", "sint32", "sint64", "bool", "enum"), "varint"),
    **dict.fromkeys(("fixed64", "sfixed64", "double"), "64-bit"),
    **dict.fromkeys(("fixed32", "sfixed32", "float"), "32-bit"),
    **dict.fromkeys(("string", "bytes", "message"), "length-delimited"),
    "group": "group",
}
_CARDINALITY_CLASS = {
    IMPLICIT: "singular",
    OPTIONAL: "singular",
    REQUIRED: REQUIRED,
    REPEATED: REPEATED,
    MAP: MAP,
}


def _ranges_text(ranges: Iterable[tuple[int, int]]) -> str:
    parts = [str(s) if e == s + 1 else f"{s} to {e - 1}" for s, e in ranges]
    return ", ".join(parts) if parts else "none"


def subtract_ranges(
    ranges: Iterable[tuple[int, int]], minus: Iterable[tuple[int, int]]
) -> list[tuple[int, int]]:
    """Half-open ranges of ``ranges`` not covered by ``minus`` (reservations may span up to 2^29).

    One sweep over both sorted lists: linear after sorting, however many ranges either side holds."""
    cuts = merge_ranges(minus)
    out: list[tuple[int, int]] = []
    first = 0  # cuts before this index end before every range still to come (ranges go by start)
    for start, end in sorted(ranges):
        while first < len(cuts) and cuts[first][1] <= start:
            first += 1
        at = start
        index = first
        while index < len(cuts) and cuts[index][0] < end:
            cut_start, cut_end = cuts[index]
            if cut_start > at:
                out.append((at, cut_start))
            at = max(at, cut_end)
            index += 1
        if at < end:
            out.append((at, end))
    return out


def _type_text(field: FieldShape) -> str:
    return field.type_name if field.kind in NAMED_KINDS else field.kind


def _field_type(path: str, old: FieldShape, new: FieldShape) -> list[Violation]:
    if old.kind == new.kind:
        if old.kind in NAMED_KINDS and old.type_name != new.type_name:
            return [
                Violation(
                    rule=RuleId.FIELD_TYPE_CHANGED,
                    path=path,
                    message=f"field {old.number} changed {old.kind} type {old.type_name} to {new.type_name}",
                    old=old.describe(),
                    new=new.describe(),
                )
            ]
        return []
    group_old, group_new = _TYPE_GROUP.get(old.kind, old.kind), _TYPE_GROUP.get(new.kind, new.kind)
    if group_old == group_new:
        return []
    wire_old, wire_new = _WIRE_TYPE[old.kind], _WIRE_TYPE[new.kind]
    if wire_old != wire_new:
        why = f"wire-incompatible: {wire_old} vs {wire_new} encoding"
    else:
        why = f"both {wire_old} on the wire, but decoded or JSON-encoded differently"
    return [
        Violation(
            rule=RuleId.FIELD_TYPE_CHANGED,
            path=path,
            message=f"field {old.number} changed type from {_type_text(old)} to {_type_text(new)} ({why})",
            old=old.describe(),
            new=new.describe(),
        )
    ]


def _same_number(message: str, old: FieldShape, new: FieldShape) -> list[Violation]:
    path = f"{message}.{old.name}"
    if old.name != new.name:
        return [
            Violation(
                rule=RuleId.FIELD_NUMBER_REUSED,
                path=path,
                message=(
                    f"field number {old.number} was {old.name!r} and is now {new.name!r}: old data would be "
                    f"read into the wrong field (delete the old field with `reserved {old.number}; reserved "
                    f'"{old.name}";` and use a fresh number)'
                ),
                old=old.describe(),
                new=new.describe(),
            )
        ]
    out = _field_type(path, old, new)
    if _CARDINALITY_CLASS[old.cardinality] != _CARDINALITY_CLASS[new.cardinality]:
        out.append(
            Violation(
                rule=RuleId.FIELD_CARDINALITY_CHANGED,
                path=path,
                message=f"field {old.number} changed cardinality from {old.cardinality} to {new.cardinality}",
                old=old.describe(),
                new=new.describe(),
            )
        )
    if old.oneof != new.oneof:
        out.append(
            Violation(
                rule=RuleId.FIELD_ONEOF_CHANGED,
                path=path,
                message=f"field {old.number} moved from oneof {old.oneof or '-'} to oneof {new.oneof or '-'}",
                old=old.describe(),
                new=new.describe(),
            )
        )
    if old.json_name != new.json_name:
        out.append(
            Violation(
                rule=RuleId.FIELD_JSON_NAME_CHANGED,
                path=path,
                message=f"field {old.number} changed JSON name {old.json_name!r} to {new.json_name!r}",
                old=old.json_name,
                new=new.json_name,
            )
        )
    return out


def _deleted_field(message: str, old: FieldShape, new_message: MessageShape) -> list[Violation]:
    path = f"{message}.{old.name}"
    out: list[Violation] = []
    moved = new_message.field_named(old.name)
    if moved is not None:
        out.append(
            Violation(
                rule=RuleId.FIELD_RENUMBERED,
                path=path,
                message=f"field {old.name!r} moved from number {old.number} to {moved.number}",
                old=old.describe(),
                new=moved.describe(),
            )
        )
    if old.number not in new_message.reserved:
        out.append(
            Violation(
                rule=RuleId.FIELD_DELETED_NUMBER_UNRESERVED,
                path=path,
                message=f"field {old.number} ({old.name!r}) was deleted without `reserved {old.number};`",
                old=old.describe(),
                new=None,
            )
        )
    if moved is None and old.name not in new_message.reserved_names:
        out.append(
            Violation(
                rule=RuleId.FIELD_DELETED_NAME_UNRESERVED,
                path=path,
                message=f'field {old.number} ({old.name!r}) was deleted without `reserved "{old.name}";`',
                old=old.describe(),
                new=None,
            )
        )
    return out


def _reservations(
    path: str,
    *,
    old_ranges: tuple[tuple[int, int], ...],
    new_ranges: tuple[tuple[int, int], ...],
    old_names: frozenset[str],
    new_names: frozenset[str],
    now_used: tuple[tuple[int, str], ...],
) -> list[Violation]:
    out: list[Violation] = []
    lost = subtract_ranges(old_ranges, new_ranges)
    if lost:
        lost_index = RangeIndex(lost)
        reused = sorted(f"{n} ({name!r})" for n, name in now_used if n in lost_index)
        note = f"; now used by {', '.join(reused)}" if reused else ""
        out.append(
            Violation(
                rule=RuleId.RESERVED_NUMBER_REMOVED,
                path=path,
                message=f"reserved numbers {_ranges_text(lost)} are no longer reserved{note}",
                old=f"reserved {_ranges_text(sorted(old_ranges))}",
                new=f"reserved {_ranges_text(sorted(new_ranges))}",
            )
        )
    for name in sorted(old_names - new_names):
        out.append(
            Violation(
                rule=RuleId.RESERVED_NAME_REMOVED,
                path=path,
                message=f"reserved name {name!r} is no longer reserved"
                + (" and is in use again" if name in {n for _, n in now_used} else ""),
                old=f'reserved "{name}"',
                new=None,
            )
        )
    return out


def _message(old: MessageShape, new: MessageShape) -> list[Violation]:
    name = old.full_name
    out: list[Violation] = []
    for number in sorted(old.fields):
        old_field = old.fields[number]
        new_field = new.fields.get(number)
        if new_field is None:
            out += _deleted_field(name, old_field, new)
        else:
            out += _same_number(name, old_field, new_field)
    for number in sorted(set(new.fields) - set(old.fields)):
        added = new.fields[number]
        if added.cardinality == REQUIRED:
            out.append(
                Violation(
                    rule=RuleId.REQUIRED_FIELD_ADDED,
                    path=f"{name}.{added.name}",
                    message=f"required field {added.number} ({added.name!r}) is missing from all old data",
                    old=None,
                    new=added.describe(),
                )
            )
    used = tuple((number, field.name) for number, field in new.fields.items())
    out += _reservations(
        name,
        old_ranges=old.reserved_ranges,
        new_ranges=new.reserved_ranges,
        old_names=old.reserved_names,
        new_names=new.reserved_names,
        now_used=used,
    )
    if old.message_set_wire_format != new.message_set_wire_format:
        out.append(
            Violation(
                rule=RuleId.MESSAGE_WIRE_FORMAT_CHANGED,
                path=name,
                message="option message_set_wire_format changed",
                old=str(old.message_set_wire_format).lower(),
                new=str(new.message_set_wire_format).lower(),
            )
        )
    return out


def _enum(old: EnumShape, new: EnumShape) -> list[Violation]:
    name = old.full_name
    out: list[Violation] = []
    old_by_number, new_by_number = old.names_by_number(), new.names_by_number()
    new_numbers_by_name = {value_name: number for value_name, number in new.values}
    for number in sorted(old_by_number):
        old_names = old_by_number[number]
        first = sorted(old_names)[0]
        path = f"{name}.{first}"
        if number in new_by_number:
            new_names = new_by_number[number]
            if not new_names <= old_names:
                out.append(
                    Violation(
                        rule=RuleId.ENUM_VALUE_NAME_CHANGED,
                        path=path,
                        message=f"enum value {number} was renamed {sorted(old_names)} -> {sorted(new_names)}",
                        old=", ".join(sorted(old_names)),
                        new=", ".join(sorted(new_names)),
                    )
                )
            continue
        moved = sorted(n for n in old_names if n in new_numbers_by_name)
        for moved_name in moved:
            out.append(
                Violation(
                    rule=RuleId.ENUM_VALUE_RENUMBERED,
                    path=f"{name}.{moved_name}",
                    message=f"enum value {moved_name!r} moved from number {number} to another number",
                    old=f"{moved_name} = {number}",
                    new=f"{moved_name} = {new_numbers_by_name[moved_name]}",
                )
            )
        if number not in new.reserved:
            out.append(
                Violation(
                    rule=RuleId.ENUM_VALUE_DELETED_NUMBER_UNRESERVED,
                    path=path,
                    message=f"enum value {number} was deleted without `reserved {number};`",
                    old=f"{first} = {number}",
                    new=None,
                )
            )
        unreserved = sorted(
            n for n in old_names if n not in new.reserved_names and n not in new_numbers_by_name
        )
        if unreserved:
            out.append(
                Violation(
                    rule=RuleId.ENUM_VALUE_DELETED_NAME_UNRESERVED,
                    path=path,
                    message=f"enum value {number} was deleted without reserving the name(s) {unreserved}",
                    old=f"{first} = {number}",
                    new=None,
                )
            )
    used = tuple((number, value_name) for value_name, number in new.values)
    out += _reservations(
        name,
        old_ranges=old.reserved_ranges,
        new_ranges=new.reserved_ranges,
        old_names=old.reserved_names,
        new_names=new.reserved_names,
        now_used=used,
    )
    return out


def _services(old: Schema, new: Schema) -> list[Violation]:
    out: list[Violation] = []
    referenced: dict[str, str] = {}
    for service_name in sorted(old.services):
        old_service = old.services[service_name]
        new_service = new.services.get(service_name)
        for method_name in sorted(old_service.methods):
            method = old_service.methods[method_name]
            for role, type_name in (("request", method.input_type), ("response", method.output_type)):
                referenced.setdefault(type_name, f"{service_name}.{method_name} {role}")
        if new_service is None:
            out.append(
                Violation(
                    rule=RuleId.SERVICE_DELETED,
                    path=service_name,
                    message=f"service {service_name} was deleted; callers would get UNIMPLEMENTED",
                    old=f"service with {len(old_service.methods)} rpc(s)",
                    new=None,
                )
            )
            continue
        for method_name in sorted(old_service.methods):
            old_method = old_service.methods[method_name]
            new_method = new_service.methods.get(method_name)
            path = f"{service_name}.{method_name}"
            if new_method is None:
                out.append(
                    Violation(
                        rule=RuleId.RPC_DELETED,
                        path=path,
                        message=f"rpc {method_name} was deleted; callers would get UNIMPLEMENTED",
                        old=old_method.describe(),
                        new=None,
                    )
                )
                continue
            checks = (
                (
                    RuleId.RPC_REQUEST_TYPE_CHANGED,
                    "request type",
                    old_method.input_type,
                    new_method.input_type,
                ),
                (
                    RuleId.RPC_RESPONSE_TYPE_CHANGED,
                    "response type",
                    old_method.output_type,
                    new_method.output_type,
                ),
                (
                    RuleId.RPC_CLIENT_STREAMING_CHANGED,
                    "client streaming",
                    str(old_method.client_streaming).lower(),
                    str(new_method.client_streaming).lower(),
                ),
                (
                    RuleId.RPC_SERVER_STREAMING_CHANGED,
                    "server streaming",
                    str(old_method.server_streaming).lower(),
                    str(new_method.server_streaming).lower(),
                ),
                (
                    RuleId.RPC_IDEMPOTENCY_CHANGED,
                    "idempotency level",
                    old_method.idempotency,
                    new_method.idempotency,
                ),
            )
            for rule, what, before, after in checks:
                if before != after:
                    out.append(
                        Violation(
                            rule=rule,
                            path=path,
                            message=f"rpc {method_name} changed {what} from {before} to {after}",
                            old=old_method.describe(),
                            new=new_method.describe(),
                        )
                    )
    for type_name in sorted(referenced):
        if type_name not in new.messages:
            out.append(
                Violation(
                    rule=RuleId.MESSAGE_REFERENCED_BY_SERVICE_DELETED,
                    path=type_name,
                    message=f"message {type_name}, used as {referenced[type_name]}, was deleted",
                    old=type_name,
                    new=None,
                )
            )
    return out


def _packages(old: Schema, new: Schema) -> list[Violation]:
    return [
        Violation(
            rule=RuleId.PACKAGE_CHANGED,
            path=file,
            message=f"file {file} changed package from {old.packages[file]!r} to {new.packages[file]!r}",
            old=old.packages[file],
            new=new.packages[file],
        )
        for file in sorted(old.packages)
        if file in new.packages and old.packages[file] != new.packages[file]
    ]


def wire_violations(old: Schema, new: Schema) -> list[Violation]:
    """Every way a reader built from ``new`` would misread data or calls made with ``old``."""
    out = _packages(old, new)
    for name in sorted(old.messages):
        if name in new.messages:
            out += _message(old.messages[name], new.messages[name])
    for name in sorted(old.enums):
        if name in new.enums:
            out += _enum(old.enums[name], new.enums[name])
    out += _services(old, new)
    return out
