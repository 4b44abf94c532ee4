"""BACKWARD_TRANSITIVE checks of a candidate against its adapter line, and the verdict it produces."""

from __future__ import annotations

import json

from contracts_protos import BASE, manifest, message_set
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from registry.contracts import AdapterManifest, RuleId, check_registration, compare
from registry.contracts.verdict import Verdict

WITH_LEGACY = BASE.replace("  int64 size = 3;\n", "  int64 size = 3;\n  string legacy = 4;\n")


def test_first_version_of_a_line_is_accepted() -> None:
    verdict = check_registration(manifest("1.0.0"), [])
    assert verdict.accepted and verdict.violations == ()
    assert verdict.checked_against == () and verdict.line == "demo-venue@1"


def test_transitive_check_refuses_what_only_an_older_version_forbids() -> None:
    """v2 deletes a whole message (no service uses it), v3 brings the name back with field 1 reused: fine
    against v2, which has no such message, but v1's data would be misread."""
    extra_v1 = "message Legacy { string note = 1; }\n"
    extra_v3 = "message Legacy { int64 count = 1; }\n"
    v1 = manifest("1.0.0", BASE + extra_v1)
    v2 = manifest("1.1.0", BASE)
    v3 = manifest("1.2.0", BASE + extra_v3)
    assert check_registration(v2, [v1]).accepted
    assert compare(v2, v3) == []  # compatible with its predecessor...
    verdict = check_registration(v3, [v1, v2])
    assert not verdict.accepted  # ...but not with v1
    assert verdict.checked_against == ("1.0.0", "1.1.0")
    assert [(v.rule, v.against, v.path) for v in verdict.violations] == [
        (RuleId.FIELD_NUMBER_REUSED, "1.0.0", "demo.v1.Legacy.note")
    ]


def test_out_of_order_hotfix_must_keep_later_versions_compatible() -> None:
    v1 = manifest("1.0.0")
    v12 = manifest("1.2.0", WITH_LEGACY)
    hotfix_ok = manifest("1.0.1")
    verdict = check_registration(hotfix_ok, [v1, v12])
    assert verdict.accepted
    assert (verdict.checked_against, verdict.checked_later) == (("1.0.0",), ("1.2.0",))
    clash = WITH_LEGACY.replace("string legacy = 4;", "int64 legacy = 4;")
    hotfix_bad = manifest("1.0.1", clash)
    refused = check_registration(hotfix_bad, [v1, v12])
    assert [(v.rule, v.against, v.direction) for v in refused.violations] == [
        (RuleId.FIELD_TYPE_CHANGED, "1.2.0", "later")
    ]


def test_new_major_starts_a_new_line() -> None:
    v1 = manifest("1.4.0")
    breaking = manifest("2.0.0", BASE.replace("int64 size = 3;", "string size = 3;"))
    verdict = check_registration(breaking, [v1])
    assert verdict.accepted and verdict.line == "demo-venue@2" and verdict.checked_against == ()


def test_other_adapters_are_not_part_of_the_line() -> None:
    other = manifest("1.0.0", BASE.replace("int64 size = 3;", "string size = 3;"), name="other")
    assert check_registration(manifest("1.1.0"), [other]).checked_against == ()


def test_duplicate_version_is_refused() -> None:
    v1 = manifest("1.0.0")
    same = check_registration(v1, [v1])
    assert [v.rule for v in same.violations] == [RuleId.VERSION_ALREADY_REGISTERED]
    assert "already registered" in same.violations[0].message
    different = manifest("1.0.0", WITH_LEGACY)
    assert "immutable" in check_registration(different, [v1]).violations[0].message


def test_ir_range_may_widen_but_not_narrow_within_a_line() -> None:
    v1 = manifest("1.0.0", ir_range=">=1.0,<2.0")
    assert check_registration(manifest("1.1.0", ir_range=">=1.0,<3.0"), [v1]).accepted
    verdict = check_registration(manifest("1.1.0", ir_range=">=1.2,<2.0"), [v1])
    assert [(v.rule, v.old, v.new) for v in verdict.violations] == [
        (RuleId.IR_RANGE_NARROWED, ">=1.0.0,<2.0.0", ">=1.2.0,<2.0.0")
    ]


def test_capabilities_may_be_added_not_removed_and_venue_kind_is_fixed() -> None:
    v1 = manifest("1.0.0", capabilities=["books", "ioc_limit"])
    assert check_registration(manifest("1.1.0", capabilities=["books", "ioc_limit", "cancel"]), [v1]).accepted
    removed = check_registration(manifest("1.1.0", capabilities=["books"]), [v1])
    assert [(v.rule, v.old) for v in removed.violations] == [(RuleId.CAPABILITY_REMOVED, "ioc_limit")]
    moved = check_registration(manifest("1.1.0", venue_kind="cpmm"), [v1])
    assert [v.rule for v in moved.violations] == [RuleId.VENUE_KIND_CHANGED]


def test_verdict_lists_every_violation_against_every_version() -> None:
    v1, v11 = manifest("1.0.0"), manifest("1.1.0", WITH_LEGACY)
    bad = manifest("1.2.0", BASE.replace("int64 size = 3;", "string size = 3;"), capabilities=["books"])
    verdict = check_registration(bad, [v11, v1])
    found = {(v.rule, v.against) for v in verdict.violations}
    assert {
        (RuleId.FIELD_TYPE_CHANGED, "1.0.0"),
        (RuleId.FIELD_TYPE_CHANGED, "1.1.0"),
        (RuleId.CAPABILITY_REMOVED, "1.0.0"),
        (RuleId.CAPABILITY_REMOVED, "1.1.0"),
        (RuleId.FIELD_DELETED_NUMBER_UNRESERVED, "1.1.0"),
        (RuleId.FIELD_DELETED_NAME_UNRESERVED, "1.1.0"),
    } == found


def test_verdict_bytes_are_canonical_and_deterministic() -> None:
    v1 = manifest("1.0.0")
    bad = manifest("1.1.0", BASE.replace("int64 size = 3;", "string size = 3;"))
    first = check_registration(bad, [v1]).canonical_json()
    assert first == check_registration(bad, [v1]).canonical_json()
    document = json.loads(first)
    assert first == json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
    assert document["accepted"] is False and document["policy"] == "BACKWARD_TRANSITIVE"
    assert document["violations"][0]["rule"] == "FIELD_TYPE_CHANGED"
    assert Verdict.model_validate_json(first).canonical_json() == first


def test_verdict_refuses_inconsistent_acceptance() -> None:
    document = json.loads(check_registration(manifest("1.0.0"), []).canonical_json())
    document["accepted"] = False
    try:
        Verdict.model_validate(document)
    except ValueError as exc:
        assert "accepted" in str(exc)
    else:
        raise AssertionError("an accepted=False verdict without violations must not validate")


SCALARS = [
    "int32",
    "int64",
    "uint32",
    "uint64",
    "sint32",
    "sint64",
    "bool",
    "string",
    "bytes",
    "double",
    "float",
]
LABELS = ["singular", "optional", "repeated"]
field_specs = st.lists(st.tuples(st.sampled_from(SCALARS), st.sampled_from(LABELS)), min_size=1, max_size=8)


def _manifest_of(raw: bytes, version: str) -> AdapterManifest:
    return AdapterManifest.load(
        {
            "name": "gen",
            "version": version,
            "venue_kind": "order_book",
            "capabilities": ["books"],
            "ir_range": ">=1.0,<2.0",
        },
        descriptor_set=raw,
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    base=field_specs,
    added=field_specs,
    gaps=st.lists(st.integers(1, 50), min_size=16, max_size=16),
    data=st.data(),
)
def test_adding_fields_with_fresh_numbers_is_always_accepted(
    base: list[tuple[str, str]], added: list[tuple[str, str]], gaps: list[int], data: st.DataObject
) -> None:
    numbers, number = [], 0
    for gap in gaps:
        number += gap
        numbers.append(number)
    numbers = data.draw(st.permutations(numbers))
    old_fields = [(f"f{i}", n, t, lab) for i, ((t, lab), n) in enumerate(zip(base, numbers, strict=False))]
    fresh = numbers[len(base) :]
    new_fields = old_fields + [
        (f"n{i}", n, t, lab) for i, ((t, lab), n) in enumerate(zip(added, fresh, strict=False))
    ]
    v1 = _manifest_of(message_set(old_fields), "1.0.0")
    v2 = _manifest_of(message_set(data.draw(st.permutations(new_fields))), "1.1.0")
    verdict = check_registration(v2, [v1])
    assert verdict.accepted, [v.render() for v in verdict.violations]


@settings(max_examples=60, deadline=None)
@given(base=field_specs, drop=st.data())
def test_deleting_fields_is_accepted_exactly_when_reserved(
    base: list[tuple[str, str]], drop: st.DataObject
) -> None:
    fields = [(f"f{i}", i + 1, t, lab) for i, (t, lab) in enumerate(base)]
    dropped = drop.draw(st.sets(st.sampled_from(range(len(fields))), min_size=1))
    kept = [f for i, f in enumerate(fields) if i not in dropped]
    gone = [fields[i] for i in sorted(dropped)]
    v1 = _manifest_of(message_set(fields), "1.0.0")
    reserved = _manifest_of(
        message_set(kept, reserved_numbers=[f[1] for f in gone], reserved_names=[f[0] for f in gone]), "1.1.0"
    )
    assert check_registration(reserved, [v1]).accepted
    unreserved = _manifest_of(message_set(kept), "1.1.0")
    refused = check_registration(unreserved, [v1])
    assert {(v.rule, v.path) for v in refused.violations} == {
        (rule, f"gen.v1.Gen.{f[0]}")
        for f in gone
        for rule in (RuleId.FIELD_DELETED_NUMBER_UNRESERVED, RuleId.FIELD_DELETED_NAME_UNRESERVED)
    }


@settings(max_examples=60, deadline=None)
@given(
    base=field_specs,
    index=st.integers(0, 7),
    new_type=st.sampled_from(SCALARS),
)
def test_changing_a_scalar_type_is_refused_unless_wire_json_compatible(
    base: list[tuple[str, str]], index: int, new_type: str
) -> None:
    fields = [(f"f{i}", i + 1, t, lab) for i, (t, lab) in enumerate(base)]
    index %= len(fields)
    name, number, old_type, label = fields[index]
    changed = fields.copy()
    changed[index] = (name, number, new_type, label)
    same_group = old_type == new_type or {old_type, new_type} in ({"int32", "uint32"}, {"int64", "uint64"})
    verdict = check_registration(
        _manifest_of(message_set(changed), "1.1.0"), [_manifest_of(message_set(fields), "1.0.0")]
    )
    assert verdict.accepted == same_group
    if not same_group:
        assert [v.rule for v in verdict.violations] == [RuleId.FIELD_TYPE_CHANGED]
