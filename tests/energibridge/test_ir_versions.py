"""IR version negotiation: the major must match, the minor is additive."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from energibridge import IncompatibleVersion, IrValidationError, IrVersion, negotiate

small = st.integers(0, 1000)


@given(small, small, small, small, small)
def test_same_major_agrees_on_the_lower_minor(major: int, a: int, b: int, pa: int, pb: int) -> None:
    va, vb = IrVersion(major=major, minor=a, patch=pa), IrVersion(major=major, minor=b, patch=pb)
    agreed = negotiate(va, vb)
    assert agreed == negotiate(vb, va) == min(va, vb)
    assert agreed.minor == min(a, b)


def test_different_major_names_both_versions() -> None:
    with pytest.raises(IncompatibleVersion) as info:
        negotiate(IrVersion.parse("1.4.0"), IrVersion.parse("2.0.1"))
    assert "local 1.4.0" in str(info.value) and "remote 2.0.1" in str(info.value)


@pytest.mark.parametrize("text", ["1", "1.2", "v1.2.3", "1.2.3.4", "01.2.3", "-1.0.0", "a.b.c"])
def test_malformed_version_strings_refused(text: str) -> None:
    with pytest.raises(IrValidationError, match=r"expected MAJOR\.MINOR\.PATCH"):
        IrVersion.parse(text)


def test_parse_and_str_round_trip() -> None:
    assert str(IrVersion.parse("1.12.3")) == "1.12.3"
