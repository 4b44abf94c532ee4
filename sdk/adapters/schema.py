"""A descriptor set reduced to what wire and JSON compatibility depend on.

``load_schema`` validates a serialized ``google.protobuf.FileDescriptorSet`` (it must be self-contained, as
``protoc --include_imports`` writes it, and must build in a fresh descriptor pool) and flattens it into
immutable shapes keyed by fully-qualified name: messages (nested ones included) with their fields and
reservations, enums with their values and reservations, services with their methods. The compatibility
rules (``registry.contracts.wire``) are pure functions over two such schemas.
"""

from __future__ import annotations

import functools
from bisect import bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import DecodeError, Message

from sdk.adapters.errors import ManifestError

MAX_DESCRIPTOR_SET_BYTES = 4 << 20
MAX_RESERVED_RANGES = 1024
"""Reserved ranges per message or enum; real ones have a handful, and each later check is linear in them."""
FIELD = "descriptor_set"

_FDP = descriptor_pb2.FieldDescriptorProto
KIND_NAMES: Mapping[int, str] = {
    _FDP.TYPE_DOUBLE: "double",
    _FDP.TYPE_FLOAT: "float",
    _FDP.TYPE_INT64: "int64",
    _FDP.TYPE_UINT64: "uint64",
    _FDP.TYPE_INT32: "int32",
    _FDP.TYPE_FIXED64: "fixed64",
    _FDP.TYPE_FIXED32: "fixed32",
    _FDP.TYPE_BOOL: "bool",
    _FDP.TYPE_STRING: "string",
    _FDP.TYPE_GROUP: "group",
    _FDP.TYPE_MESSAGE: "message",
    _FDP.TYPE_BYTES: "bytes",
    _FDP.TYPE_UINT32: "uint32",
    _FDP.TYPE_ENUM: "enum",
    _FDP.TYPE_SFIXED32: "sfixed32",
    _FDP.TYPE_SFIXED64: "sfixed64",
    _FDP.TYPE_SINT32: "sint32",
    _FDP.TYPE_SINT64: "sint64",
}
NAMED_KINDS = frozenset({"message", "enum", "group"})

# Cardinalities in the sense of buf: "implicit" is a proto3 singular field without presence, "optional" one
# with explicit presence (proto2 optional, proto3 `optional`, message-typed or oneof members).
IMPLICIT, OPTIONAL, REQUIRED, REPEATED, MAP = "implicit", "optional", "required", "repeated", "map"


@dataclass(frozen=True)
class FieldShape:
    number: int
    name: str
    kind: str
    type_name: str  # fully-qualified name without the leading dot; "" for scalars
    cardinality: str
    oneof: str | None  # real oneofs only: proto3 `optional` synthetic oneofs are not oneofs on the wire
    json_name: str

    def describe(self) -> str:
        shown = self.type_name if self.kind in NAMED_KINDS else self.kind
        label = "" if self.cardinality == IMPLICIT else f"{self.cardinality} "
        inside = f" (in oneof {self.oneof})" if self.oneof else ""
        return f"{label}{shown} {self.name} = {self.number}{inside}"


@dataclass(frozen=True)
class MessageShape:
    full_name: str
    file: str
    fields: Mapping[int, FieldShape]
    reserved_ranges: tuple[tuple[int, int], ...]  # half-open [start, end)
    reserved_names: frozenset[str]
    map_entry: bool
    message_set_wire_format: bool

    @functools.cached_property
    def reserved(self) -> RangeIndex:
        return RangeIndex(self.reserved_ranges)

    def field_named(self, name: str) -> FieldShape | None:
        return next((f for f in self.fields.values() if f.name == name), None)


@dataclass(frozen=True)
class EnumShape:
    full_name: str
    file: str
    values: tuple[tuple[str, int], ...]  # (name, number) in declaration order; aliases allowed
    reserved_ranges: tuple[tuple[int, int], ...]  # half-open [start, end), converted from inclusive ends
    reserved_names: frozenset[str]

    @functools.cached_property
    def reserved(self) -> RangeIndex:
        return RangeIndex(self.reserved_ranges)

    def names_by_number(self) -> dict[int, frozenset[str]]:
        out: dict[int, set[str]] = {}
        for name, number in self.values:
            out.setdefault(number, set()).add(name)
        return {n: frozenset(names) for n, names in out.items()}


@dataclass(frozen=True)
class MethodShape:
    name: str
    input_type: str
    output_type: str
    client_streaming: bool
    server_streaming: bool
    idempotency: str

    def describe(self) -> str:
        inp = f"stream {self.input_type}" if self.client_streaming else self.input_type
        out = f"stream {self.output_type}" if self.server_streaming else self.output_type
        return f"rpc {self.name}({inp}) returns ({out})"


@dataclass(frozen=True)
class ServiceShape:
    full_name: str
    file: str
    methods: Mapping[str, MethodShape]


@dataclass(frozen=True)
class Schema:
    packages: Mapping[str, str]  # file name -> package
    messages: Mapping[str, MessageShape]
    enums: Mapping[str, EnumShape]
    services: Mapping[str, ServiceShape]


def in_ranges(number: int, ranges: Iterable[tuple[int, int]]) -> bool:
    return any(start <= number < end for start, end in ranges)


def merge_ranges(ranges: Iterable[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    """Half-open ranges sorted, with overlapping and touching ones joined."""
    out: list[tuple[int, int]] = []
    for start, end in sorted(ranges):
        if out and start <= out[-1][1]:
            if end > out[-1][1]:
                out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return tuple(out)


class RangeIndex:
    """Membership in a set of half-open ranges by binary search (a message may reserve a thousand)."""

    __slots__ = ("_ends", "_starts")

    def __init__(self, ranges: Iterable[tuple[int, int]]) -> None:
        merged = merge_ranges(ranges)
        self._starts = [start for start, _ in merged]
        self._ends = [end for _, end in merged]

    def __contains__(self, number: int) -> bool:
        at = bisect_right(self._starts, number) - 1
        return at >= 0 and number < self._ends[at]


def default_json_name(name: str) -> str:
    """protoc's lowerCamelCase JSON name: drop underscores, upper-case the letter after each."""
    out: list[str] = []
    upper_next = False
    for char in name:
        if char == "_":
            upper_next = True
        elif upper_next:
            out.append(char.upper())
            upper_next = False
        else:
            out.append(char)
    return "".join(out)


def _strip(type_name: str, where: str) -> str:
    if not type_name.startswith("."):
        raise ManifestError(
            FIELD,
            f"{where} refers to {type_name!r}, which is not fully qualified (protoc writes '.pkg.Type')",
        )
    return type_name[1:]


def _parse_set(data: object) -> descriptor_pb2.FileDescriptorSet:
    if not isinstance(data, bytes | bytearray | memoryview):
        raise ManifestError(FIELD, f"expected serialized FileDescriptorSet bytes, got {type(data).__name__}")
    raw = bytes(data)
    if not raw:
        raise ManifestError(FIELD, "is empty: expected a serialized google.protobuf.FileDescriptorSet")
    if len(raw) > MAX_DESCRIPTOR_SET_BYTES:
        raise ManifestError(FIELD, f"is {len(raw)} bytes, more than the limit of {MAX_DESCRIPTOR_SET_BYTES}")
    try:
        parsed = descriptor_pb2.FileDescriptorSet.FromString(raw)
    except DecodeError as exc:
        raise ManifestError(FIELD, f"is not a serialized google.protobuf.FileDescriptorSet ({exc})") from None
    if not parsed.file:
        raise ManifestError(FIELD, "holds no files: expected the output of protoc --descriptor_set_out")
    _require_utf8(parsed)
    return parsed


def _require_utf8(root: Message) -> None:
    """Refuse a set whose string fields are not UTF-8: descriptor.proto is proto2, so the parser hands such
    a field over as ``bytes``, which every later step (names, sorting, verdicts) takes for ``str``.

    Iterative (an explicit stack), so a deeply nested message cannot exhaust the interpreter's recursion."""
    stack: list[Message] = [root]
    while stack:
        message = stack.pop()
        for field, value in message.ListFields():
            if field.type == FieldDescriptor.TYPE_STRING:
                items = value if field.is_repeated else (value,)
                for item in items:
                    if not isinstance(item, str):
                        where = f"{message.DESCRIPTOR.name}.{field.name}"
                        raise ManifestError(FIELD, f"{where} holds {_shown_bytes(item)}, which is not UTF-8")
            elif field.type == FieldDescriptor.TYPE_MESSAGE:
                stack.extend(value if field.is_repeated else (value,))


def _shown_bytes(raw: object) -> str:
    return repr(raw[:40]) if isinstance(raw, bytes) else type(raw).__name__


def _dependency_order(
    files: list[descriptor_pb2.FileDescriptorProto],
) -> list[descriptor_pb2.FileDescriptorProto]:
    by_name: dict[str, descriptor_pb2.FileDescriptorProto] = {}
    for index, proto in enumerate(files):
        if not proto.name:
            raise ManifestError(FIELD, f"file #{index} has no name")
        if proto.name in by_name:
            raise ManifestError(FIELD, f"file {proto.name!r} appears twice")
        if proto.syntax not in {"", "proto2", "proto3"}:
            raise ManifestError(
                FIELD,
                f"file {proto.name!r} uses syntax {proto.syntax!r}; only proto2 and proto3 are supported",
            )
        by_name[proto.name] = proto
    ordered: list[descriptor_pb2.FileDescriptorProto] = []
    state: dict[str, str] = {}

    def visit(name: str, chain: tuple[str, ...]) -> None:
        if state.get(name) == "done":
            return
        if state.get(name) == "visiting":
            raise ManifestError(FIELD, f"import cycle: {' -> '.join((*chain, name))}")
        state[name] = "visiting"
        for dep in by_name[name].dependency:
            if dep not in by_name:
                raise ManifestError(
                    FIELD,
                    f"file {name!r} imports {dep!r}, which is not in the set (use protoc --include_imports)",
                )
            visit(dep, (*chain, name))
        state[name] = "done"
        ordered.append(by_name[name])

    for name in sorted(by_name):
        visit(name, ())
    return ordered


def _build_pool(ordered: list[descriptor_pb2.FileDescriptorProto]) -> None:
    pool = descriptor_pool.DescriptorPool()
    for proto in ordered:
        try:
            pool.Add(proto)
        except (TypeError, ValueError) as exc:
            raise ManifestError(FIELD, f"file {proto.name!r} does not build: {exc}") from None


def _cardinality(field: descriptor_pb2.FieldDescriptorProto, proto3: bool, map_entries: set[str]) -> str:
    if field.label == _FDP.LABEL_REPEATED:
        if field.type == _FDP.TYPE_MESSAGE and field.type_name[1:] in map_entries:
            return MAP
        return REPEATED
    if field.label == _FDP.LABEL_REQUIRED:
        return REQUIRED
    explicit = (
        not proto3
        or field.proto3_optional
        or field.HasField("oneof_index")
        or field.type in (_FDP.TYPE_MESSAGE, _FDP.TYPE_GROUP)
    )
    return OPTIONAL if explicit else IMPLICIT


def _collect_messages(
    messages: Iterable[descriptor_pb2.DescriptorProto], prefix: str, file: str
) -> Iterable[tuple[str, str, descriptor_pb2.DescriptorProto]]:
    for message in messages:
        full = f"{prefix}.{message.name}" if prefix else message.name
        yield full, file, message
        yield from _collect_messages(message.nested_type, full, file)


def _collect_enums(
    enums: Iterable[descriptor_pb2.EnumDescriptorProto],
    messages: Iterable[descriptor_pb2.DescriptorProto],
    prefix: str,
) -> Iterable[tuple[str, descriptor_pb2.EnumDescriptorProto]]:
    for enum in enums:
        yield (f"{prefix}.{enum.name}" if prefix else enum.name), enum
    for message in messages:
        full = f"{prefix}.{message.name}" if prefix else message.name
        yield from _collect_enums(message.enum_type, message.nested_type, full)


def _bounded_reservations(full: str, count: int) -> None:
    if count > MAX_RESERVED_RANGES:
        raise ManifestError(FIELD, f"{full} reserves {count} ranges, more than {MAX_RESERVED_RANGES}")


def _message_shape(
    full: str, file: str, message: descriptor_pb2.DescriptorProto, proto3: bool, map_entries: set[str]
) -> MessageShape:
    _bounded_reservations(full, len(message.reserved_range))
    fields: dict[int, FieldShape] = {}
    for field in message.field:
        if field.type not in KIND_NAMES:
            raise ManifestError(FIELD, f"field {full}.{field.name} has no type (type {field.type})")
        kind = KIND_NAMES[field.type]
        type_name = _strip(field.type_name, f"field {full}.{field.name}") if kind in NAMED_KINDS else ""
        oneof = None
        if field.HasField("oneof_index") and not field.proto3_optional:
            oneof = message.oneof_decl[field.oneof_index].name
        fields[field.number] = FieldShape(
            number=field.number,
            name=field.name,
            kind=kind,
            type_name=type_name,
            cardinality=_cardinality(field, proto3, map_entries),
            oneof=oneof,
            json_name=field.json_name if field.HasField("json_name") else default_json_name(field.name),
        )
    return MessageShape(
        full_name=full,
        file=file,
        fields=fields,
        reserved_ranges=tuple((r.start, r.end) for r in message.reserved_range),
        reserved_names=frozenset(message.reserved_name),
        map_entry=message.options.map_entry,
        message_set_wire_format=message.options.message_set_wire_format,
    )


def _schema(ordered: list[descriptor_pb2.FileDescriptorProto]) -> Schema:
    packages: dict[str, str] = {}
    raw_messages: list[tuple[str, str, descriptor_pb2.DescriptorProto, bool]] = []
    enums: dict[str, EnumShape] = {}
    services: dict[str, ServiceShape] = {}
    for proto in ordered:
        packages[proto.name] = proto.package
        proto3 = proto.syntax == "proto3"
        raw_messages += [
            (f, n, m, proto3) for f, n, m in _collect_messages(proto.message_type, proto.package, proto.name)
        ]
        for full, enum in _collect_enums(proto.enum_type, proto.message_type, proto.package):
            _bounded_reservations(full, len(enum.reserved_range))
            enums[full] = EnumShape(
                full_name=full,
                file=proto.name,
                values=tuple((v.name, v.number) for v in enum.value),
                reserved_ranges=tuple((r.start, r.end + 1) for r in enum.reserved_range),
                reserved_names=frozenset(enum.reserved_name),
            )
        for service in proto.service:
            full = f"{proto.package}.{service.name}" if proto.package else service.name
            methods = {
                m.name: MethodShape(
                    name=m.name,
                    input_type=_strip(m.input_type, f"rpc {full}.{m.name} request"),
                    output_type=_strip(m.output_type, f"rpc {full}.{m.name} response"),
                    client_streaming=m.client_streaming,
                    server_streaming=m.server_streaming,
                    idempotency=descriptor_pb2.MethodOptions.IdempotencyLevel.Name(
                        m.options.idempotency_level
                    ),
                )
                for m in service.method
            }
            services[full] = ServiceShape(full_name=full, file=proto.name, methods=methods)
    map_entries = {full for full, _, message, _ in raw_messages if message.options.map_entry}
    messages = {
        full: _message_shape(full, file, message, proto3, map_entries)
        for full, file, message, proto3 in raw_messages
    }
    return Schema(packages=packages, messages=messages, enums=enums, services=services)


@functools.lru_cache(maxsize=256)
def _load_cached(raw: bytes) -> Schema:
    parsed = _parse_set(raw)
    ordered = _dependency_order(list(parsed.file))
    _build_pool(ordered)
    schema = _schema(ordered)
    if not schema.messages:
        raise ManifestError(FIELD, "declares no message: an adapter contract needs at least one")
    return schema


def load_schema(data: bytes) -> Schema:
    """Validate ``data`` as a self-contained FileDescriptorSet and return its compatibility-relevant shape."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise ManifestError(FIELD, f"expected serialized FileDescriptorSet bytes, got {type(data).__name__}")
    return _load_cached(bytes(data))
