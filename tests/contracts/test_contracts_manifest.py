"""Manifest validation: every field checked, every error names the field and says what was expected."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from contracts_protos import BASE, compile_proto, manifest, message_set
from google.protobuf import descriptor_pb2

from energibridge.models.enums import VenueKind
from registry.contracts import AdapterManifest, ManifestError


def document(**overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "name": "demo-venue",
        "version": "1.0.0",
        "venue_kind": "order_book",
        "capabilities": ["books", "ioc_limit"],
        "ir_range": ">=1.0,<2.0",
        "descriptor_set": base64.b64encode(compile_proto(BASE)).decode(),
    }
    doc.update(overrides)
    return {k: v for k, v in doc.items() if v is not None}


def test_valid_manifest_round_trips_through_json() -> None:
    loaded = AdapterManifest.load(document())
    assert loaded.line == "demo-venue@1"
    assert [c.value for c in loaded.capabilities] == ["books", "ioc_limit"]
    again = AdapterManifest.load(loaded.to_json_dict())
    assert again == loaded
    assert again.sha256() == loaded.sha256()
    assert loaded.to_json_dict()["venue_kind"] == "order_book"


def test_descriptor_set_may_come_from_a_separate_file() -> None:
    raw = compile_proto(BASE)
    doc = document()
    del doc["descriptor_set"]
    assert AdapterManifest.load(doc, descriptor_set=raw) == AdapterManifest.load(document())
    with pytest.raises(ManifestError, match="both in the manifest and as a separate file"):
        AdapterManifest.load(document(), descriptor_set=raw)


@pytest.mark.parametrize("kind", ["perpetual", "PERPETUAL", "VENUE_KIND_PERPETUAL", 4])
def test_venue_kind_spellings(kind: object) -> None:
    loaded = AdapterManifest.load(document(venue_kind=kind, capabilities=["funding"]))
    assert loaded.venue_kind is VenueKind.PERPETUAL


def test_capability_order_does_not_change_the_digest() -> None:
    a = AdapterManifest.load(document(capabilities=["ioc_limit", "books"]))
    b = AdapterManifest.load(document(capabilities=["books", "ioc_limit"]))
    assert a.sha256() == b.sha256()


@pytest.mark.parametrize(
    ("overrides", "field", "expected"),
    [
        ({"name": "Demo"}, "name", "lowercase"),
        ({"name": "-demo"}, "name", "starting with a letter"),
        ({"name": "a" * 65}, "name", "1-64"),
        ({"name": 5}, "name", "expected a string"),
        ({"version": "1.0"}, "version", "MAJOR.MINOR.PATCH"),
        ({"version": "1.0.0+sha.1"}, "version", "build metadata"),
        ({"venue_kind": "dex"}, "venue_kind", "unknown venue kind 'dex'"),
        ({"venue_kind": 0}, "venue_kind", "unknown venue kind number 0"),
        ({"capabilities": []}, "capabilities", "at least one"),
        ({"capabilities": ["books", "books"]}, "capabilities", "listed twice"),
        ({"capabilities": ["teleport"]}, "capabilities", "unknown capability 'teleport'"),
        ({"capabilities": "books"}, "capabilities", "expected a list"),
        ({"capabilities": ["funding"]}, "capabilities", "needs venue_kind perpetual"),
        ({"ir_range": ">=1.0"}, "ir_range", "no upper bound"),
        ({"descriptor_set": "!!!"}, "descriptor_set", "base64"),
        ({"descriptor_set": ""}, "descriptor_set", "is empty"),
        (
            {"descriptor_set": base64.b64encode(b"\xff\xff\xff").decode()},
            "descriptor_set",
            "not a serialized",
        ),
    ],
)
def test_invalid_fields_are_refused_with_the_field_named(
    overrides: dict[str, Any], field: str, expected: str
) -> None:
    with pytest.raises(ManifestError, match=expected) as info:
        AdapterManifest.load(document(**overrides))
    assert info.value.field == field


def test_missing_and_unknown_fields_are_named() -> None:
    doc = document()
    del doc["ir_range"]
    with pytest.raises(ManifestError, match="ir_range") as info:
        AdapterManifest.load(doc)
    assert info.value.field == "ir_range"
    with pytest.raises(ManifestError, match="extra_field"):
        AdapterManifest.load(document(extra_field=1))


def test_several_problems_are_reported_together() -> None:
    with pytest.raises(ManifestError) as info:
        AdapterManifest.load(document(name="Bad", version="x"))
    assert "name:" in str(info.value) and "version:" in str(info.value)


def _set(*files: descriptor_pb2.FileDescriptorProto) -> bytes:
    return descriptor_pb2.FileDescriptorSet(file=list(files)).SerializeToString()


def test_descriptor_set_must_be_self_contained() -> None:
    with_import = 'syntax = "proto3";\npackage t;\nimport "google/protobuf/timestamp.proto";\n'
    with_import += "message M { google.protobuf.Timestamp at = 1; }\n"
    full = descriptor_pb2.FileDescriptorSet.FromString(compile_proto(with_import, "t/m.proto"))
    assert [f.name for f in full.file] == ["google/protobuf/timestamp.proto", "t/m.proto"]
    AdapterManifest.load(document(descriptor_set=full.SerializeToString()))
    with pytest.raises(ManifestError, match="not in the set") as info:
        AdapterManifest.load(document(descriptor_set=_set(full.file[1])))
    assert info.value.field == "descriptor_set"


def test_descriptor_set_must_build() -> None:
    proto = descriptor_pb2.FileDescriptorProto(name="x.proto", package="x", syntax="proto3")
    field = proto.message_type.add(name="M").field.add(name="a", number=1, label=1)
    field.type = descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE
    field.type_name = ".x.Missing"
    with pytest.raises(ManifestError, match="does not build"):
        AdapterManifest.load(document(descriptor_set=_set(proto)))
    proto.message_type.add(name="Other")
    field.type_name = "Other"  # resolvable, but relative: protoc always writes '.x.Other'
    with pytest.raises(ManifestError, match="not fully qualified"):
        AdapterManifest.load(document(descriptor_set=_set(proto)))


def test_descriptor_set_file_rules() -> None:
    proto = descriptor_pb2.FileDescriptorProto(name="x.proto", package="x", syntax="proto3")
    proto.message_type.add(name="M")
    with pytest.raises(ManifestError, match="appears twice"):
        AdapterManifest.load(document(descriptor_set=_set(proto, proto)))
    editions = descriptor_pb2.FileDescriptorProto()
    editions.CopyFrom(proto)
    editions.syntax = "editions"
    with pytest.raises(ManifestError, match="only proto2 and proto3"):
        AdapterManifest.load(document(descriptor_set=_set(editions)))
    empty = descriptor_pb2.FileDescriptorProto(name="e.proto", package="e", syntax="proto3")
    with pytest.raises(ManifestError, match="declares no message"):
        AdapterManifest.load(document(descriptor_set=_set(empty)))
    with pytest.raises(ManifestError, match="is empty"):
        AdapterManifest.load(document(descriptor_set=_set()))
    unrelated = descriptor_pb2.FileDescriptorProto(name="u.proto").SerializeToString()  # parses, no files
    with pytest.raises(ManifestError, match="holds no files"):
        AdapterManifest.load(document(descriptor_set=b"\x12" + bytes([len(unrelated)]) + unrelated))


def test_import_cycles_are_refused() -> None:
    a = descriptor_pb2.FileDescriptorProto(name="a.proto", package="c", dependency=["b.proto"])
    b = descriptor_pb2.FileDescriptorProto(name="b.proto", package="c", dependency=["a.proto"])
    with pytest.raises(ManifestError, match="import cycle"):
        AdapterManifest.load(document(descriptor_set=_set(a, b)))


def test_oversize_descriptor_set_is_refused() -> None:
    with pytest.raises(ManifestError, match="more than the limit"):
        AdapterManifest.load(document(descriptor_set=b"\x0a" * ((4 << 20) + 1)))


def test_manifest_helper_and_direct_sets_agree() -> None:
    built = manifest("1.0.0")
    assert built.wire_schema.messages.keys() >= {"demo.v1.Quote", "demo.v1.QuoteRequest"}
    direct = AdapterManifest.load(document(descriptor_set=message_set([("a", 1, "int64", "singular")])))
    assert list(direct.wire_schema.messages) == ["gen.v1.Gen"]
