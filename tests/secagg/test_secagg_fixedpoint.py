"""Fixed-point ring encoding: precision, two's complement, and refusals that name the index and value."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from energibridge.secagg import EncodingError, FixedPointCodec

RING = 1 << 64


@settings(max_examples=200)
@given(
    frac_bits=st.integers(0, 62),
    unit=st.floats(-1.0, 1.0, allow_nan=False),
    participants=st.integers(1, 1000),
)
def test_round_trip_is_within_half_a_unit(frac_bits: int, unit: float, participants: int) -> None:
    codec = FixedPointCodec(frac_bits)
    value = unit * codec.max_abs_value(participants)
    decoded = codec.decode(codec.encode([value], participants))[0]
    # half a unit from rounding, plus float64 rounding of the decoded integer (relative 2^-53)
    assert abs(decoded - value) <= codec.resolution / 2 + abs(value) * 2.0**-52


@settings(max_examples=100)
@given(
    values=st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=40),
    frac_bits=st.sampled_from([8, 20, 32, 40]),
)
def test_sum_of_encodings_decodes_to_the_float_sum(values: list[float], frac_bits: int) -> None:
    codec = FixedPointCodec(frac_bits)
    n = len(values)
    if max(abs(v) for v in values) > codec.max_abs_value(n):
        with pytest.raises(EncodingError):
            for v in values:
                codec.encode([v], n)
        return
    total = np.zeros(1, dtype=np.uint64)
    for v in values:
        total += codec.encode([v], n)
    true = math.fsum(values)
    assert abs(codec.decode(total)[0] - true) <= codec.sum_error_bound(n) + abs(true) * 2.0**-52


def test_negative_values_are_twos_complement() -> None:
    codec = FixedPointCodec(32)
    assert codec.encode([-1.0]).tolist() == [RING - (1 << 32)]
    assert codec.encode([1.0, 0.0, -0.5]).tolist() == [1 << 32, 0, RING - (1 << 31)]
    assert codec.decode([RING - 1]).tolist() == [-(2.0**-32)]
    assert codec.decode([(1 << 63) - 1, 1 << 63]).tolist() == [2.0**31 - 2.0**-32, -(2.0**31)]


def test_rounding_is_to_nearest_even_unit() -> None:
    codec = FixedPointCodec(0)
    assert codec.encode([0.5, 1.5, 2.5, -0.5, -1.5, 0.49]).view(np.int64).tolist() == [0, 2, 2, 0, -2, 0]


def test_precision_figures() -> None:
    codec = FixedPointCodec()
    assert codec.frac_bits == 32
    assert codec.resolution == 2.0**-32
    assert codec.sum_error_bound(200) == 200 * 2.0**-33
    assert codec.max_abs_value(1) == pytest.approx(2.0**31)
    assert codec.max_abs_value(200) == pytest.approx(2.0**31 / 200)


@pytest.mark.parametrize("participants", [1, 2, 3, 7, 200, 10**6])
def test_range_boundary_is_exact(participants: int) -> None:
    codec = FixedPointCodec(32)
    limit = codec.max_abs_value(participants)
    words = codec.encode([limit, -limit], participants).view(np.int64)
    assert int(words[0]) * participants <= (1 << 63) - 1
    assert int(words[1]) * participants >= -((1 << 63) - 1)
    above = math.nextafter(limit, math.inf)
    with pytest.raises(EncodingError, match=r"vector\[1\] = "):
        codec.encode([0.0, above], participants)


def test_overflow_refusal_depends_on_participant_count_and_names_index_and_value() -> None:
    codec = FixedPointCodec(32)
    value = 1e8  # fits for 2 participants (bound ~1.07e9), not for 30 (bound ~7.2e7)
    codec.encode([value], 2)
    with pytest.raises(EncodingError) as info:
        codec.encode([1.0, 2.0, value], 30)
    message = str(info.value)
    assert "vector[2] = 100000000.0" in message
    assert "30 participant(s)" in message
    assert "32 fractional bits" in message


@pytest.mark.parametrize(
    ("bad", "shown"), [(math.nan, "nan"), (math.inf, "inf"), (-math.inf, "-inf")], ids=["nan", "inf", "-inf"]
)
def test_non_finite_values_are_refused_with_their_index(bad: float, shown: str) -> None:
    with pytest.raises(EncodingError, match=rf"vector\[3\] is {shown}; expected a finite float"):
        FixedPointCodec().encode([0.0, 1.0, 2.0, bad, 4.0])


def test_field_name_is_used_in_messages() -> None:
    with pytest.raises(EncodingError, match=r"^x_i\[0\] is nan"):
        FixedPointCodec().encode([math.nan], field="x_i")


@pytest.mark.parametrize(
    ("vector", "expected"),
    [
        ([], "expected 1..1048576 entries, got 0"),
        ([[1.0, 2.0]], "expected a 1-D vector, got shape"),
        ("1.5", "expected a 1-D sequence of floats, got str"),
        (["1.5"], "expected real numbers"),
        ([True, False], "expected real numbers"),
        ([1 + 2j], "expected real numbers"),
        ([2**70], "expected real numbers"),
    ],
)
def test_malformed_vectors_are_refused(vector: object, expected: str) -> None:
    with pytest.raises(EncodingError, match=expected.replace("(", r"\(").replace(".", r"\.")):
        FixedPointCodec().encode(vector)  # type: ignore[arg-type]


def test_integers_are_accepted_as_values() -> None:
    codec = FixedPointCodec(4)
    assert codec.decode(codec.encode([3, -2, 5])).tolist() == [3.0, -2.0, 5.0]
    assert codec.decode(codec.encode(np.array([7], dtype=np.int32))).tolist() == [7.0]


@pytest.mark.parametrize("frac_bits", [-1, 63, 1.5, True, "32"])
def test_frac_bits_must_be_an_int_in_range(frac_bits: object) -> None:
    with pytest.raises(EncodingError, match="frac_bits: expected an int in"):
        FixedPointCodec(frac_bits)  # type: ignore[arg-type]


@pytest.mark.parametrize("participants", [0, -3, True, 2.0])
def test_participants_must_be_positive(participants: object) -> None:
    with pytest.raises(EncodingError, match="participants: expected an int in"):
        FixedPointCodec().encode([1.0], participants)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ([-1], r"words\[0\]: expected an int in \[0, 2\^64\), got -1"),
        ([0, RING], r"words\[1\]: expected an int in \[0, 2\^64\), got 18446744073709551616"),
        ([1.0], r"words\[0\]: expected an int in \[0, 2\^64\), got float"),
        ([True], r"words\[0\]: expected an int in \[0, 2\^64\), got bool"),
        (np.array([1], dtype=np.int64), "expected a 1-D uint64 array, got 1-D int64"),
    ],
)
def test_decode_refuses_words_outside_the_ring(words: object, expected: str) -> None:
    with pytest.raises(EncodingError, match=expected):
        FixedPointCodec().decode(words)  # type: ignore[arg-type]
