"""Lossless conversion between the pydantic IR models and their protobuf messages.

Conversion is generic: model field names equal protobuf field names (a test proves every protobuf field is
mirrored). Exact quantities travel as strings on the wire (decimals, 256-bit integers) and are parsed back by
the model's own validation, so a malformed value is refused with the field named.
"""

from __future__ import annotations

from decimal import Decimal
from enum import IntEnum
from typing import Any, TypeVar

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import DecodeError, Message
from pydantic import ValidationError

from energibridge.base import IrModel
from energibridge.errors import IrValidationError, MessageTooLarge
from energibridge.version import IrVersion, require_supported

M = TypeVar("M", bound=IrModel)

DEFAULT_MAX_MESSAGE_BYTES = 4 << 20
"""Default limit on an encoded IR message (matches the gRPC receive limit)."""


def _scalar_to_proto(field: Any, value: Any) -> Any:
    if isinstance(value, IntEnum):
        return int(value)
    if field.type == FieldDescriptor.TYPE_STRING and isinstance(value, Decimal | int):
        return str(value) if isinstance(value, int) else format(value, "f")
    return value


def to_proto(model: IrModel) -> Message:
    """The protobuf message for ``model`` (every field set, nested models converted)."""
    message = type(model).PROTO()
    fields = message.DESCRIPTOR.fields_by_name
    for name in type(model).model_fields:
        value = getattr(model, name)
        if value is None:
            continue
        field = fields[name]
        if field.is_repeated:
            container = getattr(message, name)
            if field.message_type is not None:
                for item in value:
                    container.add().CopyFrom(to_proto(item))
            else:
                container.extend(_scalar_to_proto(field, item) for item in value)
        elif field.message_type is not None:
            getattr(message, name).CopyFrom(to_proto(value))
        else:
            setattr(message, name, _scalar_to_proto(field, value))
    return message


def _raw_fields(model_cls: type[IrModel], message: Message) -> dict[str, Any]:
    fields = message.DESCRIPTOR.fields_by_name
    data: dict[str, Any] = {}
    for name in model_cls.model_fields:
        field = fields[name]
        raw = getattr(message, name)
        if field.is_repeated:
            if field.message_type is not None:
                sub = IrModel.for_proto_name(field.message_type.full_name)
                data[name] = tuple(_raw_fields(sub, item) for item in raw)
            else:
                data[name] = tuple(raw)
        elif field.message_type is not None:
            if message.HasField(name):
                sub = IrModel.for_proto_name(field.message_type.full_name)
                data[name] = _raw_fields(sub, raw)
            else:
                data[name] = None
        else:
            data[name] = raw
    return data


def _location(error: Any) -> str:
    return ".".join(str(part) for part in error["loc"]) or "<message>"


def _shown(value: object) -> str:
    """A short rendering of an offending input that cannot itself fail or grow without bound (``repr`` of
    an integer beyond 4,300 digits raises; a hostile string may be megabytes long)."""
    if isinstance(value, dict):
        return "{...}"
    if isinstance(value, int) and value.bit_length() > 256:
        return f"<integer of {value.bit_length()} bits>"
    if isinstance(value, str | bytes) and len(value) > 120:
        value = value[:120]
    if isinstance(value, list | tuple) and len(value) > 8:
        return f"<{type(value).__name__} of {len(value)} items>"
    try:
        return repr(value)[:120]
    except Exception:  # a value whose repr fails is shown by its type alone
        return f"<{type(value).__name__}>"


def validation_error(model_cls: type[IrModel], exc: ValidationError) -> IrValidationError:
    """Turn pydantic's report into our boundary error, naming the first offending field."""
    first = exc.errors(include_url=False)[0]
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return IrValidationError(
        f"{model_cls.__name__}.{_location(first)}", f"{first['msg']}; got {_shown(first.get('input'))}{more}"
    )


def from_proto(model_cls: type[M], message: Message) -> M:
    """Validate a protobuf message into its model; refuses unknown majors, enums and invalid values."""
    if message.DESCRIPTOR.full_name != model_cls.PROTO.DESCRIPTOR.full_name:
        raise IrValidationError(
            model_cls.__name__,
            f"expected a {model_cls.PROTO.DESCRIPTOR.full_name} message, got {message.DESCRIPTOR.full_name}",
        )
    data = _raw_fields(model_cls, message)
    version = data.get("ir_version")
    try:
        if "ir_version" in model_cls.model_fields and version is not None:
            require_supported(IrVersion.model_validate(version))
        return model_cls.model_validate(data)
    except ValidationError as exc:
        raise validation_error(model_cls, exc) from None


def encode(model: IrModel) -> bytes:
    """Wire bytes of ``model`` (protobuf; deterministic within one protobuf runtime)."""
    return to_proto(model).SerializeToString(deterministic=True)


def encode_json(model: IrModel) -> str:
    """The JSON form of ``model`` (pydantic's: decimals and 256-bit integers as text, bytes as base64)."""
    return model.model_dump_json()


def decode_json(model_cls: type[M], data: str | bytes, max_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> M:
    """Parse the JSON form into a validated model; refuses oversize, malformed and invalid input with
    ``IrValidationError`` (or ``IncompatibleVersion``, ``MessageTooLarge``), like ``decode``.

    The parser (pydantic-core) stops at 200 levels of nesting and refuses integers it cannot hold, so
    neither recursion nor a huge number reaches the models; decimals must be JSON strings."""
    size = len(data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data)
    if size > max_bytes:
        raise MessageTooLarge(size, max_bytes, model_cls.PROTO.DESCRIPTOR.full_name)
    try:
        model = model_cls.model_validate_json(data)
    except ValidationError as exc:
        raise validation_error(model_cls, exc) from None
    version = getattr(model, "ir_version", None)
    if isinstance(version, IrVersion):
        require_supported(version)
    return model


def decode(model_cls: type[M], data: bytes, max_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> M:
    """Parse wire bytes into a validated model; refuses oversize and malformed input."""
    if len(data) > max_bytes:
        raise MessageTooLarge(len(data), max_bytes, model_cls.PROTO.DESCRIPTOR.full_name)
    message = model_cls.PROTO()
    try:
        message.ParseFromString(data)
    except DecodeError as exc:
        raise IrValidationError(model_cls.__name__, f"malformed protobuf bytes: {exc}") from None
    return from_proto(model_cls, message)
