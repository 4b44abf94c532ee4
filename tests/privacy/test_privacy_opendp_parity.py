"""The accountant's figures are OpenDP's own: composition, odometer, filter and (epsilon, delta)."""

# OpenDP's Measurement.map carries no annotations.
# mypy: disable-error-code="no-untyped-call"

from __future__ import annotations

from typing import Any

import opendp.prelude as dp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.privacy import (
    BudgetExhausted,
    PrivacyAccountant,
    PrivacyPolicy,
    calibrate_gaussian,
    compose_rho,
    epsilon_for_rho,
)
from agents.privacy.opendp_bridge import vector_space

DELTA = 1e-6
NOW_MS = 1_750_000_000_000


def _session(rhos: list[float], sensitivity: float, dimension: int) -> tuple[PrivacyAccountant, list[Any]]:
    """Run ``rhos`` through an accountant; return it and the OpenDP measurements it used."""
    acc = PrivacyAccountant("venue-a", PrivacyPolicy(sum(rhos) * 2, 3600, delta=DELTA), clock=lambda: NOW_MS)
    measurements = []
    for i, rho in enumerate(rhos):
        release = acc.release_with_record([float(i)] * dimension, sensitivity, rho)
        meas, scale, charge = calibrate_gaussian(sensitivity, rho, dimension)
        assert release.record.noise_scale == scale and release.record.rho_charged == charge <= rho
        measurements.append(meas)
    return acc, measurements


def test_composed_session_epsilon_equals_opendp_composition() -> None:
    rhos = [0.01] * 12 + [0.003, 0.05, 0.02]
    acc, measurements = _session(rhos, sensitivity=2.5, dimension=3)
    composed = dp.c.make_composition(measurements)
    assert acc.spent_zcdp_rho == composed.map(2.5)  # bit for bit
    reference_eps = dp.c.make_zCDP_to_approxDP(composed).map(2.5).epsilon(DELTA)
    assert acc.epsilon_spent() == reference_eps
    fixed = dp.c.make_fix_delta(dp.c.make_zCDP_to_approxDP(composed), DELTA).map(2.5)
    assert fixed == (acc.epsilon_spent(), DELTA)
    assert acc.snapshot().epsilon_spent == reference_eps


def test_spend_equals_the_opendp_zcdp_odometer() -> None:
    rhos = [0.02, 0.0071, 0.013, 0.2, 0.0005] * 3
    acc, measurements = _session(rhos, sensitivity=1.0, dimension=2)
    odometer = dp.c.make_fully_adaptive_composition(*vector_space(2), dp.zero_concentrated_divergence())
    queryable = odometer([0.0, 0.0])
    for meas in measurements:
        queryable(meas)
    assert acc.spent_zcdp_rho == queryable.privacy_loss(1.0)


def test_refuses_where_the_opendp_privacy_filter_refuses() -> None:
    budget, rho, sensitivity = 0.25, 0.03, 1.5
    acc = PrivacyAccountant("venue-b", PrivacyPolicy(budget, 60), clock=lambda: NOW_MS)
    odometer = dp.c.make_fully_adaptive_composition(*vector_space(1), dp.zero_concentrated_divergence())
    opendp_filter = dp.c.make_privacy_filter(odometer, d_in=sensitivity, d_out=budget)([0.0])
    meas, _, _ = calibrate_gaussian(sensitivity, rho, 1)
    ours = theirs = None
    for i in range(10):
        try:
            acc.release([0.0], sensitivity, rho)
        except BudgetExhausted:
            ours = ours if ours is not None else i
        try:
            opendp_filter(meas)
        except dp.OpenDPException:
            theirs = theirs if theirs is not None else i
    assert ours == theirs == 8  # 8 x 0.03 = 0.24 fits in 0.25; the 9th would not


@settings(max_examples=15, deadline=None)
@given(
    rhos=st.lists(st.floats(1e-5, 0.2), min_size=1, max_size=12),
    sensitivity=st.sampled_from([0.5, 1.0, 3.0, 1e-3]),
)
def test_parity_property(rhos: list[float], sensitivity: float) -> None:
    acc, measurements = _session(rhos, sensitivity, dimension=1)
    composed = dp.c.make_composition(measurements)
    assert (
        acc.spent_zcdp_rho
        == composed.map(sensitivity)
        == compose_rho([m.map(sensitivity) for m in measurements])
    )
    assert acc.epsilon_spent() == dp.c.make_zCDP_to_approxDP(composed).map(sensitivity).epsilon(DELTA)


@settings(max_examples=200)
@given(st.lists(st.floats(1e-9, 1.0), min_size=1, max_size=40))
def test_fold_matches_opendp_adaptive_compositor(costs: list[float]) -> None:
    # make_adaptive_composition folds its declared d_mids from the last one; the odometer (and our
    # release-by-release accountant) folds in arrival order. Same additions, same rounding.
    adaptive = dp.c.make_adaptive_composition(
        *vector_space(), dp.zero_concentrated_divergence(), d_in=1.0, d_mids=list(reversed(costs))
    )
    assert compose_rho(costs) == adaptive.map(1.0)
    assert compose_rho(costs) >= sum(costs) * (1 - 1e-15)


def test_epsilon_conversion_is_opendps() -> None:
    # A Gaussian with scale 2 at sensitivity 1 costs exactly rho = 1/8.
    gaussian = dp.m.make_gaussian(*vector_space(), scale=2.0)
    assert gaussian.map(1.0) == 0.125
    reference = dp.c.make_zCDP_to_approxDP(gaussian).map(1.0).epsilon(1e-7)
    assert epsilon_for_rho(0.125, 1e-7) == reference
    assert epsilon_for_rho(0.0, 1e-7) == 0.0
    # Sanity against the closed-form Bun-Steinke bound, which the CKS20 conversion improves on.
    import math

    assert reference < 0.125 + 2 * math.sqrt(0.125 * math.log(1e7))


@pytest.mark.parametrize("sensitivity", [1e-9, 1.0, 1e6])
def test_calibration_never_exceeds_the_request(sensitivity: float) -> None:
    for rho in (1e-6, 0.01, 0.5, 3.0):
        meas, scale, charge = calibrate_gaussian(sensitivity, rho, 7)
        assert charge == meas.map(sensitivity) <= rho
        assert charge >= rho * (1 - 1e-6)  # and wastes essentially nothing
        assert scale > 0
