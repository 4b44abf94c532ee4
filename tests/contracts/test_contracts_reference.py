"""The repository's own IR as a registrable contract."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2

from energibridge.models.enums import VenueKind
from registry.contracts import (
    AdapterManifest,
    ManifestError,
    RuleId,
    check_registration,
    compile_descriptor_set,
    ir_descriptor_set,
    manifest_from_sdk,
    reference_manifest,
)
from sdk.adapters import manifest as sdk

PROTO_ROOT = Path(__file__).resolve().parents[2] / "proto"
IR_PROTO = "arbsphere/energibridge/v1/ir.proto"


def test_ir_descriptor_set_equals_compiling_the_proto_sources() -> None:
    compiled = descriptor_pb2.FileDescriptorSet.FromString(compile_descriptor_set(PROTO_ROOT))
    generated = descriptor_pb2.FileDescriptorSet.FromString(ir_descriptor_set())
    assert generated == compiled
    assert ir_descriptor_set() == ir_descriptor_set()


def test_reference_manifest_carries_the_ir_contract() -> None:
    ref = reference_manifest("coinbase-advanced", "1.0.0", "order_book", ["books", "trades"])
    assert str(ref.ir_range) == ">=1.0.0,<2.0.0"
    schema = ref.wire_schema
    plan = schema.messages["arbsphere.energibridge.v1.PlanDelta"]
    assert (9, 10) in plan.reserved_ranges and "expected_profit" in plan.reserved_names
    assert "RoundStream" in schema.services["arbsphere.energibridge.v1.Coordinator"].methods
    assert check_registration(ref, []).accepted


def test_reference_manifest_validates_its_inputs() -> None:
    with pytest.raises(ManifestError, match="unknown capability"):
        reference_manifest("x", "1.0.0", "order_book", ["telepathy"])


def _edited_ir(tmp_path: Path, old: str, new: str) -> bytes:
    root = tmp_path / "proto"
    shutil.copytree(PROTO_ROOT, root)
    path = root / IR_PROTO
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))
    return compile_descriptor_set(root)


def _with(descriptor_set: bytes, version: str) -> AdapterManifest:
    ref = reference_manifest("ref", "1.0.0", "order_book", ["books"])
    document = ref.to_json_dict() | {"version": version}
    del document["descriptor_set"]
    return AdapterManifest.load(document, descriptor_set=descriptor_set)


def test_reusing_the_irs_reserved_plan_field_is_refused(tmp_path: Path) -> None:
    reused = _edited_ir(
        tmp_path,
        '  reserved 9;\n  reserved "expected_profit";\n',
        "  double expected_profit = 9;\n",
    )
    v1 = reference_manifest("ref", "1.0.0", "order_book", ["books"])
    verdict = check_registration(_with(reused, "1.1.0"), [v1])
    assert {(v.rule, v.path) for v in verdict.violations} == {
        (RuleId.RESERVED_NUMBER_REMOVED, "arbsphere.energibridge.v1.PlanDelta"),
        (RuleId.RESERVED_NAME_REMOVED, "arbsphere.energibridge.v1.PlanDelta"),
    }


def test_deleting_an_ir_field_without_reserving_it_is_refused(tmp_path: Path) -> None:
    deleted = _edited_ir(tmp_path, "  bytes state_hash = 8;", "")
    v1 = reference_manifest("ref", "1.0.0", "order_book", ["books"])
    verdict = check_registration(_with(deleted, "1.1.0"), [v1])
    assert {v.rule for v in verdict.violations} == {
        RuleId.FIELD_DELETED_NUMBER_UNRESERVED,
        RuleId.FIELD_DELETED_NAME_UNRESERVED,
    }
    assert {v.path for v in verdict.violations} == {"arbsphere.energibridge.v1.PlanDelta.state_hash"}


def test_manifest_from_an_sdk_adapter_declaration() -> None:
    declared = sdk.AdapterManifest(
        name="kraken-spot",
        version="1.2.0",
        venue="kraken",
        kind=sdk.AdapterKind.DATA_FEED,
        venue_kind=sdk.VenueKind.ORDER_BOOK,
        symbols=("BTC-USD",),
        capabilities=frozenset({sdk.Capability.BOOKS, sdk.Capability.BOOK_CHECKSUM}),
        ir_range=">=1.0.0,<2.0.0",
    )
    registered = manifest_from_sdk(declared)
    assert (registered.name, str(registered.version), registered.venue_kind) == (
        "kraken-spot",
        "1.2.0",
        VenueKind.ORDER_BOOK,
    )
    assert [c.value for c in registered.capabilities] == ["book_checksum", "books"]
    assert str(registered.ir_range) == ">=1.0.0,<2.0.0"
    assert registered.descriptor_set == ir_descriptor_set()
