"""``PrivateRelease`` on its own: what is released, what is reused, and why the crossover stays exact."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from decimal import Decimal
from functools import partial

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import isotonic_regression

from agents.agent import EdgeAgent, InstrumentSpec, VenueConfig
from agents.privacy import PrivacyAccountant, PrivacyPolicy, compose_rho, epsilon_for_rho
from agents.private_release import (
    AgentPrivacy,
    PrivateRelease,
    SessionPrivacy,
    isotonic_fit,
    notional_resolution,
    rho_for_epsilon,
)
from energibridge.protocol.contribution import FloatArray
from tests.federation.fed_fixtures import QuadraticCurve
from tests.privacy_fed.pf_helpers import DELTA, fixed_clock


class LinearDemand:
    """Per asset ``x_a(p) = clip(k_a (p_a - c_a), lower_a, upper_a)``: a monotone best response."""

    def __init__(
        self, slopes: Sequence[float], centres: Sequence[float], boxes: Sequence[tuple[float, float]]
    ):
        self.k = np.asarray(slopes, dtype=np.float64)
        self.c = np.asarray(centres, dtype=np.float64)
        self.lower = np.array([b[0] for b in boxes])
        self.upper = np.array([b[1] for b in boxes])

    def __call__(self, prices: FloatArray) -> FloatArray:
        return np.clip(self.k * (prices - self.c), self.lower, self.upper)


def releaser(
    boxes: dict[str, tuple[float, float]],
    *,
    assets: Sequence[str] = ("A", "B", "C"),
    rho: float = 1.0,
    releases: int = 8,
    resolution: dict[str, float] | None = None,
    shares: int = 1,
    venue: str = "v",
) -> PrivateRelease:
    accountant = PrivacyAccountant(venue, PrivacyPolicy(1e6, 3600, delta=DELTA), clock=fixed_clock)
    session = SessionPrivacy(rho, releases, resolution or {}, shares)
    return PrivateRelease(venue, "s", assets, boxes, AgentPrivacy(accountant, session))


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_crossover_of_sent_values_sums_exactly_to_the_coordinators_mix(data: st.DataObject) -> None:
    """Whatever the noise, the quota and the probes: ``sum_i a_i(lo) + w (a_i(hi) - a_i(lo))`` equals the
    coordinator's ``E(lo) + w (E(hi) - E(lo))`` from the sums it saw, and stays in every box."""
    n_assets = data.draw(st.integers(1, 3))
    assets = ["A", "B", "C"][:n_assets]
    n_agents = data.draw(st.integers(2, 5))
    releases = data.draw(st.integers(1, 6))
    agents = []
    for v in range(n_agents):
        boxes = [(-data.draw(st.floats(0.1, 50)), data.draw(st.floats(0.1, 50))) for _ in assets]
        demand = LinearDemand(
            [data.draw(st.floats(0.01, 10)) for _ in assets],
            [data.draw(st.floats(90, 110)) for _ in assets],
            boxes,
        )
        rel = releaser(
            dict(zip(assets, boxes, strict=True)),
            assets=assets,
            rho=data.draw(st.sampled_from([0.01, 1.0, 100.0])),
            releases=releases,
            venue=f"v{v}",
        )
        agents.append((rel, demand, np.zeros(n_assets)))
    probes = data.draw(
        st.lists(st.lists(st.floats(80, 120), min_size=n_assets, max_size=n_assets), min_size=2, max_size=8)
    )
    sums = []
    for probe in probes:
        prices = np.array(probe)
        total = np.zeros(n_assets)
        for k, (rel, demand, last) in enumerate(agents):
            answer = rel.at_prices(prices, partial(demand, prices), last)
            assert np.all(answer >= rel.lower) and np.all(answer <= rel.upper)
            agents[k] = (rel, demand, answer)
            total += answer
        sums.append(total)
    lo_index = [data.draw(st.integers(0, len(probes) - 1)) for _ in assets]
    hi_index = [data.draw(st.integers(0, len(probes) - 1)) for _ in assets]
    weight = np.array([data.draw(st.floats(0, 1)) for _ in assets])
    low = np.array([probes[j][a] for a, j in enumerate(lo_index)])
    high = np.array([probes[j][a] for a, j in enumerate(hi_index)])
    e_low = np.array([sums[j][a] for a, j in enumerate(lo_index)])
    e_high = np.array([sums[j][a] for a, j in enumerate(hi_index)])
    records_before = [len(rel.records) for rel, _, _ in agents]
    mixed = np.zeros(n_assets)
    for rel, demand, last in agents:
        answer = rel.crossover(low, high, weight, demand, last)
        assert np.all(answer >= rel.lower) and np.all(answer <= rel.upper)
        mixed += answer
    expected = e_low + weight * (e_high - e_low)
    scale = 1.0 + np.max(np.abs(np.concatenate(sums)))
    assert np.all(np.abs(mixed - expected) <= 1e-12 * scale * n_agents)
    assert [len(rel.records) for rel, _, _ in agents] == records_before  # free: post-processing


def test_repeated_prices_reuse_and_the_quota_caps_fresh_releases() -> None:
    boxes = {"A": (-10.0, 10.0), "B": (-5.0, 5.0), "C": (-1.0, 1.0)}
    rel = releaser(boxes, rho=0.5, releases=3)
    demand = LinearDemand([1.0, 1.0, 0.1], [100.0, 100.0, 100.0], list(boxes.values()))
    last = np.zeros(3)
    first = rel.at_prices(
        np.array([100.0, 101.0, 99.0]), lambda: demand(np.array([100.0, 101.0, 99.0])), last
    )
    again = rel.at_prices(
        np.array([100.0, 101.0, 99.0]), lambda: pytest.fail("no release for known prices"), first
    )
    assert np.array_equal(first, again) and len(rel.records) == 1
    # Only the asset whose price moved is released: one coordinate, sensitivity still 1.
    rel.at_prices(np.array([100.0, 101.5, 99.0]), lambda: demand(np.array([100.0, 101.5, 99.0])), again)
    assert [r.dimension for r in rel.records] == [3, 1]
    assert all(r.l2_sensitivity == 1.0 for r in rel.records)
    for step in range(10):
        prices = np.array([100.0 + step, 101.0 - step, 99.0 + 0.5 * step])
        answer = rel.at_prices(prices, partial(demand, prices), last)
        assert np.all(answer >= rel.lower) and np.all(answer <= rel.upper)
    assert len(rel.records) == 3 == rel.fresh_releases
    spent = rel.accountant.spent_zcdp_rho
    assert spent == compose_rho([r.rho_charged for r in rel.records]) <= 0.5


def test_answers_after_the_quota_follow_a_non_decreasing_fit_of_the_releases() -> None:
    rel = releaser({"A": (-100.0, 100.0)}, assets=("A",), rho=0.02, releases=4, resolution={"A": 1.0})
    demand = LinearDemand([2.0], [100.0], [(-100.0, 100.0)])
    for p in (96.0, 104.0, 98.0, 102.0):
        rel.at_prices(np.array([p]), partial(demand, np.array([p])), np.zeros(1))
    grid = np.linspace(90.0, 110.0, 81)
    answers = [
        float(rel.at_prices(np.array([p]), lambda: pytest.fail("quota"), np.zeros(1))[0]) for p in grid[1::2]
    ]
    assert np.all(np.diff(answers) >= 0)
    assert len(rel.records) == 4


def test_admm_rounds_release_until_the_quota_and_never_after_a_price_phase() -> None:
    boxes = {"A": (-10.0, 10.0), "B": (-5.0, 5.0)}
    rel = releaser(boxes, assets=("A", "B"), releases=2)
    last = np.zeros(2)
    for _ in range(4):
        last = rel.admm(lambda: np.array([3.0, -2.0]), last)
    assert len(rel.records) == 2
    frozen = rel.admm(lambda: pytest.fail("no release after the quota"), last)
    assert np.array_equal(frozen, last)

    after_price = releaser(boxes, assets=("A", "B"), releases=5, venue="w")
    answer = after_price.at_prices(np.array([1.0, 2.0]), lambda: np.array([1.0, 1.0]), np.zeros(2))
    again = after_price.admm(lambda: pytest.fail("the crossover is kept"), answer)
    assert np.array_equal(again, answer) and len(after_price.records) == 1


def test_noise_is_the_records_scale_in_resolution_units() -> None:
    samples = 400
    resolution = {"A": 0.05, "B": 2.0}
    rel = releaser(
        {"A": (-1e6, 1e6), "B": (-1e6, 1e6)},
        assets=("A", "B"),
        rho=samples * 0.5,
        releases=samples,
        resolution=resolution,
    )
    truth = np.array([3.0, -7.0])
    errors = []
    last = np.zeros(2)
    for _ in range(samples):
        last = rel.admm(lambda: truth, last)
        errors.append((last - truth) / np.array([0.05, 2.0]))
    scale = rel.records[0].noise_scale
    assert scale == pytest.approx(1.0 / math.sqrt(2 * rel.rho_per_release), rel=1e-9)
    spread = np.std(np.array(errors), axis=0, ddof=1)
    assert np.all(np.abs(spread / scale - 1.0) < 0.2), spread / scale
    assert np.all(np.abs(np.mean(errors, axis=0)) < 4 * scale / math.sqrt(samples))


def test_distributed_shares_halve_the_noise_of_four() -> None:
    local = releaser({"A": (-1.0, 1.0)}, assets=("A",), releases=1)
    shared = releaser({"A": (-1.0, 1.0)}, assets=("A",), releases=1, shares=4, venue="w")
    for rel in (local, shared):
        rel.admm(lambda: np.array([0.5]), np.zeros(1))
    assert shared.records[0].l2_sensitivity == 0.5
    assert shared.records[0].noise_scale == pytest.approx(local.records[0].noise_scale / 2, rel=1e-9)
    assert shared.records[0].rho_charged == pytest.approx(local.records[0].rho_charged, rel=1e-9)


@settings(max_examples=300)
@given(st.lists(st.floats(-1e6, 1e6), min_size=0, max_size=30))
def test_isotonic_fit_is_the_least_squares_monotone_projection(values: list[float]) -> None:
    fitted = isotonic_fit(values)
    assert len(fitted) == len(values)
    assert all(a <= b for a, b in itertools.pairwise(fitted))
    if values:
        reference = isotonic_regression(np.array(values)).x
        assert np.allclose(fitted, reference, rtol=1e-9, atol=1e-6)
        assert math.isclose(sum(fitted), sum(values), rel_tol=1e-9, abs_tol=1e-6)


def test_rho_for_epsilon_is_opendps_tightest() -> None:
    for epsilon in (0.3, 1.0, 3.0, 10.0, 500.0):
        rho = rho_for_epsilon(epsilon, DELTA)
        assert epsilon_for_rho(rho, DELTA) <= epsilon < epsilon_for_rho(rho * (1 + 1e-9), DELTA)
    session = SessionPrivacy.for_epsilon(1.0, DELTA, max_releases=7)
    share = session.rho_per_release()
    assert (
        compose_rho([share] * 7)
        <= session.zcdp_rho
        < compose_rho([math.nextafter(share, 1.0)] * 7) * (1 + 1e-12)
    )


def test_notional_resolution() -> None:
    assert notional_resolution(1_000.0, {"BTC": 50_000.0, "SOL": 100.0}) == {"BTC": 0.02, "SOL": 10.0}


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (
            lambda: SessionPrivacy(float("nan")),
            "SessionPrivacy.zcdp_rho: expected a finite number > 0, got nan",
        ),
        (lambda: SessionPrivacy(-1.0), r"SessionPrivacy.zcdp_rho: expected in \(0, 1e6\], got -1.0"),
        (
            lambda: SessionPrivacy(1.0, 0),
            r"SessionPrivacy.max_releases: expected an integer in 1..10000, got 0",
        ),
        (lambda: SessionPrivacy(1.0, True), "SessionPrivacy.max_releases: expected an integer"),
        (
            lambda: SessionPrivacy(1.0, 3, {"BTC": 0.0}),
            r"SessionPrivacy.resolution\['BTC'\]: expected a finite number > 0, got 0.0",
        ),
        (
            lambda: SessionPrivacy(1.0, 3, {"BTC": math.inf}),
            r"resolution\['BTC'\]: expected a finite number > 0, got inf",
        ),
        (
            lambda: SessionPrivacy(1.0, 3, {}, 0),
            "SessionPrivacy.noise_shares: expected an integer in 1..10000, got 0",
        ),
        (lambda: rho_for_epsilon(math.inf, DELTA), "epsilon: expected a finite number > 0, got inf"),
        (lambda: rho_for_epsilon(1e4, DELTA), r"epsilon: expected in \(0, 500.0\], got 10000.0"),
        (lambda: rho_for_epsilon(1.0, 0.0), r"delta: expected in \(0, 0.5\], got 0.0"),
        (lambda: notional_resolution(-5.0, {"BTC": 1.0}), "notional: expected a finite number > 0, got -5.0"),
        (
            lambda: notional_resolution(5.0, {"BTC": math.nan}),
            r"mids\['BTC'\]: expected a finite price > 0, got nan",
        ),
        (
            lambda: releaser({"A": (-math.inf, 1.0)}),
            r"SessionPrivacy.resolution\['A'\] must be declared: the venue's box \[-inf, 1.0\] is unbounded",
        ),
        (lambda: releaser({"A": (1.0, 2.0)}), r"box of 'A' must contain 0, got \[1.0, 2.0\]"),
        (lambda: releaser({"Z": (-1.0, 1.0)}), r"boxes for assets \['Z'\] outside the session"),
    ],
)
def test_configuration_is_validated_with_the_field_named(build: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build()  # type: ignore[operator]


def test_a_session_may_not_outspend_its_window() -> None:
    accountant = PrivacyAccountant("v", PrivacyPolicy(0.5, 3600), clock=fixed_clock)
    with pytest.raises(
        ValueError,
        match=r"AgentPrivacy.session.zcdp_rho: a session may spend at most the window's budget "
        r"\(0.5\), got 0.75",
    ):
        AgentPrivacy(accountant, SessionPrivacy(0.75))
    config = VenueConfig("v", {"A": InstrumentSpec("A-USD", Decimal("0.01"), Decimal("0.01"))})
    with pytest.raises(ValueError, match="privacy: expected an AgentPrivacy or None, got dict"):
        EdgeAgent(config, {"A": QuadraticCurve(100.0, 1.0, -1.0, 1.0)}, privacy={})  # type: ignore[arg-type]
