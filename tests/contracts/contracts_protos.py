"""Helpers for the contract-registry tests: compile small .proto texts and build manifests from them."""

from __future__ import annotations

import functools
import tempfile
from collections.abc import Sequence
from pathlib import Path

from registry.contracts import AdapterManifest, compile_descriptor_set

BASE = """
syntax = "proto3";
package demo.v1;

message Quote {
  string symbol = 1;
  double price = 2;
  int64 size = 3;
}

message QuoteRequest {
  string symbol = 1;
}

service Feed {
  rpc Get(QuoteRequest) returns (Quote);
}
"""


@functools.lru_cache(maxsize=128)
def compile_proto(source: str, name: str = "demo/v1/feed.proto") -> bytes:
    """Serialized FileDescriptorSet of one .proto text (with its well-known imports)."""
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)
        return compile_descriptor_set(Path(scratch), [name])


def manifest(
    version: str,
    source: str = BASE,
    *,
    name: str = "demo-venue",
    ir_range: str = ">=1.0,<2.0",
    capabilities: Sequence[str] = ("books", "ioc_limit"),
    venue_kind: str = "order_book",
) -> AdapterManifest:
    return AdapterManifest.load(
        {
            "name": name,
            "version": version,
            "venue_kind": venue_kind,
            "capabilities": list(capabilities),
            "ir_range": ir_range,
        },
        descriptor_set=compile_proto(source),
    )


def message_set(
    fields: Sequence[tuple[str, int, str, str]],
    *,
    reserved_numbers: Sequence[int] = (),
    reserved_names: Sequence[str] = (),
    package: str = "gen.v1",
) -> bytes:
    """A one-message descriptor set built directly (no protoc): fields are (name, number, type, label) with
    type a scalar name (``int64``) and label ``singular``/``optional``/``repeated``."""
    from google.protobuf import descriptor_pb2

    fdp = descriptor_pb2.FieldDescriptorProto
    proto = descriptor_pb2.FileDescriptorProto(name="gen/v1/gen.proto", package=package, syntax="proto3")
    message = proto.message_type.add(name="Gen")
    for name, number, type_name, label in fields:
        field = message.field.add(
            name=name,
            number=number,
            type=fdp.Type.Value(f"TYPE_{type_name.upper()}"),
            label=fdp.LABEL_REPEATED if label == "repeated" else fdp.LABEL_OPTIONAL,
        )
        if label == "optional":
            field.proto3_optional = True
            field.oneof_index = len(message.oneof_decl)
            message.oneof_decl.add(name=f"_{name}")
    for number in reserved_numbers:
        message.reserved_range.add(start=number, end=number + 1)
    message.reserved_name.extend(reserved_names)
    return descriptor_pb2.FileDescriptorSet(file=[proto]).SerializeToString(deterministic=True)
