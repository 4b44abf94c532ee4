"""Wire/JSON compatibility rules, one change at a time, on descriptor sets compiled by protoc."""

from __future__ import annotations

import pytest
from contracts_protos import BASE, compile_proto

from registry.contracts import RuleId, Violation, load_schema, wire_violations
from registry.contracts.wire import subtract_ranges


def diff(old: str, new: str) -> list[Violation]:
    return wire_violations(load_schema(compile_proto(old)), load_schema(compile_proto(new)))


def rules(old: str, new: str) -> set[RuleId]:
    return {v.rule for v in diff(old, new)}


def quote(body: str, extra: str = "") -> str:
    """BASE with the Quote message body replaced."""
    return BASE.replace("  string symbol = 1;\n  double price = 2;\n  int64 size = 3;\n", body) + extra


def test_identical_schemas_are_compatible() -> None:
    assert diff(BASE, BASE) == []


def test_added_field_with_fresh_number_is_accepted() -> None:
    new = quote("  string symbol = 1;\n  double price = 2;\n  int64 size = 3;\n  string venue = 4;\n")
    assert diff(BASE, new) == []


def test_field_number_reuse_is_refused_and_named() -> None:
    new = quote("  string symbol = 1;\n  double price = 2;\n  int64 lot = 3;\n")
    violations = diff(BASE, new)
    assert [v.rule for v in violations] == [RuleId.FIELD_NUMBER_REUSED]
    violation = violations[0]
    assert violation.path == "demo.v1.Quote.size"
    assert violation.old == "int64 size = 3"
    assert violation.new == "int64 lot = 3"
    assert "number 3" in violation.message


def test_reuse_of_a_deleted_number_with_another_type_is_one_reuse_violation() -> None:
    new = quote("  string symbol = 1;\n  double price = 2;\n  string note = 3;\n")
    violations = diff(BASE, new)
    assert [v.rule for v in violations] == [RuleId.FIELD_NUMBER_REUSED]
    assert violations[0].new == "string note = 3"


def test_wire_incompatible_type_change_is_refused() -> None:
    new = quote("  string symbol = 1;\n  double price = 2;\n  string size = 3;\n")
    violations = diff(BASE, new)
    assert [v.rule for v in violations] == [RuleId.FIELD_TYPE_CHANGED]
    assert "varint vs length-delimited" in violations[0].message
    assert (violations[0].old, violations[0].new) == ("int64 size = 3", "string size = 3")


@pytest.mark.parametrize(
    ("old_type", "new_type"),
    [("int64", "sint64"), ("int32", "int64"), ("double", "float"), ("string", "bytes"), ("int64", "fixed64")],
)
def test_scalar_changes_outside_a_wire_json_group_are_refused(old_type: str, new_type: str) -> None:
    old = quote(f"  {old_type} a = 1;\n")
    new = quote(f"  {new_type} a = 1;\n")
    assert rules(old, new) == {RuleId.FIELD_TYPE_CHANGED}


@pytest.mark.parametrize(
    ("old_type", "new_type"),
    [("int32", "uint32"), ("uint64", "int64"), ("fixed32", "sfixed32"), ("sfixed64", "fixed64")],
)
def test_wire_json_compatible_scalar_swaps_are_accepted(old_type: str, new_type: str) -> None:
    assert diff(quote(f"  {old_type} a = 1;\n"), quote(f"  {new_type} a = 1;\n")) == []


def test_message_type_change_is_refused() -> None:
    extra = "message Other { string x = 1; }\n"
    old = quote("  QuoteRequest ref = 1;\n", extra)
    new = quote("  Other ref = 1;\n", extra)
    violations = diff(old, new)
    assert [v.rule for v in violations] == [RuleId.FIELD_TYPE_CHANGED]
    assert "demo.v1.QuoteRequest to demo.v1.Other" in violations[0].message


def test_label_change_singular_to_repeated_is_refused() -> None:
    new = quote("  string symbol = 1;\n  repeated double price = 2;\n  int64 size = 3;\n")
    violations = diff(BASE, new)
    assert [v.rule for v in violations] == [RuleId.FIELD_CARDINALITY_CHANGED]
    assert violations[0].path == "demo.v1.Quote.price"
    assert "implicit to repeated" in violations[0].message


def test_repeated_to_map_is_refused() -> None:
    extra = "message Pair { string key = 1; int64 value = 2; }\n"
    old = quote("  repeated Pair levels = 1;\n", extra)
    new = quote("  map<string, int64> levels = 1;\n", extra)
    assert RuleId.FIELD_CARDINALITY_CHANGED in rules(old, new)


def test_explicit_and_implicit_presence_are_wire_compatible() -> None:
    old = quote("  int64 size = 1;\n")
    new = quote("  optional int64 size = 1;\n")
    assert diff(old, new) == []
    assert diff(new, old) == []


def test_moving_a_field_into_a_oneof_is_refused() -> None:
    old = quote("  string a = 1;\n  string b = 2;\n")
    new = quote("  oneof choice {\n    string a = 1;\n    string b = 2;\n  }\n")
    assert rules(old, new) == {RuleId.FIELD_ONEOF_CHANGED}


def test_json_name_change_is_refused() -> None:
    old = quote("  string a = 1;\n")
    new = quote('  string a = 1 [json_name = "alpha"];\n')
    assert rules(old, new) == {RuleId.FIELD_JSON_NAME_CHANGED}


def test_unreserved_delete_names_number_and_name() -> None:
    new = quote("  string symbol = 1;\n  double price = 2;\n")
    violations = diff(BASE, new)
    assert {v.rule for v in violations} == {
        RuleId.FIELD_DELETED_NUMBER_UNRESERVED,
        RuleId.FIELD_DELETED_NAME_UNRESERVED,
    }
    assert all(v.path == "demo.v1.Quote.size" for v in violations)


def test_delete_with_only_the_number_reserved_still_needs_the_name() -> None:
    new = quote("  string symbol = 1;\n  double price = 2;\n  reserved 3;\n")
    assert rules(BASE, new) == {RuleId.FIELD_DELETED_NAME_UNRESERVED}


def test_reserved_delete_is_accepted() -> None:
    new = quote('  string symbol = 1;\n  double price = 2;\n  reserved 3;\n  reserved "size";\n')
    assert diff(BASE, new) == []


def test_delete_covered_by_a_reserved_range_is_accepted() -> None:
    new = quote('  string symbol = 1;\n  reserved 2 to 10;\n  reserved "price", "size";\n')
    assert diff(BASE, new) == []


def test_renumbered_field_is_refused() -> None:
    new = quote("  string symbol = 1;\n  double price = 2;\n  int64 size = 4;\n  reserved 3;\n")
    violations = diff(BASE, new)
    assert [v.rule for v in violations] == [RuleId.FIELD_RENUMBERED]
    assert violations[0].new == "int64 size = 4"


def test_removing_a_reservation_to_reuse_its_number_is_refused() -> None:
    old = quote('  string symbol = 1;\n  reserved 2, 3;\n  reserved "price";\n')
    new = quote('  string symbol = 1;\n  string note = 2;\n  reserved 3;\n  reserved "price";\n')
    violations = diff(old, new)
    assert [v.rule for v in violations] == [RuleId.RESERVED_NUMBER_REMOVED]
    assert "now used by 2 ('note')" in violations[0].message


def test_removing_a_reserved_name_is_refused() -> None:
    old = quote('  string symbol = 1;\n  reserved "price";\n')
    new = quote("  string symbol = 1;\n  double price = 2;\n")
    assert rules(old, new) == {RuleId.RESERVED_NAME_REMOVED}


def test_nested_message_and_map_value_changes_are_found() -> None:
    old = quote("  message Leg { int64 qty = 1; }\n  Leg leg = 1;\n  map<string, int64> fees = 2;\n")
    new = quote("  message Leg { string qty = 1; }\n  Leg leg = 1;\n  map<string, string> fees = 2;\n")
    paths = {(v.rule, v.path) for v in diff(old, new)}
    assert paths == {
        (RuleId.FIELD_TYPE_CHANGED, "demo.v1.Quote.Leg.qty"),
        (RuleId.FIELD_TYPE_CHANGED, "demo.v1.Quote.FeesEntry.value"),
    }


ENUM = "enum Side {\n  SIDE_UNSPECIFIED = 0;\n  SIDE_BUY = 1;\n  SIDE_SELL = 2;\n}\n"


def test_enum_value_added_is_accepted() -> None:
    new_enum = ENUM.replace("  SIDE_SELL = 2;\n", "  SIDE_SELL = 2;\n  SIDE_CROSS = 3;\n")
    assert diff(BASE + ENUM, BASE + new_enum) == []


def test_enum_value_renamed_is_refused() -> None:
    new_enum = ENUM.replace("SIDE_SELL = 2", "SIDE_ASK = 2")
    violations = diff(BASE + ENUM, BASE + new_enum)
    assert [v.rule for v in violations] == [RuleId.ENUM_VALUE_NAME_CHANGED]
    assert violations[0].path == "demo.v1.Side.SIDE_SELL"


def test_enum_value_deleted_without_reservation_is_refused() -> None:
    new_enum = ENUM.replace("  SIDE_SELL = 2;\n", "")
    assert rules(BASE + ENUM, BASE + new_enum) == {
        RuleId.ENUM_VALUE_DELETED_NUMBER_UNRESERVED,
        RuleId.ENUM_VALUE_DELETED_NAME_UNRESERVED,
    }


def test_enum_value_deleted_with_reservation_is_accepted() -> None:
    new_enum = ENUM.replace("  SIDE_SELL = 2;\n", '  reserved 2;\n  reserved "SIDE_SELL";\n')
    assert diff(BASE + ENUM, BASE + new_enum) == []


def test_enum_value_renumbered_is_refused() -> None:
    new_enum = ENUM.replace("  SIDE_SELL = 2;\n", "  SIDE_SELL = 5;\n  reserved 2;\n")
    assert rules(BASE + ENUM, BASE + new_enum) == {RuleId.ENUM_VALUE_RENUMBERED}


def test_service_rpc_changes_are_refused() -> None:
    changed_request = BASE.replace(
        "rpc Get(QuoteRequest) returns (Quote);", "rpc Get(Quote) returns (Quote);"
    )
    assert rules(BASE, changed_request) == {RuleId.RPC_REQUEST_TYPE_CHANGED}
    changed_response = BASE.replace("returns (Quote);", "returns (QuoteRequest);")
    assert rules(BASE, changed_response) == {RuleId.RPC_RESPONSE_TYPE_CHANGED}
    streaming = BASE.replace("returns (Quote);", "returns (stream Quote);")
    assert rules(BASE, streaming) == {RuleId.RPC_SERVER_STREAMING_CHANGED}
    client_streaming = BASE.replace("rpc Get(QuoteRequest)", "rpc Get(stream QuoteRequest)")
    assert rules(BASE, client_streaming) == {RuleId.RPC_CLIENT_STREAMING_CHANGED}
    idempotent = BASE.replace(
        "returns (Quote);", "returns (Quote) { option idempotency_level = NO_SIDE_EFFECTS; }"
    )
    assert rules(BASE, idempotent) == {RuleId.RPC_IDEMPOTENCY_CHANGED}


def test_deleted_rpc_and_service_are_refused() -> None:
    two = BASE.replace(
        "  rpc Get(QuoteRequest) returns (Quote);\n",
        "  rpc Get(QuoteRequest) returns (Quote);\n  rpc Peek(QuoteRequest) returns (Quote);\n",
    )
    assert rules(two, BASE) == {RuleId.RPC_DELETED}
    no_service = BASE[: BASE.index("service Feed")]
    assert rules(BASE, no_service) == {RuleId.SERVICE_DELETED}


def test_message_used_by_a_service_cannot_be_deleted() -> None:
    no_service_no_request = BASE[: BASE.index("message QuoteRequest")]
    violations = diff(BASE, no_service_no_request)
    assert {v.rule for v in violations} == {
        RuleId.SERVICE_DELETED,
        RuleId.MESSAGE_REFERENCED_BY_SERVICE_DELETED,
    }
    deleted = next(v for v in violations if v.rule == RuleId.MESSAGE_REFERENCED_BY_SERVICE_DELETED)
    assert deleted.path == "demo.v1.QuoteRequest"
    assert "demo.v1.Feed.Get request" in deleted.message


def test_message_not_used_by_a_service_may_be_deleted() -> None:
    extra = "message Unused { string x = 1; }\n"
    assert diff(BASE + extra, BASE) == []


def test_package_change_of_a_file_is_refused() -> None:
    moved = BASE.replace("package demo.v1;", "package demo.v2;")
    found = rules(BASE, moved)
    assert RuleId.PACKAGE_CHANGED in found
    assert RuleId.SERVICE_DELETED in found


def test_new_required_field_is_refused() -> None:
    old = 'syntax = "proto2";\npackage p2;\nmessage M {\n  optional string a = 1;\n}\n'
    new = (
        'syntax = "proto2";\npackage p2;\nmessage M {\n  optional string a = 1;\n  required int32 b = 2;\n}\n'
    )
    assert rules(old, new) == {RuleId.REQUIRED_FIELD_ADDED}
    made_required = old.replace("optional string a", "required string a")
    assert rules(old, made_required) == {RuleId.FIELD_CARDINALITY_CHANGED}


def test_every_violation_is_listed_not_just_the_first() -> None:
    new = quote("  repeated string symbol = 1;\n  string price = 2;\n  int64 lot = 3;\n")
    assert rules(BASE, new) == {
        RuleId.FIELD_CARDINALITY_CHANGED,
        RuleId.FIELD_TYPE_CHANGED,
        RuleId.FIELD_NUMBER_REUSED,
    }


def test_subtract_ranges_handles_large_reserved_spans() -> None:
    assert subtract_ranges([(1, 536_870_912)], [(5, 10)]) == [(1, 5), (10, 536_870_912)]
    assert subtract_ranges([(1, 3)], [(0, 100)]) == []
    assert subtract_ranges([(4, 6), (1, 2)], []) == [(1, 2), (4, 6)]
