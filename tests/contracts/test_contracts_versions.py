"""Semantic versions of adapters and the IR ranges they speak."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from energibridge.version import IrVersion
from registry.contracts import IrRange, ManifestError, SemVer, parse_ir_version


def ir(text: str) -> IrVersion:
    return parse_ir_version(text)


def test_semver_precedence_matches_the_specification_example() -> None:
    ordered = [
        "1.0.0-alpha",
        "1.0.0-alpha.1",
        "1.0.0-alpha.beta",
        "1.0.0-beta",
        "1.0.0-beta.2",
        "1.0.0-beta.11",
        "1.0.0-rc.1",
        "1.0.0",
        "1.0.1",
        "1.1.0",
        "2.0.0",
    ]
    parsed = [SemVer.parse(v) for v in ordered]
    assert sorted(reversed(parsed)) == parsed
    assert [str(v) for v in parsed] == ordered


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("01.0.0", "MAJOR.MINOR.PATCH"),
        ("v1.0.0", "MAJOR.MINOR.PATCH"),
        ("1.0", "MAJOR.MINOR.PATCH"),
        ("1.0.0-", "MAJOR.MINOR.PATCH"),
        ("1.0.0-01", "MAJOR.MINOR.PATCH"),
        ("1.0.0+build.5", "build metadata"),
        ("4294967296.0.0", "exceeds"),
        ("1." * 100 + "0", "at most 128"),
    ],
)
def test_bad_semver_is_refused_naming_the_field(text: str, expected: str) -> None:
    with pytest.raises(ManifestError, match=expected) as info:
        SemVer.parse(text)
    assert info.value.field == "version"


def test_semver_refuses_non_strings() -> None:
    with pytest.raises(ManifestError, match="got int"):
        SemVer.parse(1)


@settings(deadline=None)
@given(st.tuples(*[st.integers(0, 10**6)] * 3), st.tuples(*[st.integers(0, 10**6)] * 3))
def test_release_precedence_is_numeric_tuple_order(a: tuple[int, int, int], b: tuple[int, int, int]) -> None:
    va, vb = SemVer(*a), SemVer(*b)
    assert (va < vb) == (a < b)
    assert SemVer.parse(str(va)) == va


def test_ir_versions_may_omit_minor_and_patch() -> None:
    assert ir("1") == IrVersion(major=1, minor=0, patch=0)
    assert ir("1.2") == IrVersion(major=1, minor=2, patch=0)
    with pytest.raises(ManifestError, match="MAJOR"):
        ir("1.x")


@pytest.mark.parametrize(
    ("text", "lower", "upper"),
    [
        (">=1.0,<2.0", "1.0.0", "2.0.0"),
        (">1.2.3,<=1.4", "1.2.4", "1.4.1"),
        ("==1.3.0", "1.3.0", "1.3.1"),
        ("<1.5", "0.0.0", "1.5.0"),
        (">=1.0, >=1.2, <3, <2.0", "1.2.0", "2.0.0"),
    ],
)
def test_ir_range_normalises_to_half_open(text: str, lower: str, upper: str) -> None:
    parsed = IrRange.parse(text)
    assert (str(parsed.lower), str(parsed.upper)) == (lower, upper)
    assert IrRange.parse(str(parsed)) == parsed


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (">=1.0", "no upper bound"),
        (">=2.0,<1.0", "contains no IR version"),
        ("~1.0", "must be a comparator"),
        ("", "comma-separated"),
        (">=1.0,,<2.0", "comma-separated"),
        (12, "got int"),
        ({"min_inclusive": "1.0"}, "exactly the keys"),
        ({"min_inclusive": "2.0", "max_exclusive": "2.0"}, "empty"),
    ],
)
def test_bad_ir_ranges_are_refused(value: object, expected: str) -> None:
    with pytest.raises(ManifestError, match=expected) as info:
        IrRange.parse(value)
    assert info.value.field.startswith("ir_range")


def test_ir_range_mapping_form() -> None:
    assert IrRange.parse({"min_inclusive": "1.1", "max_exclusive": "2"}) == IrRange.parse(">=1.1,<2.0")


def test_ir_range_relations() -> None:
    wide, narrow, later = (
        IrRange.parse(">=1.0,<2.0"),
        IrRange.parse(">=1.2,<1.5"),
        IrRange.parse(">=1.5,<3.0"),
    )
    assert wide.covers(narrow) and not narrow.covers(wide)
    assert wide.overlaps(later) and not narrow.overlaps(later)
    assert narrow.contains(ir("1.4.9")) and not narrow.contains(ir("1.5"))


versions = st.builds(
    lambda a, b, c: IrVersion(major=a, minor=b, patch=c),
    st.integers(0, 3),
    st.integers(0, 5),
    st.integers(0, 3),
)


@settings(max_examples=200, deadline=None)
@given(versions, versions, versions)
def test_range_contains_exactly_its_half_open_interval(a: IrVersion, b: IrVersion, v: IrVersion) -> None:
    if not a < b:
        return
    parsed = IrRange.parse(f">={a},<{b}")
    assert parsed.contains(v) == (a <= v < b)
