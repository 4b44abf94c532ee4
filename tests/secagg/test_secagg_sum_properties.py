"""Invariants of the whole protocol: the secure sum is the float sum, and masked words look uniform."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from secagg_helpers import make_clients

from coordinator.secagg import Abandoned, AggregateResult, Aggregator, RetryWith
from energibridge.secagg import FixedPointCodec

venue_ids = st.text(min_size=1, max_size=6)


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_secure_sum_equals_the_float_sum_through_dropouts_and_retries(data: st.DataObject) -> None:
    n = data.draw(st.integers(2, 30), label="n")
    venues = data.draw(st.lists(venue_ids, min_size=n, max_size=n, unique=True), label="venues")
    m = data.draw(st.integers(1, 24), label="m")
    codec = FixedPointCodec(data.draw(st.sampled_from([16, 24, 32, 40]), label="frac_bits"))
    bound = codec.max_abs_value(n)
    values = st.floats(-bound, bound, allow_nan=False)
    vectors = {v: data.draw(st.lists(values, min_size=m, max_size=m), label=f"x[{v}]") for v in venues}
    session = data.draw(st.text(min_size=1, max_size=8), label="session")
    clients = make_clients(venues, session, codec)
    agg = Aggregator(venues, m, codec=codec, first_round_id=data.draw(st.integers(0, 2**64 - 64)))
    now = 0.0
    while True:
        rnd = agg.open_round(deadline=now + 1.0)
        crash = data.draw(
            st.sets(st.sampled_from(rnd.mask_set), max_size=len(rnd.mask_set) // 2), label="crash"
        )
        outcome = None
        for v in rnd.mask_set:
            if v not in crash:
                outcome = agg.submit(rnd.round_id, v, clients[v].mask(rnd.round_id, rnd.mask_set, vectors[v]))
        now += 1.0
        outcome = outcome or agg.poll(now)
        if isinstance(outcome, RetryWith):
            assert set(outcome.dropped) == crash
            assert agg.members == outcome.survivors
            continue
        if isinstance(outcome, Abandoned):
            assert len(outcome.survivors) < 2
            return
        assert isinstance(outcome, AggregateResult)
        assert not crash
        k = len(outcome.participants)
        for j in range(m):
            true = math.fsum(vectors[v][j] for v in outcome.participants)
            assert abs(outcome.total[j] - true) <= codec.sum_error_bound(k) + abs(true) * 2.0**-52
        return


def _chi_square_over_bytes(words: np.ndarray) -> float:
    counts = np.bincount(words.astype("<u8").ravel().view(np.uint8), minlength=256).astype(float)
    expected = counts.sum() / 256
    return float(((counts - expected) ** 2 / expected).sum())


def test_masked_words_are_byte_uniform_while_plain_encodings_are_not() -> None:
    """Chi-square over 256 byte values (df = 255, sd ~ 22.6); keys are fixed, so this is deterministic."""
    venues = [f"venue-{i:02d}" for i in range(30)]
    clients = make_clients(venues)
    rng = np.random.default_rng(7)  # test inputs only; no secret comes from numpy
    vectors = {v: rng.normal(0.0, 10.0, 512) for v in venues}
    masked = np.array([clients[v].mask(9, venues, vectors[v]) for v in venues], dtype=np.uint64)
    plain = np.array([FixedPointCodec().encode(vectors[v], 30) for v in venues], dtype=np.uint64)
    assert _chi_square_over_bytes(masked) < 400.0
    assert _chi_square_over_bytes(plain) > 10_000.0
    # every single word differs from the plain encoding
    assert not np.any(masked == plain)


def test_the_same_vector_masks_to_unrelated_words_in_another_round() -> None:
    venues = ["a", "b", "c"]
    clients = make_clients(venues)
    vector = [1.0] * 256
    first = np.array(clients["a"].mask(1, venues, vector), dtype=np.uint64)
    second = np.array(clients["a"].mask(2, venues, vector), dtype=np.uint64)
    assert not np.any(first == second)
    same_bytes = np.mean(first.view(np.uint8) == second.view(np.uint8))
    assert same_bytes < 0.02  # ~1/256 expected
