"""The Graph-of-Contracts registry under hostile descriptor sets and manifests: only its documented errors.

Descriptor sets are real ones (a small adapter contract compiled by protoc, and the repository's whole IR)
damaged at the byte level (bit flips, overwritten bytes, truncation, lost or repeated stretches) or edited
structurally (a field of any descriptor message set to a hostile value, an item removed or repeated).
Manifests are valid JSON documents with one field replaced by a hostile value, given as a document and as
text. Whatever is accepted goes through every consumer: compatibility against earlier versions both ways,
the graph's queries, canonical JSON, and registration in a fresh store. Any exception other than a
``ContractError`` (``ManifestError``, ``RegistrationRefused``, ...) is a crash.
"""

from __future__ import annotations

import base64
import contextlib
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import descriptor_pb2
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from hypothesis import given
from hypothesis import strategies as st

from energibridge.version import IrVersion
from registry.contracts import (
    AdapterManifest,
    ContractError,
    ContractGraph,
    ContractRegistry,
    ContractStore,
    InMemoryVerdictSink,
    check_registration,
    compare,
    ir_descriptor_set,
)
from registry.contracts.compatibility import IrRule
from tests.fuzz.fuzz_support import (
    HUGE_TOKENS,
    TEXT_VALUES,
    WRONG_TYPES,
    Tally,
    damaged_bytes,
    fuzz_settings,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "contracts"))
from contracts_protos import BASE, compile_proto

pytestmark = pytest.mark.timeout(600)

EVOLVED = BASE.replace("int64 size = 3;", "int64 size = 3;\n  string venue = 4;\n  reserved 9 to 12;")
TALLIES = {"descriptor sets": Tally("registry/descriptor sets"), "manifests": Tally("registry/manifests")}


def _document(descriptor_set: bytes, version: str = "1.0.0") -> dict[str, Any]:
    return {
        "name": "demo-venue",
        "version": version,
        "venue_kind": "order_book",
        "capabilities": ["books", "ioc_limit"],
        "ir_range": ">=1.0,<2.0",
        "descriptor_set": base64.b64encode(descriptor_set).decode(),
    }


@pytest.fixture(scope="module")
def seeds() -> dict[str, Any]:
    base, evolved, ir = compile_proto(BASE), compile_proto(EVOLVED), ir_descriptor_set()
    return {
        "sets": [base, evolved, ir],
        "earlier": [
            AdapterManifest.load(_document(base, "1.0.0")),
            AdapterManifest.load(_document(evolved, "1.1.0")),
            AdapterManifest.load({**_document(ir, "1.2.0")}),
        ],
    }


def _exercise(manifest: AdapterManifest, earlier: list[AdapterManifest], tally: Tally) -> None:
    """Every consumer of an accepted manifest; only ``ContractError`` may come out of any of them."""
    for old in earlier:
        compare(old, manifest)
        compare(manifest, old)
        compare(old, manifest, IrRule.OVERLAPS)
    verdict = check_registration(manifest, earlier)
    json.dumps(verdict.model_dump(mode="json"))
    manifest.sha256()
    AdapterManifest.load(manifest.to_json_dict())
    graph = ContractGraph([*earlier[:1], manifest] if manifest.version != earlier[0].version else [manifest])
    graph.speakers(IrVersion(major=1, minor=1, patch=0))
    graph.edges()
    graph.to_json_dict()
    with contextlib.suppress(ContractError):
        graph.upgrade_path(manifest.name, earlier[0].version, manifest.version)
    registry = ContractRegistry(ContractStore.open("sqlite://"), InMemoryVerdictSink())
    try:
        registry.register(earlier[0])
        registry.register(manifest)
        tally.outcome("registered")
    except ContractError:
        tally.outcome("registration refused")


def _judge(tally: Tally, kind: str, action: Any) -> None:
    tally.attempt(kind)
    try:
        action()
    except ContractError:
        tally.outcome("documented error")
    except Exception as exc:  # anything else escaping the registry is the crash we count
        tally.fail("crash", f"{type(exc).__name__}: {exc!s:.300} (after a {kind})")
    else:
        tally.outcome("accepted")


def _messages(root: Message) -> list[Message]:
    out: list[Message] = []
    stack = [root]
    while stack:
        message = stack.pop()
        out.append(message)
        for field, value in message.ListFields():
            if field.type == FieldDescriptor.TYPE_MESSAGE:
                stack.extend(value if field.is_repeated else (value,))
    return out


HOSTILE_INTS = (0, -1, 1, 2, 3, 18, 19_000, 19_999, 536_870_911, 536_870_912, 2**31 - 1, -(2**31))
HOSTILE_NAMES = ("", ".", "..", ".demo.v1.Quote", "demo.v1.Quote", "x" * 300, "é", "Quote", "a b", "proto4")


@st.composite
def _structural(draw: st.DrawFn, raw: bytes) -> bytes:
    """A descriptor set with one field of one of its descriptor messages set to a hostile value."""
    document = descriptor_pb2.FileDescriptorSet.FromString(raw)
    for _ in range(draw(st.integers(1, 3))):
        messages = _messages(document)
        message = messages[draw(st.integers(0, len(messages) - 1))]
        fields = message.DESCRIPTOR.fields
        field = fields[draw(st.integers(0, len(fields) - 1))]
        try:
            if field.is_repeated:
                container = getattr(message, field.name)
                if field.type == FieldDescriptor.TYPE_MESSAGE:
                    if len(container) and draw(st.booleans()):
                        del container[draw(st.integers(0, len(container) - 1))]
                    elif len(container):
                        container.add().CopyFrom(container[draw(st.integers(0, len(container) - 1))])
                    else:
                        container.add()
                elif field.type == FieldDescriptor.TYPE_STRING:
                    container.append(draw(st.sampled_from(HOSTILE_NAMES)))
                elif field.cpp_type in (FieldDescriptor.CPPTYPE_INT32, FieldDescriptor.CPPTYPE_INT64):
                    container.append(draw(st.sampled_from(HOSTILE_INTS)))
            elif field.type == FieldDescriptor.TYPE_MESSAGE:
                getattr(message, field.name).SetInParent()
            elif field.type == FieldDescriptor.TYPE_STRING:
                setattr(message, field.name, draw(st.sampled_from(HOSTILE_NAMES)))
            elif field.type == FieldDescriptor.TYPE_BOOL:
                setattr(message, field.name, draw(st.booleans()))
            elif field.type == FieldDescriptor.TYPE_ENUM:
                setattr(
                    message, field.name, draw(st.sampled_from([v.number for v in field.enum_type.values]))
                )
            elif field.cpp_type in (FieldDescriptor.CPPTYPE_INT32, FieldDescriptor.CPPTYPE_INT64):
                setattr(message, field.name, draw(st.sampled_from(HOSTILE_INTS)))
            elif field.cpp_type in (FieldDescriptor.CPPTYPE_UINT32, FieldDescriptor.CPPTYPE_UINT64):
                setattr(message, field.name, abs(draw(st.sampled_from(HOSTILE_INTS))))
        except (TypeError, ValueError):
            continue  # a value the field's own type refuses: not a descriptor set anybody can send
    return document.SerializeToString()


def test_hostile_descriptor_sets_give_only_documented_errors(seeds: dict[str, Any]) -> None:
    tally = TALLIES["descriptor sets"]

    @fuzz_settings(500)
    @given(st.data())
    def explore(data: st.DataObject) -> None:
        raw = data.draw(st.sampled_from(seeds["sets"]))
        if data.draw(st.booleans()):
            kind, damaged = data.draw(damaged_bytes(raw, splice_max=64))
        else:
            kind, damaged = "structural", data.draw(_structural(raw))

        def action() -> None:
            manifest = AdapterManifest.load({**_document(b"", "1.3.0"), "descriptor_set": damaged})
            _exercise(manifest, seeds["earlier"], tally)

        _judge(tally, kind, action)

    try:
        explore()
    finally:
        tally.print()
    assert not tally.failures, tally.report()


def _deep(depth: int) -> Any:
    value: Any = "books"
    for _ in range(depth):
        value = [value]
    return value


HOSTILE_VALUES: tuple[Any, ...] = (
    *WRONG_TYPES,
    *TEXT_VALUES,
    *HUGE_TOKENS,
    "1" * 5000,
    "x" * 100_000,
    ">=1.0," + "<2.0," * 500,
    ">=1.0,<" + "9" * 5000,
    ">=" + "1" * 40 + ",<2",
    "1.0.0-" + "a." * 100 + "b",
    "1.0.0+build",
    "\u0661.0.0",
    {"min_inclusive": "1" * 5000, "max_exclusive": "2"},
    {"min_inclusive": "1.0", "max_exclusive": "1" * 40},
    {"min_inclusive": 1, "max_exclusive": 2},
    {1: "a", "b": 2},
    _deep(50),
    _deep(5000),
    ["books"] * 1000,
    ["books", "books"],
    ["funding"],
    float("nan"),
    float("inf"),
    10**400,
)


@st.composite
def _manifest_input(draw: st.DrawFn, descriptor_set: bytes) -> tuple[str, Any]:
    document: dict[str, Any] = _document(descriptor_set, "1.4.0")
    kind = draw(st.sampled_from(["field value", "extra field", "missing field", "text"]))
    key = draw(st.sampled_from(sorted(document)))
    if kind == "field value":
        document[key] = draw(st.sampled_from(HOSTILE_VALUES))
    elif kind == "extra field":
        document[draw(st.sampled_from(["extra", "Name", ""]))] = draw(st.sampled_from(HOSTILE_VALUES))
    elif kind == "missing field":
        del document[key]
    else:
        text = json.dumps(document)
        choice = draw(st.sampled_from(["nest", "truncate", "bytes", "huge"]))
        if choice == "nest":
            depth = draw(st.sampled_from([100, 10_000, 200_000]))
            return kind, ("[" * depth + text + "]" * depth).encode()
        if choice == "truncate":
            return kind, text[: draw(st.integers(0, len(text) - 1))].encode()
        if choice == "huge":
            return kind, text.replace('"1.4.0"', "1" + "0" * 5000).encode()
        return kind, text.encode() + bytes([draw(st.integers(128, 255))])
    return kind, document


def test_hostile_manifests_give_only_documented_errors(seeds: dict[str, Any]) -> None:
    tally = TALLIES["manifests"]

    @fuzz_settings(400)
    @given(st.data())
    def explore(data: st.DataObject) -> None:
        kind, value = data.draw(_manifest_input(data.draw(st.sampled_from(seeds["sets"]))))

        def action() -> None:
            if isinstance(value, bytes):
                manifest = AdapterManifest.loads(value)
            else:
                manifest = AdapterManifest.load(value)
                AdapterManifest.loads(json.dumps(value, default=str))
            _exercise(manifest, seeds["earlier"], tally)

        _judge(tally, kind, action)

    try:
        explore()
    finally:
        tally.print()
    assert not tally.failures, tally.report()
